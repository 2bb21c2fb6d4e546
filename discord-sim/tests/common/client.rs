//! A raw gateway client for protocol tests (tokio-tungstenite, optional zlib/zstd decoding).
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What the client received.
#[derive(Debug)]
pub enum Recv {
    /// A payload.
    Payload(Value),
    /// A close frame with this code.
    Closed(u16),
    /// The connection ended without a close frame.
    Dropped,
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    zlib: Option<(flate2::Decompress, Vec<u8>)>,
    zstd: Option<zstd_safe::DCtx<'static>>,
    /// Raw binary frames received (for compression checks).
    pub frames: Vec<Vec<u8>>,
}

impl Client {
    pub async fn connect(base: &str, query: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(format!("{base}/?{query}"))
            .await
            .expect("websocket connects");
        Self {
            ws,
            zlib: query
                .contains("zlib-stream")
                .then(|| (flate2::Decompress::new(true), Vec::new())),
            zstd: query.contains("zstd-stream").then(zstd_safe::DCtx::create),
            frames: Vec::new(),
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, s: String) {
        let _ = self.ws.send(Message::text(s)).await;
    }

    fn decode(&mut self, bytes: &[u8]) -> String {
        self.frames.push(bytes.to_vec());
        if let Some((d, buf)) = &mut self.zlib {
            buf.extend_from_slice(bytes);
            assert!(
                buf.ends_with(&[0, 0, 0xff, 0xff]),
                "zlib-stream message ends with a sync flush"
            );
            let mut out = Vec::with_capacity(buf.len() * 20 + 1024);
            loop {
                let before = d.total_in();
                let before_out = out.len();
                d.decompress_vec(buf, &mut out, flate2::FlushDecompress::Sync)
                    .expect("inflate");
                let used = usize::try_from(d.total_in() - before).expect("usize");
                buf.drain(..used);
                if buf.is_empty() && out.len() < out.capacity() {
                    break;
                }
                if used == 0 && out.len() == before_out {
                    out.reserve(out.capacity());
                }
                out.reserve(4096);
            }
            return String::from_utf8(out).expect("utf8");
        }
        if let Some(d) = &mut self.zstd {
            let mut out: Vec<u8> = Vec::with_capacity(bytes.len() * 20 + 1024);
            let mut input = zstd_safe::InBuffer::around(bytes);
            loop {
                let pos = out.len();
                let mut output = zstd_safe::OutBuffer::around_pos(&mut out, pos);
                d.decompress_stream(&mut output, &mut input).expect("zstd");
                let full = output.pos() == output.capacity();
                if input.pos == bytes.len() && !full {
                    break;
                }
                out.reserve(out.capacity());
            }
            return String::from_utf8(out).expect("utf8");
        }
        panic!("binary frame without compression");
    }

    pub async fn recv(&mut self) -> Recv {
        self.recv_timeout(Duration::from_secs(5))
            .await
            .expect("a message within 5 s")
    }

    pub async fn recv_timeout(&mut self, t: Duration) -> Option<Recv> {
        loop {
            let msg = match tokio::time::timeout(t, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(Recv::Dropped),
                Ok(Some(Ok(m))) => m,
            };
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => self.decode(&b),
                Message::Close(f) => {
                    return Some(Recv::Closed(f.map_or(1005, |f| u16::from(f.code))));
                }
                _ => continue,
            };
            return Some(Recv::Payload(
                serde_json::from_str(&text).expect("payload is JSON"),
            ));
        }
    }

    pub async fn payload(&mut self) -> Value {
        match self.recv().await {
            Recv::Payload(v) => v,
            other => panic!("expected a payload, got {other:?}"),
        }
    }

    /// The next dispatch of type `t`, skipping others.
    pub async fn dispatch(&mut self, t: &str) -> Value {
        loop {
            let p = self.payload().await;
            if p["op"] == 0 && p["t"] == t {
                return p;
            }
        }
    }

    pub async fn closed(&mut self) -> u16 {
        loop {
            match self.recv().await {
                Recv::Closed(code) => return code,
                Recv::Dropped => panic!("dropped without close frame"),
                Recv::Payload(_) => {}
            }
        }
    }

    pub async fn hello(&mut self) -> u64 {
        let hello = self.payload().await;
        assert_eq!(hello["op"], 10);
        hello["d"]["heartbeat_interval"].as_u64().expect("interval")
    }

    pub async fn identify(&mut self, token: &str, intents: u64, shard: [u32; 2]) {
        self.send(identify(token, intents, shard)).await;
    }
}

pub fn identify(token: &str, intents: u64, shard: [u32; 2]) -> Value {
    json!({"op": 2, "d": {
        "token": token,
        "properties": {"os": "linux", "browser": "test", "device": "test"},
        "intents": intents,
        "shard": shard,
    }})
}
