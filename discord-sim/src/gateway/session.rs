//! Gateway sessions: sequence numbers, the replay buffer and the attached connection.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// What a connection task is asked to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send this serialised payload.
    Text(Utf8Bytes),
    /// Send a close frame with this code and reason, then close the TCP connection.
    Close(u16, String),
    /// Close the TCP connection without a close frame.
    Drop,
    /// Go silent, as a zombied Discord connection does: send nothing more, ACK no heartbeat,
    /// answer nothing, but keep the TCP connection and the session (so it can be resumed).
    Freeze,
}

/// The connection currently carrying a session.
#[derive(Debug)]
pub(crate) struct Link {
    /// Connection id, unique per simulator.
    pub(crate) conn_id: u64,
    /// Channel to the connection task.
    pub(crate) tx: UnboundedSender<Outbound>,
}

/// Mutable part of a session.
#[derive(Debug)]
pub(crate) struct Inner {
    /// Last sequence number handed out.
    pub(crate) seq: u64,
    /// Recent dispatches `(seq, payload)` for RESUME.
    pub(crate) buffer: VecDeque<(u64, Utf8Bytes)>,
    /// Attached connection, if any.
    pub(crate) link: Option<Link>,
    /// When the last connection went away.
    pub(crate) detached_at: Option<Instant>,
}

/// One gateway session (created by IDENTIFY, continued by RESUME).
#[derive(Debug)]
pub(crate) struct Session {
    /// `session_id` sent in READY.
    pub(crate) id: String,
    /// `[shard_id, num_shards]` from IDENTIFY.
    pub(crate) shard: [u32; 2],
    /// Intents from IDENTIFY.
    pub(crate) intents: u64,
    inner: Mutex<Inner>,
    capacity: usize,
}

/// Why a RESUME failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResumeError {
    /// The client claims a sequence number the session never sent (close 4007).
    InvalidSeq,
    /// Events after the client's sequence are no longer buffered (op 9, `d: false`).
    TooOld,
}

impl Session {
    pub(crate) fn new(
        id: String,
        shard: [u32; 2],
        intents: u64,
        capacity: usize,
        link: Link,
    ) -> Self {
        Self {
            id,
            shard,
            intents,
            inner: Mutex::new(Inner {
                seq: 0,
                buffer: VecDeque::new(),
                link: Some(link),
                detached_at: None,
            }),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sequences a dispatch, buffers it and sends it to the attached connection.
    /// `data` is the already serialised `d`. Returns the sequence number.
    pub(crate) fn dispatch(&self, event: &str, data: &str) -> u64 {
        let mut inner = self.lock();
        inner.seq += 1;
        let seq = inner.seq;
        let frame: Utf8Bytes =
            format!("{{\"op\":0,\"s\":{seq},\"t\":\"{event}\",\"d\":{data}}}").into();
        if inner.buffer.len() >= self.capacity {
            inner.buffer.pop_front();
        }
        inner.buffer.push_back((seq, frame.clone()));
        if let Some(link) = &inner.link {
            // A closed channel means the connection is going away; the event stays buffered.
            let _ = link.tx.send(Outbound::Text(frame));
        }
        seq
    }

    /// Sends an unsequenced payload (op 7, op 9, op 1) to the attached connection.
    pub(crate) fn send_raw(&self, payload: Outbound) -> bool {
        self.lock()
            .link
            .as_ref()
            .is_some_and(|link| link.tx.send(payload).is_ok())
    }

    /// Detaches connection `conn_id` if it is still the attached one.
    pub(crate) fn detach(&self, conn_id: u64) {
        let mut inner = self.lock();
        if inner.link.as_ref().is_some_and(|l| l.conn_id == conn_id) {
            inner.link = None;
            inner.detached_at = Some(Instant::now());
        }
    }

    /// Attaches `link`, replays everything after `seq` and then dispatches RESUMED.
    pub(crate) fn resume(&self, seq: u64, link: Link) -> Result<usize, ResumeError> {
        let mut inner = self.lock();
        if seq > inner.seq {
            return Err(ResumeError::InvalidSeq);
        }
        let first = inner.buffer.front().map_or(inner.seq + 1, |(s, _)| *s);
        if seq + 1 < first {
            return Err(ResumeError::TooOld);
        }
        if let Some(old) = inner.link.take() {
            let _ = old.tx.send(Outbound::Drop);
        }
        let mut replayed = 0;
        for (_, frame) in inner.buffer.iter().filter(|(s, _)| *s > seq) {
            let _ = link.tx.send(Outbound::Text(frame.clone()));
            replayed += 1;
        }
        inner.link = Some(link);
        inner.detached_at = None;
        drop(inner);
        self.dispatch("RESUMED", "{\"_trace\":[\"[\\\"discord-sim\\\"]\"]}");
        Ok(replayed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(id: u64) -> (Link, tokio::sync::mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Link { conn_id: id, tx }, rx)
    }

    fn seqs(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Outbound>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(Outbound::Text(t)) = rx.try_recv() {
            out.push(t.to_string());
        }
        out
    }

    #[test]
    fn resume_replays_missed_events_then_resumed() {
        let (l1, mut rx1) = link(1);
        let s = Session::new("abc".into(), [0, 1], 0, 3, l1);
        s.dispatch("A", "1");
        s.detach(1);
        s.dispatch("B", "2");
        s.dispatch("C", "3");
        assert_eq!(seqs(&mut rx1).len(), 1);
        let (l2, mut rx2) = link(2);
        assert_eq!(s.resume(1, l2), Ok(2));
        let got = seqs(&mut rx2);
        assert_eq!(got.len(), 3);
        assert!(got[0].contains("\"s\":2,\"t\":\"B\""));
        assert!(got[2].contains("\"s\":4,\"t\":\"RESUMED\""));
        let (l3, _rx3) = link(3);
        assert_eq!(s.resume(9, l3), Err(ResumeError::InvalidSeq));
        let (l4, _rx4) = link(4);
        assert_eq!(
            s.resume(0, l4),
            Err(ResumeError::TooOld),
            "seq 1 fell out of the buffer"
        );
    }
}
