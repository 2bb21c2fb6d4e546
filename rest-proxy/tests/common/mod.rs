//! Helpers shared by the integration tests: a simulator, a proxy in front of it, an HTTP client.
#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aegis_rest_proxy::{Config, Handle};
use bytes::Bytes;
use discord_sim::SimHandle;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub use discord_sim::{RateLimitConfig, RouteLimit};

/// A simulator, its rate limits adjusted by `f`.
pub async fn sim(f: impl FnOnce(&mut discord_sim::Config)) -> SimHandle {
    let mut config = discord_sim::Config {
        guilds: 3,
        ..discord_sim::Config::default()
    };
    f(&mut config);
    discord_sim::start(config).await.expect("simulator starts")
}

/// A Redis key prefix no other test (or run) uses.
pub fn prefix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!(
        "aegis-test:{}-{nanos}-{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A proxy configuration for `sim`: its token and application id, Redis under a fresh prefix.
pub fn config(sim: &SimHandle) -> Config {
    let mut config = Config::for_tests(sim.http_url().parse().expect("simulator URL"));
    config.token = Some(sim.token().to_owned());
    config.redis_prefix = prefix();
    config.application_id = Some(sim.world().application_id);
    config
}

/// Starts a proxy.
pub async fn proxy(config: Config) -> Handle {
    aegis_rest_proxy::start(config).await.expect("proxy starts")
}

/// Text channels of the seeded world the bot may read and post in (no permission overwrites).
pub fn channels(sim: &SimHandle) -> Vec<u64> {
    let world = sim.world();
    world
        .guilds
        .values()
        .flat_map(|g| g.channels.values())
        .filter(|c| c.kind == 0 && c.overwrites.is_empty())
        .map(|c| c.id)
        .collect()
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `x-aegis-error` header, when rest-proxy answered itself.
    pub fn aegis_error(&self) -> Option<&str> {
        self.headers
            .get("x-aegis-error")
            .and_then(|v| v.to_str().ok())
    }
}

/// A keep-alive HTTP client.
#[derive(Clone, Debug)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    /// A client for the proxy at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: format!("http://{addr}"),
        }
    }

    /// Sends `method path` with JSON `body` and extra `headers`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let bytes = match body {
            Some(v) => {
                builder = builder.header("content-type", "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        self.raw(builder.body(Full::new(bytes)).expect("request"))
            .await
    }

    /// Sends a prepared request.
    pub async fn raw(&self, request: Request<Full<Bytes>>) -> Reply {
        let response = self.client.request(request).await.expect("proxy answers");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// `POST /api/v10/channels/{channel}/messages` with `content`.
    pub async fn post_message(&self, channel: u64, content: &str) -> Reply {
        self.send(
            Method::POST,
            &format!("/api/v10/channels/{channel}/messages"),
            Some(serde_json::json!({ "content": content })),
            &[],
        )
        .await
    }
}

/// The largest number of calls (not matching `exempt`) the simulator served within any
/// 1-second span.
pub fn max_per_rolling_second(sim: &SimHandle, exempt: impl Fn(&str) -> bool) -> usize {
    let times: Vec<u64> = sim
        .rest_calls()
        .iter()
        .filter(|c| !exempt(&c.path))
        .map(|c| c.at_ms)
        .collect();
    let mut sorted = times;
    sorted.sort_unstable();
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= 1000 {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// 429s the simulator sent, by scope.
pub fn sim_429(sim: &SimHandle, scope: &str) -> u64 {
    sim.counters()
        .rest_429_by_scope
        .get(scope)
        .copied()
        .unwrap_or(0)
}

/// The proxy's `/metrics` text.
pub async fn metrics(proxy: &Handle) -> String {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .get(
            format!("http://{}/metrics", proxy.ops_addr())
                .parse()
                .expect("uri"),
        )
        .await
        .expect("metrics answer");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("metrics body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Sleeps a little.
pub async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
