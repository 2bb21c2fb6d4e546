//! One gateway WebSocket connection: HELLO, heartbeats, IDENTIFY/RESUME and commands.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::sleep_until;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::compress::{Compressor, Mode};
use super::identify;
use super::payloads;
use super::session::{Link, Outbound, ResumeError, Session};
use crate::counters::Counters;
use crate::state::Shared;

/// Largest client payload Discord accepts (close 4002 above).
const MAX_PAYLOAD: usize = 4096;

/// How a connection ends.
enum End {
    /// Send a close frame with this code.
    Close(u16, String),
    /// Just drop the TCP connection.
    Drop,
    /// The client closed or went away.
    ClientGone(Option<u16>),
}

struct Conn<S> {
    ws: WebSocketStream<S>,
    compressor: Compressor,
    shared: Arc<Shared>,
    id: u64,
    resume_url: String,
    tx: tokio::sync::mpsc::UnboundedSender<Outbound>,
    session: Option<Arc<Session>>,
    payloads: VecDeque<Instant>,
    deadline: tokio::time::Instant,
    /// Set by [`Outbound::Freeze`]: the connection is a zombie.
    frozen: bool,
}

/// Serves one upgraded gateway connection until it ends. `version_ok` is false when the URL
/// asked for an API version other than 10 (closed with 4012).
pub(crate) async fn serve<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    mode: Mode,
    resume_url: String,
    version_ok: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    shared.counters.connected(match mode {
        Mode::None => "none",
        Mode::Zlib => "zlib-stream",
        Mode::Zstd => "zstd-stream",
    });
    let (tx, rx) = unbounded_channel();
    let config = &shared.config;
    let deadline = tokio::time::Instant::now() + config.heartbeat_interval + config.heartbeat_grace;
    let mut conn = Conn {
        ws,
        compressor: Compressor::new(mode),
        id: shared.gateway.next_id(),
        shared: Arc::clone(&shared),
        resume_url,
        tx,
        session: None,
        payloads: VecDeque::new(),
        deadline,
        frozen: false,
    };
    let end = if version_ok {
        conn.run(rx).await
    } else {
        End::Close(4012, "Invalid API version".into())
    };
    conn.finish(end).await;
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn run(&mut self, mut rx: UnboundedReceiver<Outbound>) -> End {
        let hello = format!(
            r#"{{"op":10,"d":{{"heartbeat_interval":{}}},"s":null,"t":null}}"#,
            self.shared.config.heartbeat_interval.as_millis()
        );
        if self.send(hello.into()).await.is_err() {
            return End::ClientGone(None);
        }
        let shutdown = self.shared.shutdown.clone();
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return End::Drop,
                out = rx.recv() => {
                    let Some(out) = out else { return End::Drop };
                    if let Some(end) = self.outbound(out, &mut rx).await {
                        return end;
                    }
                }
                msg = self.ws.next() => {
                    let msg = match msg {
                        None | Some(Err(_)) => return End::ClientGone(None),
                        Some(Ok(m)) => m,
                    };
                    if let Some(end) = self.inbound(msg).await {
                        return end;
                    }
                }
                () = sleep_until(self.deadline), if !self.frozen => {
                    Counters::bump(&self.shared.counters.heartbeat_misses);
                    tracing::debug!(conn = self.id, "client missed its heartbeat, dropping");
                    return End::Drop;
                }
            }
        }
    }

    async fn send(&mut self, text: Utf8Bytes) -> Result<(), ()> {
        self.feed(text).await?;
        self.ws.flush().await.map_err(|_| ())
    }

    async fn feed(&mut self, text: Utf8Bytes) -> Result<(), ()> {
        let msg = match self.compressor.compress(text.as_bytes()) {
            Ok(None) => Message::Text(text),
            Ok(Some(bytes)) => Message::Binary(bytes.into()),
            Err(e) => {
                tracing::warn!(error = %e, "dropping connection");
                return Err(());
            }
        };
        self.ws.feed(msg).await.map_err(|_| ())
    }

    /// Sends queued payloads in batches, one flush per batch.
    async fn outbound(
        &mut self,
        first: Outbound,
        rx: &mut UnboundedReceiver<Outbound>,
    ) -> Option<End> {
        let mut next = Some(first);
        let mut batch = 0;
        while let Some(out) = next.take() {
            match out {
                // A frozen connection delivers nothing; the session keeps every dispatch for
                // RESUME, as Discord does.
                Outbound::Text(_) if self.frozen => {}
                Outbound::Freeze => self.frozen = true,
                Outbound::Text(text) => {
                    if self.feed(text).await.is_err() {
                        return Some(End::ClientGone(None));
                    }
                }
                Outbound::Close(code, reason) => return Some(End::Close(code, reason)),
                Outbound::Drop => return Some(End::Drop),
            }
            batch += 1;
            if batch < 256 {
                next = rx.try_recv().ok();
            }
        }
        if self.ws.flush().await.is_err() {
            return Some(End::ClientGone(None));
        }
        None
    }

    async fn inbound(&mut self, msg: Message) -> Option<End> {
        if self.frozen && !matches!(msg, Message::Close(_)) {
            return None;
        }
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                return Some(End::Close(4002, "Error while decoding payload.".into()));
            }
            Message::Close(frame) => {
                return Some(End::ClientGone(frame.map(|f| u16::from(f.code))));
            }
            _ => return None,
        };
        let config = &self.shared.config;
        let now = Instant::now();
        self.payloads.push_back(now);
        while self
            .payloads
            .front()
            .is_some_and(|t| now.duration_since(*t) >= config.payload_window)
        {
            self.payloads.pop_front();
        }
        if self.payloads.len() > config.payload_limit as usize {
            return Some(End::Close(4008, "Rate limited.".into()));
        }
        if text.len() > MAX_PAYLOAD {
            return Some(End::Close(4002, "Error while decoding payload.".into()));
        }
        let Ok(Value::Object(mut payload)) = serde_json::from_str::<Value>(text.as_str()) else {
            return Some(End::Close(4002, "Error while decoding payload.".into()));
        };
        let Some(op) = payload.get("op").and_then(Value::as_u64) else {
            return Some(End::Close(4002, "Error while decoding payload.".into()));
        };
        let d = payload.remove("d").unwrap_or(Value::Null);
        match op {
            1 => {
                self.deadline = tokio::time::Instant::now()
                    + config.heartbeat_interval
                    + config.heartbeat_grace;
                let ack = r#"{"op":11,"d":null,"s":null,"t":null}"#;
                if self.send(ack.into()).await.is_err() {
                    return Some(End::ClientGone(None));
                }
                None
            }
            2 => self.identify(&d).await,
            6 => self.resume(&d).await,
            3 | 4 | 8 if self.session.is_none() => {
                Some(End::Close(4003, "Not authenticated.".into()))
            }
            3 => presence_ok(&d).then_some(()).map_or_else(
                || Some(End::Close(4001, "Invalid payload for opcode 3.".into())),
                |()| None,
            ),
            4 => None,
            8 => self.request_members(&d),
            _ if self.session.is_none() => Some(End::Close(4003, "Not authenticated.".into())),
            _ => Some(End::Close(4001, "Unknown opcode.".into())),
        }
    }

    fn link(&self) -> Link {
        Link {
            conn_id: self.id,
            tx: self.tx.clone(),
        }
    }

    async fn identify(&mut self, d: &Value) -> Option<End> {
        match self.try_identify(d) {
            Ok(()) => None,
            Err(Some(end)) => Some(end),
            Err(None) => {
                let op9 = r#"{"op":9,"d":false,"s":null,"t":null}"#;
                self.send(op9.into())
                    .await
                    .err()
                    .map(|()| End::ClientGone(None))
            }
        }
    }

    /// Runs IDENTIFY; `Err(None)` means "answer with op 9".
    fn try_identify(&mut self, d: &Value) -> Result<(), Option<End>> {
        if self.session.is_some() {
            return Err(Some(End::Close(4005, "Already authenticated.".into())));
        }
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let world = shared.world_read();
        let checked = identify::validate(d, config, |s, n| world.guilds_of_shard(s, n).len());
        let ident = match checked {
            Ok(i) => i,
            Err(r) => return Err(Some(End::Close(r.code, r.reason.into()))),
        };
        if !shared.gateway.take_bucket(config, ident.shard[0]) {
            Counters::bump(&shared.counters.identify_violations);
            tracing::info!(shard = ident.shard[0], "IDENTIFY broke max_concurrency");
            return Err(None);
        }
        if !shared.gateway.spend_start(config) {
            return Err(Some(End::Close(
                4004,
                "Session start limit exhausted.".into(),
            )));
        }
        let session_id = format!(
            "{:016x}{:016x}",
            shared.config.seed,
            shared.gateway.next_id()
        )
        .chars()
        .rev()
        .collect::<String>();
        let session = Arc::new(Session::new(
            session_id.clone(),
            ident.shard,
            ident.intents,
            config.replay_buffer,
            self.link(),
        ));
        let guild_ids = world.guilds_of_shard(ident.shard[0], ident.shard[1]);
        let ready = payloads::ready(
            &world,
            &guild_ids,
            &session_id,
            &self.resume_url,
            ident.shard,
        );
        let seq = session.dispatch("READY", &ready.to_string());
        shared.counters.dispatched(ident.shard[0], seq);
        if ident.intents & crate::intents::GUILDS != 0 {
            for guild in guild_ids.iter().filter_map(|id| world.guilds.get(id)) {
                let gc =
                    payloads::guild_create(&world, guild, ident.intents, ident.large_threshold);
                let seq = session.dispatch("GUILD_CREATE", &gc.to_string());
                shared.counters.dispatched(ident.shard[0], seq);
            }
        }
        drop(world);
        shared.gateway.insert(Arc::clone(&session));
        self.session = Some(session);
        Counters::bump(&shared.counters.identifies);
        Ok(())
    }

    async fn resume(&mut self, d: &Value) -> Option<End> {
        if self.session.is_some() {
            return Some(End::Close(4005, "Already authenticated.".into()));
        }
        let (Some(token), Some(session_id)) = (
            d.get("token").and_then(Value::as_str),
            d.get("session_id").and_then(Value::as_str),
        ) else {
            return Some(End::Close(4001, "Invalid payload for opcode 6.".into()));
        };
        let token = token.strip_prefix("Bot ").unwrap_or(token);
        if token != self.shared.config.token {
            return Some(End::Close(4004, "Authentication failed.".into()));
        }
        let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let gateway = &self.shared.gateway;
        gateway.expire(self.shared.config.resume_timeout);
        let invalid = r#"{"op":9,"d":false,"s":null,"t":null}"#;
        let Some(session) = gateway.get(session_id) else {
            return self
                .send(invalid.into())
                .await
                .err()
                .map(|()| End::ClientGone(None));
        };
        match session.resume(seq, self.link()) {
            Ok(replayed) => {
                tracing::debug!(session = session_id, replayed, "resumed");
                Counters::bump(&self.shared.counters.resumes);
                self.shared
                    .counters
                    .dispatched(session.shard[0], session.lock().seq);
                self.session = Some(session);
                None
            }
            Err(ResumeError::InvalidSeq) => {
                gateway.remove(session_id);
                Some(End::Close(4007, "Invalid seq.".into()))
            }
            Err(ResumeError::TooOld) => {
                gateway.remove(session_id);
                self.send(invalid.into())
                    .await
                    .err()
                    .map(|()| End::ClientGone(None))
            }
        }
    }

    fn request_members(&mut self, d: &Value) -> Option<End> {
        let Some(req) = payloads::parse_member_request(d) else {
            return Some(End::Close(4001, "Invalid payload for opcode 8.".into()));
        };
        let session = self.session.as_ref()?;
        let world = self.shared.world_read();
        let guild = world
            .guilds
            .get(&req.guild_id)
            .filter(|g| crate::world::shard_of(g.id, session.shard[1]) == session.shard[0]);
        let Some(guild) = guild else {
            tracing::debug!(
                guild = req.guild_id,
                "member request for a guild not on this shard"
            );
            return None;
        };
        match payloads::member_chunks(&world, guild, &req, session.intents) {
            Some(chunks) => {
                for chunk in chunks {
                    let seq = session.dispatch("GUILD_MEMBERS_CHUNK", &chunk.to_string());
                    self.shared.counters.dispatched(session.shard[0], seq);
                }
            }
            None => tracing::info!("member list request without GUILD_MEMBERS intent ignored"),
        }
        None
    }

    async fn finish(mut self, end: End) {
        if let Some(session) = &self.session {
            session.detach(self.id);
        }
        match end {
            End::Close(code, reason) => {
                self.shared.counters.close_sent(code);
                if let Some(session) = &self.session
                    && super::ends_session(code)
                {
                    self.shared.gateway.remove(&session.id);
                }
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                };
                let _ = self.ws.send(Message::Close(Some(frame))).await;
                // Give the client a moment to read the frame before the socket goes.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
                    while let Some(Ok(_)) = self.ws.next().await {}
                })
                .await;
            }
            End::ClientGone(Some(1000 | 1001)) => {
                if let Some(session) = &self.session {
                    self.shared.gateway.remove(&session.id);
                }
            }
            End::ClientGone(_) | End::Drop => {}
        }
    }
}

/// Whether an op 3 `d` is a valid presence update.
fn presence_ok(d: &Value) -> bool {
    let status_ok = d
        .get("status")
        .and_then(Value::as_str)
        .is_some_and(|s| matches!(s, "online" | "dnd" | "idle" | "invisible" | "offline"));
    status_ok
        && d.get("activities").is_some_and(Value::is_array)
        && d.get("afk").is_some_and(Value::is_boolean)
}
