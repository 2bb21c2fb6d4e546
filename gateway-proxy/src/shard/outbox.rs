//! A shard's dispatches from the moment they are read to JetStream's ack, in reading order.
//!
//! JetStream stores what one connection carries in the order it was written, so the outbox
//! hands dispatches to the NATS client one after the other, in reading order, from one place
//! (never from concurrently polled futures, whose first polls a runtime may reorder), and only
//! waits for the acks concurrently. Order is then at risk only when something is refused or
//! lost, since whatever went out after it may be stored first:
//! - a broken connection loses what it had not delivered; the next connection (see
//!   [`crate::link`]) gets everything unconfirmed again;
//! - JetStream may refuse a publish (no responders while it starts or recovers, a timeout) and
//!   accept the next one a moment later.
//!
//! So after any failure, and on every new connection, the outbox *holds*: it waits until no
//! answer is outstanding on the connection, sends only the oldest unconfirmed dispatch (the
//! probe), alone, again with backoff until it is confirmed, and then streams everything
//! unconfirmed, in order. JetStream's duplicate window drops the copies of what had been stored.
//! A dispatch NATS can never take (larger than the server's `max_payload`) is dropped with an
//! error and counted, rather than holding the shard for ever.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishAckFuture};
use futures_util::future::{BoxFuture, poll_fn};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::time::Sleep;

use super::publish::{EnqueueError, Outgoing};
use crate::link::LinkState;
use crate::metrics::Metrics;

/// The newest dispatch JetStream confirmed together with every dispatch before it.
#[derive(Debug)]
pub(crate) struct Confirmed {
    pub(crate) session_id: Arc<str>,
    pub(crate) seq: u64,
}

/// A shard's unconfirmed dispatches.
pub(crate) struct Outbox {
    shard: u32,
    entries: VecDeque<Entry>,
    /// The index of `entries[0]`; each dispatch gets the next one.
    first: u64,
    /// Entries to hand to the client, in this order, on generation `.1`.
    to_send: VecDeque<(u64, u64)>,
    /// The hand-over in progress (one at a time keeps the order).
    handing: Option<Handing>,
    acks: FuturesUnordered<BoxFuture<'static, Answer>>,
    /// The connection now (read with `borrow`).
    link: watch::Receiver<LinkState>,
    /// Resolves when the connection changes; `None` once the supervisor is gone (shutdown),
    /// when the last state stays.
    link_change: Option<LinkChange>,
    mode: Mode,
    /// When the next probe goes (holding after a failure).
    retry: Option<Pin<Box<Sleep>>>,
    failures: u32,
    /// Moved by something other than an ack (a dropped dispatch); returned by the next step.
    popped: Option<Confirmed>,
    metrics: Metrics,
}

type LinkChange = BoxFuture<
    'static,
    (
        watch::Receiver<LinkState>,
        Result<(), watch::error::RecvError>,
    ),
>;

/// A future that resolves (with the receiver back) when the connection state changes.
fn link_change(mut link: watch::Receiver<LinkState>) -> LinkChange {
    Box::pin(async move {
        let changed = link.changed().await;
        (link, changed)
    })
}

struct Handing {
    index: u64,
    generation: u64,
    future: BoxFuture<'static, Result<PublishAckFuture, EnqueueError>>,
}

/// What the outbox sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Every dispatch as soon as it is read, on this connection generation only: a dispatch read
    /// after the connection changed waits until the outbox has seen the change and probed.
    Streaming(u64),
    /// Nothing until the next probe (after a failure, or while no connection is up).
    Holding,
    /// Only this entry (by index) is out; the rest wait for its ack.
    Probing(u64),
}

/// Where one dispatch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// To be sent (never sent, or taken back from the send queue).
    Waiting,
    /// In the send queue for this generation.
    Queued(u64),
    /// Handed to this generation's client; its ack is awaited.
    Sent(u64),
    /// Refused or unanswered on this generation.
    Failed(u64),
    Confirmed,
}

struct Entry {
    outgoing: Arc<Outgoing>,
    state: State,
    /// Whether it was handed to a client before (a retry, for the metric).
    sent_before: bool,
}

impl Entry {
    /// Whether it still has to go on connection `generation`.
    fn due(&self, generation: u64) -> bool {
        match self.state {
            State::Waiting | State::Failed(_) => true,
            State::Queued(g) | State::Sent(g) => g != generation,
            State::Confirmed => false,
        }
    }
}

struct Answer {
    index: u64,
    generation: u64,
    result: Result<(), String>,
}

impl Outbox {
    pub(crate) fn new(shard: u32, link: watch::Receiver<LinkState>, metrics: Metrics) -> Self {
        Self {
            shard,
            entries: VecDeque::new(),
            first: 0,
            to_send: VecDeque::new(),
            handing: None,
            acks: FuturesUnordered::new(),
            link_change: Some(link_change(link.clone())),
            link,
            mode: Mode::Holding,
            retry: Some(Box::pin(tokio::time::sleep(Duration::ZERO))),
            failures: 0,
            popped: None,
            metrics,
        }
    }

    /// Dispatches not yet confirmed in order (the publish window counts these).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes a dispatch; it is sent as soon as the ones before it are, if streaming.
    pub(crate) fn push(&mut self, outgoing: Outgoing) {
        let index = self.first + self.entries.len() as u64;
        self.entries.push_back(Entry {
            outgoing: Arc::new(outgoing),
            state: State::Waiting,
            sent_before: false,
        });
        if let Some(generation) = self.generation()
            && self.mode == Mode::Streaming(generation)
        {
            self.queue(index, generation);
        }
    }

    /// Waits for the next ack, connection change, hand-over or retry and handles it; returns
    /// the newest dispatch that became confirmed in order, if that moved. Cancel-safe: what it
    /// waits on is kept in `self` between calls.
    pub(crate) async fn step(&mut self) -> Option<Confirmed> {
        poll_fn(|cx| self.poll_step(cx)).await
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Confirmed>> {
        if let Some(confirmed) = self.popped.take() {
            return Poll::Ready(Some(confirmed));
        }
        // A new connection first: answers of the old one are then seen as stale.
        if let Some(change) = self.link_change.as_mut()
            && let Poll::Ready((link, changed)) = change.poll_unpin(cx)
        {
            self.link_change = changed.is_ok().then(|| link_change(link));
            if changed.is_ok() {
                self.on_new_link();
            }
            return Poll::Ready(None);
        }
        // Ready here only means nothing is left to hand over.
        let _ = self.poll_hand_over(cx);
        if !self.acks.is_empty()
            && let Poll::Ready(Some(answer)) = self.acks.poll_next_unpin(cx)
        {
            return Poll::Ready(self.on_answer(answer));
        }
        if let Some(retry) = self.retry.as_mut()
            && retry.as_mut().poll(cx).is_ready()
        {
            self.retry = None;
            self.probe();
            return Poll::Ready(None);
        }
        Poll::Pending
    }

    fn current(&self) -> Option<(u64, Arc<jetstream::Context>)> {
        match &*self.link.borrow() {
            LinkState::Up { generation, js } => Some((*generation, Arc::clone(js))),
            LinkState::Down => None,
        }
    }

    fn generation(&self) -> Option<u64> {
        match &*self.link.borrow() {
            LinkState::Up { generation, .. } => Some(*generation),
            LinkState::Down => None,
        }
    }

    fn entry_mut(&mut self, index: u64) -> Option<&mut Entry> {
        let offset = usize::try_from(index.checked_sub(self.first)?).ok()?;
        self.entries.get_mut(offset)
    }

    fn queue(&mut self, index: u64, generation: u64) {
        if let Some(entry) = self.entry_mut(index) {
            entry.state = State::Queued(generation);
            self.to_send.push_back((index, generation));
        }
    }

    /// Takes everything back from the send queue, and the hand-over in progress (holding):
    /// it is all due again.
    fn unqueue(&mut self) {
        let handing = self.handing.take().map(|h| (h.index, h.generation));
        let queued: Vec<(u64, u64)> = handing.into_iter().chain(self.to_send.drain(..)).collect();
        for (index, generation) in queued {
            if let Some(entry) = self.entry_mut(index)
                && entry.state == State::Queued(generation)
            {
                entry.state = State::Waiting;
            }
        }
    }

    /// Hands queued dispatches to the client one after the other until one has to wait or
    /// none is left. Each becomes an ack to wait for.
    fn poll_hand_over(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.handing.is_none() {
                let Some((index, generation)) = self.to_send.pop_front() else {
                    return Poll::Ready(());
                };
                let js = match self.current() {
                    Some((current, js)) if current == generation => js,
                    // The connection changed meanwhile: the next probe takes it.
                    _ => continue,
                };
                let Some(entry) = self.entry_mut(index) else {
                    continue;
                };
                if entry.state != State::Queued(generation) {
                    continue;
                }
                let outgoing = Arc::clone(&entry.outgoing);
                self.handing = Some(Handing {
                    index,
                    generation,
                    future: Box::pin(async move { outgoing.enqueue(&js).await }),
                });
            }
            let Some(handing) = self.handing.as_mut() else {
                continue;
            };
            let Poll::Ready(result) = handing.future.poll_unpin(cx) else {
                return Poll::Pending;
            };
            let (index, generation) = (handing.index, handing.generation);
            self.handing = None;
            let Some(entry) = self.entry_mut(index) else {
                continue;
            };
            let again = std::mem::replace(&mut entry.sent_before, true);
            entry.state = State::Sent(generation);
            if again {
                self.metrics.publish_retries.inc();
            }
            match result {
                Ok(ack) => {
                    self.acks.push(Box::pin(async move {
                        let result = ack.await.map(|_| ()).map_err(|err| err.to_string());
                        Answer {
                            index,
                            generation,
                            result,
                        }
                    }));
                }
                Err(EnqueueError::TooLarge(error)) => self.drop_too_large(index, &error),
                Err(EnqueueError::Other(error)) => {
                    // Handled as a refused publish (the client is closing, or was full for 5 s).
                    let _ = self.on_answer(Answer {
                        index,
                        generation,
                        result: Err(error),
                    });
                }
            }
        }
    }

    /// A dispatch no NATS server configured like this one can take: dropped, loudly, so that
    /// the shard goes on. (Raise the server's `max_payload` to keep such events.)
    fn drop_too_large(&mut self, index: u64, error: &str) {
        let shard = self.shard;
        let Some(entry) = self.entry_mut(index) else {
            return;
        };
        entry.state = State::Confirmed;
        tracing::error!(
            shard,
            seq = entry.outgoing.seq,
            event = %entry.outgoing.event(),
            error,
            "dispatch larger than NATS accepts; dropped (raise the NATS server's max_payload)"
        );
        self.metrics.events_too_large.inc();
        if self.mode == Mode::Probing(index) {
            self.stream();
        }
        if let Some(confirmed) = self.pop_confirmed() {
            self.popped = Some(confirmed);
        }
    }

    fn on_answer(&mut self, answer: Answer) -> Option<Confirmed> {
        let current = self.generation();
        let entry = self.entry_mut(answer.index)?;
        if entry.state != State::Sent(answer.generation) {
            // An answer for an older copy: the newer one decides.
            return None;
        }
        match answer.result {
            Ok(()) => {
                entry.state = State::Confirmed;
                let read_at = entry.outgoing.read_at;
                self.metrics
                    .publish_latency
                    .observe(read_at.elapsed().as_secs_f64());
                if self.mode == Mode::Probing(answer.index) {
                    self.stream();
                } else if self.mode == Mode::Holding && self.retry.is_none() {
                    // Holding until the last answer on this connection is in.
                    self.probe();
                }
                self.pop_confirmed()
            }
            Err(error) => {
                entry.state = State::Failed(answer.generation);
                if current != Some(answer.generation) {
                    // Sent on a connection that is gone: the next one gets it again.
                    return None;
                }
                let seq = entry.outgoing.seq;
                // The first failure while streaming, or the probe's own: hold, probe later.
                if self.mode == Mode::Streaming(answer.generation)
                    || self.mode == Mode::Probing(answer.index)
                {
                    self.failures = self.failures.saturating_add(1);
                    if self.failures == 1 || self.failures.is_multiple_of(20) {
                        tracing::warn!(
                            shard = self.shard,
                            seq,
                            failures = self.failures,
                            error,
                            "JetStream publish failed; holding the shard's dispatches and retrying the oldest"
                        );
                    }
                    self.mode = Mode::Holding;
                    self.unqueue();
                    let backoff = Duration::from_millis(50 * 2_u64.pow(self.failures.min(6)));
                    self.retry = Some(Box::pin(tokio::time::sleep(
                        backoff.mul_f64(0.5 + fastrand::f64() / 2.0),
                    )));
                } else if self.mode == Mode::Holding && self.retry.is_none() {
                    self.probe();
                }
                None
            }
        }
    }

    /// Drops the confirmed prefix; returns its newest dispatch.
    fn pop_confirmed(&mut self) -> Option<Confirmed> {
        let mut newest = None;
        while self
            .entries
            .front()
            .is_some_and(|e| e.state == State::Confirmed)
        {
            if let Some(entry) = self.entries.pop_front() {
                self.first += 1;
                newest = Some(Confirmed {
                    session_id: Arc::clone(&entry.outgoing.session_id),
                    seq: entry.outgoing.seq,
                });
            }
        }
        newest
    }

    /// A new connection (or none): hold, and probe on it at once.
    fn on_new_link(&mut self) {
        self.mode = Mode::Holding;
        self.unqueue();
        self.probe();
    }

    /// Sends the oldest unconfirmed dispatch, alone, once no answer is outstanding on the
    /// connection (so nothing sent before the probe can be refused after it); streams again when
    /// nothing is unconfirmed.
    fn probe(&mut self) {
        self.retry = None;
        self.unqueue();
        let Some(generation) = self.generation() else {
            self.mode = Mode::Holding;
            return;
        };
        self.mode = Mode::Holding;
        if self
            .entries
            .iter()
            .any(|e| e.state == State::Sent(generation))
        {
            // Probed again by the last of those answers.
            return;
        }
        let oldest = self
            .entries
            .iter()
            .zip(self.first..)
            .find(|(e, _)| e.due(generation))
            .map(|(_, index)| index);
        match oldest {
            Some(index) => {
                self.mode = Mode::Probing(index);
                self.queue(index, generation);
            }
            None => self.mode = Mode::Streaming(generation),
        }
    }

    /// The probe came through: everything due goes, in order, and new dispatches as they come.
    fn stream(&mut self) {
        let Some(generation) = self.generation() else {
            self.mode = Mode::Holding;
            return;
        };
        self.mode = Mode::Streaming(generation);
        self.failures = 0;
        let due: Vec<u64> = self
            .entries
            .iter()
            .zip(self.first..)
            .filter(|(e, _)| e.due(generation))
            .map(|(_, index)| index)
            .collect();
        for index in due {
            self.queue(index, generation);
        }
    }
}
