//! One WebSocket connection of a shard: HELLO, IDENTIFY or RESUME, then the read loop.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::OptionFuture;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use twilight_model::gateway::payload::outgoing::identify::{IdentifyInfo, IdentifyProperties};
use twilight_model::gateway::payload::outgoing::{Heartbeat, Identify, Resume};
use twilight_model::gateway::{Capabilities, Intents, ShardId};

use super::limiter::SendLimiter;
use super::{Exit, Session, Shard};
use crate::frame::Frame;
use crate::inflate::Inflater;
use crate::metrics::ShardLabels;
use crate::status::ShardState;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Sink = futures_util::stream::SplitSink<Socket, Message>;

/// Close code used when gateway-proxy closes on purpose: anything but 1000/1001 keeps the session
/// resumable on Discord's side.
const RESUMABLE_CLOSE: u16 = 4000;
/// Discord's limit on a client payload.
const MAX_CLIENT_PAYLOAD: usize = 4096;

#[derive(Deserialize)]
struct Hello {
    heartbeat_interval: u64,
}

#[derive(Deserialize)]
struct ReadyFields {
    session_id: String,
    resume_gateway_url: String,
}

/// The per-connection heartbeat state.
struct HeartbeatState {
    interval: Duration,
    next: Instant,
    sent_at: Option<Instant>,
}

impl Shard {
    pub(super) async fn connect_and_run(&mut self) -> Exit {
        let base = self
            .session
            .as_ref()
            .map_or(self.shared.gateway_url.clone(), |s| s.resume_url.clone());
        let mut url = format!("{}/?v=10&encoding=json", base.trim_end_matches('/'));
        if let Some(compress) = self.shared.config.compression.query_value() {
            url.push_str("&compress=");
            url.push_str(compress);
        }
        // Small socket buffers: a shard is idle most of the time, and tungstenite's 128 KiB
        // defaults would dominate its memory. Payloads are flushed one by one anyway.
        let socket_config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0);
        let connect =
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(socket_config), true);
        let shutdown = self.shared.shutdown.clone();
        let connected = self
            .while_publishing(async move {
                tokio::select! {
                    () = shutdown.cancelled() => None,
                    connected = tokio::time::timeout(Duration::from_secs(30), connect) => Some(connected),
                }
            })
            .await;
        let socket = match connected {
            None => return Exit::Shutdown,
            Some(Ok(Ok((socket, _)))) => socket,
            Some(Ok(Err(err))) => {
                tracing::warn!(shard = self.id, %url, error = %err, "cannot connect");
                return reconnect("connect_failed", true);
            }
            Some(Err(_)) => return reconnect("connect_timeout", true),
        };
        let (mut sink, mut stream) = socket.split();
        let mut inflater = Inflater::new(self.shared.config.compression);

        // HELLO comes first.
        let read_hello = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(message) = stream.next().await {
                let data = match message {
                    Ok(Message::Text(text)) => text.as_bytes().to_vec(),
                    Ok(Message::Binary(bytes)) => bytes.to_vec(),
                    Ok(Message::Close(frame)) => return Err(close_exit(frame.as_ref())),
                    Ok(_) => continue,
                    Err(_) => return Err(reconnect("read_error", true)),
                };
                let Ok(Some(text)) = inflater.inflate(&data) else {
                    return Err(reconnect("inflate_error", true));
                };
                let Ok(frame) = Frame::parse(text) else {
                    return Err(reconnect("decode_error", true));
                };
                if frame.op == 10 {
                    let hello = frame
                        .d
                        .and_then(|d| serde_json::from_str::<Hello>(d.get()).ok());
                    return hello.ok_or_else(|| reconnect("bad_hello", true));
                }
            }
            Err(reconnect("connection_closed", true))
        });
        let hello = match self.while_publishing(read_hello).await {
            Ok(Ok(hello)) => hello,
            Ok(Err(exit)) => return exit,
            Err(_) => return reconnect("hello_timeout", true),
        };

        let interval = Duration::from_millis(hello.heartbeat_interval.max(1));
        let mut heartbeat = HeartbeatState {
            interval,
            next: Instant::now() + interval.mul_f64(fastrand::f64()),
            sent_at: None,
        };
        let mut limiter = SendLimiter::discord();
        let mut identify_permit = None;
        if let Some(session) = &self.session {
            let resume = Resume::new(
                session.seq,
                session.id.to_string(),
                self.shared.config.token.clone(),
            );
            if let Err(exit) = send_json(&mut sink, &mut limiter, &resume).await {
                return exit;
            }
            self.shared.board.set_state(self.id, ShardState::Resuming);
        } else {
            identify_permit = Some(self.shared.queue.enqueue(self.id));
            self.shared.metrics.identify_waiting.inc();
            self.shared
                .board
                .set_state(self.id, ShardState::WaitingToIdentify);
        }

        let mut save_tick = tokio::time::interval(self.shared.config.session_save_interval);
        let window = self.shared.config.publish_window;
        let mut backpressured = false;
        // One timer for the connection, moved when the next heartbeat moves: a fresh
        // `sleep_until` per loop turn would insert and cancel a timer for every dispatch.
        let heartbeat_timer = tokio::time::sleep_until(heartbeat.next);
        tokio::pin!(heartbeat_timer);
        let exit = loop {
            if heartbeat_timer.deadline() != heartbeat.next {
                heartbeat_timer.as_mut().reset(heartbeat.next);
            }
            let reading = self.outbox.len() < window;
            if reading == backpressured {
                backpressured = !reading;
                self.set_backpressured(backpressured);
            }
            let command_room = limiter.command_allowed(Instant::now());
            let next_command_slot = limiter.next_free(Instant::now());
            tokio::select! {
                biased;
                () = self.shared.shutdown.cancelled() => {
                    let close = CloseFrame { code: WsCloseCode::from(RESUMABLE_CLOSE), reason: "shutting down".into() };
                    let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(Message::Close(Some(close)))).await;
                    break Exit::Shutdown;
                }
                confirmed = self.outbox.step() => if let Some(confirmed) = confirmed {
                    self.on_confirmed(confirmed);
                },
                () = &mut heartbeat_timer => {
                    if heartbeat.sent_at.is_some() && reading {
                        tracing::warn!(shard = self.id, "no heartbeat ACK since the last heartbeat: zombied connection");
                        break reconnect("zombie", true);
                    }
                    if let Err(exit) = self.send_heartbeat(&mut sink, &mut limiter, &mut heartbeat).await {
                        break exit;
                    }
                }
                Some(permit) = OptionFuture::from(identify_permit.as_mut()) => {
                    identify_permit = None;
                    self.shared.metrics.identify_waiting.dec();
                    if permit.is_err() {
                        // The queue dropped us: ask again.
                        identify_permit = Some(self.shared.queue.enqueue(self.id));
                        self.shared.metrics.identify_waiting.inc();
                        continue;
                    }
                    if let Err(exit) = self.send_identify(&mut sink, &mut limiter).await {
                        break exit;
                    }
                }
                _ = save_tick.tick() => self.save_session().await,
                Some(command) = self.commands.recv(), if command_room => {
                    let result = if command.payload.len() > MAX_CLIENT_PAYLOAD {
                        Err(format!("payload of {} bytes is over Discord's {MAX_CLIENT_PAYLOAD}", command.payload.len()))
                    } else {
                        limiter.record(Instant::now());
                        sink.send(Message::text(command.payload)).await.map_err(|e| e.to_string())
                    };
                    if result.is_ok() {
                        self.shared.metrics.commands.get_or_create(&ShardLabels { shard: self.id }).inc();
                    }
                    let _ = command.done.send(result);
                }
                () = tokio::time::sleep_until(next_command_slot), if !command_room => {}
                message = stream.next(), if reading => {
                    let message = match message {
                        None => break reconnect("connection_closed", true),
                        Some(Err(err)) => {
                            tracing::info!(shard = self.id, error = %err, "connection lost");
                            break reconnect("connection_lost", true);
                        }
                        Some(Ok(Message::Close(frame))) => break close_exit(frame.as_ref()),
                        Some(Ok(message)) => message,
                    };
                    let data: &[u8] = match &message {
                        Message::Text(text) => text.as_bytes(),
                        Message::Binary(bytes) => bytes,
                        _ => continue,
                    };
                    let text = match inflater.inflate(data) {
                        Ok(Some(text)) => text,
                        Ok(None) => continue,
                        Err(err) => {
                            tracing::warn!(shard = self.id, error = %err, "dropping the connection");
                            break reconnect("inflate_error", true);
                        }
                    };
                    if let Some(exit) = self.on_payload(text, &mut sink, &mut limiter, &mut heartbeat).await {
                        break exit;
                    }
                }
            }
        };
        if identify_permit.is_some() {
            self.shared.metrics.identify_waiting.dec();
        }
        if backpressured {
            self.set_backpressured(false);
        }
        exit
    }

    /// Handles one decompressed gateway payload; `Some` ends the connection.
    async fn on_payload(
        &mut self,
        text: &[u8],
        sink: &mut Sink,
        limiter: &mut SendLimiter,
        heartbeat: &mut HeartbeatState,
    ) -> Option<Exit> {
        let read_at = std::time::Instant::now();
        let frame = match Frame::parse(text) {
            Ok(frame) => frame,
            Err(err) => {
                tracing::warn!(shard = self.id, error = %err, "undecodable gateway payload; dropping the connection");
                return Some(reconnect("decode_error", true));
            }
        };
        match frame.op {
            0 => {
                let (Some(seq), Some(event), Some(data)) = (frame.s, frame.t.as_deref(), frame.d)
                else {
                    tracing::warn!(shard = self.id, "dispatch without s, t or d; ignored");
                    return None;
                };
                if event == "READY" {
                    match serde_json::from_str::<ReadyFields>(data.get()) {
                        Ok(ready) => {
                            let id: Arc<str> = Arc::from(ready.session_id);
                            self.shared
                                .board
                                .update(self.id, |row| row.session_id = Some(id.to_string()));
                            self.session = Some(Session {
                                id,
                                resume_url: ready.resume_gateway_url,
                                seq,
                                acked: 0,
                            });
                        }
                        Err(err) => {
                            tracing::warn!(shard = self.id, error = %err, "READY without a session");
                            return Some(reconnect("bad_ready", false));
                        }
                    }
                }
                let Some(session) = self.session.as_mut() else {
                    tracing::warn!(shard = self.id, event, "dispatch before READY; ignored");
                    return None;
                };
                session.seq = session.seq.max(seq);
                let session_id = Arc::clone(&session.id);
                self.shared.board.update(self.id, |row| row.seq = seq);
                if event == "READY" || event == "RESUMED" {
                    self.failures = 0;
                    self.shared.board.set_state(self.id, ShardState::Ready);
                    tracing::info!(shard = self.id, event, "shard ready");
                }
                if self.shared.config.excluded_events.contains(event) {
                    self.event_counter(event, true).inc();
                } else {
                    self.event_counter(event, false).inc();
                    if let Some(outgoing) = self.shared.publisher.prepare(
                        self.id,
                        &session_id,
                        seq,
                        event,
                        data,
                        read_at,
                    ) {
                        self.outbox.push(outgoing);
                    }
                }
                None
            }
            1 => self.send_heartbeat(sink, limiter, heartbeat).await.err(),
            7 => Some(reconnect("reconnect_requested", true)),
            9 => {
                let resumable = frame.d.is_some_and(|d| d.get() == "true");
                if resumable {
                    Some(reconnect("invalid_session_resumable", true))
                } else {
                    // Discord asks for a random 1 to 5 s wait before identifying again.
                    let wait = Duration::from_millis(1000 + fastrand::u64(0..4000));
                    Some(Exit::Reconnect {
                        reason: "invalid_session",
                        resume: false,
                        wait,
                    })
                }
            }
            11 => {
                if let Some(sent) = heartbeat.sent_at.take() {
                    let rtt = sent.elapsed();
                    self.shared
                        .metrics
                        .gateway_latency
                        .get_or_create(&ShardLabels { shard: self.id })
                        .set(rtt.as_secs_f64());
                    let ms = u64::try_from(rtt.as_millis()).unwrap_or(u64::MAX);
                    self.shared
                        .board
                        .update(self.id, |row| row.latency_ms = Some(ms));
                }
                None
            }
            _ => None,
        }
    }

    async fn send_heartbeat(
        &mut self,
        sink: &mut Sink,
        limiter: &mut SendLimiter,
        heartbeat: &mut HeartbeatState,
    ) -> Result<(), Exit> {
        let seq = self.session.as_ref().map(|s| s.seq);
        send_json(sink, limiter, &Heartbeat::new(seq)).await?;
        heartbeat.sent_at.get_or_insert_with(Instant::now);
        heartbeat.next = Instant::now() + heartbeat.interval;
        Ok(())
    }

    async fn send_identify(
        &mut self,
        sink: &mut Sink,
        limiter: &mut SendLimiter,
    ) -> Result<(), Exit> {
        let config = &self.shared.config;
        let Some(shard) = ShardId::new_checked(self.id, self.shared.total) else {
            return Err(Exit::Fatal {
                code: 4010,
                reason: format!(
                    "shard {} is not below the total {}",
                    self.id, self.shared.total
                ),
            });
        };
        let identify = Identify::new(IdentifyInfo {
            capabilities: Capabilities::empty(),
            compress: false,
            intents: Intents::from_bits_retain(config.intents),
            large_threshold: config.large_threshold,
            presence: None,
            properties: IdentifyProperties::new("aegis", "aegis", std::env::consts::OS),
            shard: Some(shard),
            token: config.token.clone(),
        });
        send_json(sink, limiter, &identify).await?;
        self.shared
            .board
            .set_state(self.id, ShardState::Identifying);
        Ok(())
    }

    fn set_backpressured(&self, on: bool) {
        if on {
            tracing::warn!(
                shard = self.id,
                "JetStream is not keeping up: shard stops reading until publishes are acknowledged"
            );
        }
        self.shared
            .metrics
            .backpressured
            .get_or_create(&ShardLabels { shard: self.id })
            .set(i64::from(on));
        self.shared
            .board
            .update(self.id, |row| row.backpressured = on);
    }
}

fn reconnect(reason: &'static str, resume: bool) -> Exit {
    Exit::Reconnect {
        reason,
        resume,
        wait: Duration::ZERO,
    }
}

async fn send_json(
    sink: &mut Sink,
    limiter: &mut SendLimiter,
    payload: &impl serde::Serialize,
) -> Result<(), Exit> {
    let json = serde_json::to_string(payload).map_err(|_| reconnect("encode_error", true))?;
    limiter.record(Instant::now());
    sink.send(Message::text(json))
        .await
        .map_err(|_| reconnect("write_error", true))
}

/// What a close frame from Discord means for the session.
fn close_exit(frame: Option<&CloseFrame>) -> Exit {
    let Some(frame) = frame else {
        return reconnect("closed_without_code", true);
    };
    let code = u16::from(frame.code);
    match code {
        4004 | 4010 | 4011 | 4012 | 4013 | 4014 => Exit::Fatal {
            code,
            reason: frame.reason.to_string(),
        },
        4007 => reconnect("invalid_sequence", false),
        4009 => reconnect("session_timed_out", false),
        4008 => Exit::Reconnect {
            reason: "rate_limited",
            resume: true,
            wait: Duration::from_secs(1),
        },
        _ => Exit::Reconnect {
            reason: "closed",
            resume: true,
            wait: Duration::ZERO,
        },
    }
}
