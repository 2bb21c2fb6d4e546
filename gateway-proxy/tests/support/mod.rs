//! Shared set-up of gateway-proxy tests: a simulator, a proxy configured against it with its own
//! NATS namespace and Redis prefix, and readers of what reached JetStream.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_gateway_proxy::{
    Compression, Config, DEFAULT_INTENTS, GatewayProxy, QueueKind, ShardRange, ShardState,
    ShardTotal,
};
use aegis_protocol::{Envelope, GatewayEvent, Namespace, PartitionCount, Topology};
use aegis_service::{CancellationToken, NatsConfig};
use async_nats::jetstream;

pub const NATS_URL: &str = "nats://127.0.0.1:4222";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A name no other test run uses.
pub fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("t{tag}{}{}", std::process::id(), nanos % 1_000_000_000)
}

/// A simulator with short intervals so tests run in seconds.
pub fn sim_config(shards: u32, guilds: u32) -> discord_sim::Config {
    discord_sim::Config {
        shards,
        guilds,
        members: 5,
        heartbeat_interval: Duration::from_millis(1_000),
        identify_interval: Duration::from_millis(500),
        ..discord_sim::Config::default()
    }
}

/// A proxy configuration pointing at `sim`, in namespace `ns`.
pub fn proxy_config(sim: &discord_sim::SimHandle, ns: &str) -> Config {
    Config {
        token: sim.token().to_owned(),
        api_url: sim.http_url(),
        shard_total: ShardTotal::Auto,
        shard_range: ShardRange::All,
        intents: DEFAULT_INTENTS,
        compression: Compression::Zlib,
        large_threshold: 250,
        identify_queue: QueueKind::Redis,
        identify_interval: Duration::from_millis(500),
        redis_url: REDIS_URL.to_owned(),
        redis_prefix: format!("aegis-test:{ns}"),
        ops_addr: ([127, 0, 0, 1], 0).into(),
        excluded_events: Default::default(),
        publish_window: 1024,
        session_save_interval: Duration::from_millis(100),
        nats: NatsConfig {
            url: NATS_URL.to_owned(),
            topology: Topology {
                namespace: Namespace::new(ns).expect("valid namespace"),
                partitions: PartitionCount::new(4).expect("valid count"),
                events_max_age: Duration::from_secs(600),
                dead_letters_max_age: Duration::from_secs(600),
                ..Topology::default()
            },
        },
    }
}

pub async fn start_proxy(config: Config) -> GatewayProxy {
    GatewayProxy::start(config, CancellationToken::new())
        .await
        .expect("gateway-proxy starts")
}

/// Polls `check` every 20 ms until it holds, for at most `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn wait_ready(proxy: &GatewayProxy, limit: Duration) {
    wait_for("every shard ready", limit, || async {
        proxy.shards().iter().all(|s| s.state == ShardState::Ready)
    })
    .await;
}

pub async fn jetstream() -> jetstream::Context {
    jetstream::new(async_nats::connect(NATS_URL).await.expect("NATS answers"))
}

/// Every gateway event stored in the namespace's events and interactions streams.
pub async fn stored_events(js: &jetstream::Context, topology: &Topology) -> Vec<GatewayEvent> {
    let mut events = Vec::new();
    for name in [topology.events_stream(), topology.interactions_stream()] {
        let mut stream = js.get_stream(&name).await.expect("stream exists");
        let state = stream.info().await.expect("stream info").state.clone();
        if state.messages == 0 {
            continue;
        }
        for seq in state.first_sequence..=state.last_sequence {
            if let Ok(message) = stream.get_raw_message(seq).await {
                events.push(GatewayEvent::decode(&message.payload).expect("a valid envelope"));
            }
        }
    }
    events
}

/// Waits until JetStream holds every sequence number up to the simulator's last for `shard`,
/// then asserts each (session, seq) is stored exactly once and none is missing.
pub async fn assert_every_seq_once(
    js: &jetstream::Context,
    topology: &Topology,
    sim: &discord_sim::SimHandle,
    shard: u32,
) -> Vec<GatewayEvent> {
    let last = sim.counters().shards.get(&shard).map_or(0, |s| s.last_seq);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let events = loop {
        let events = stored_events(js, topology).await;
        let of_last_session = events
            .iter()
            .filter(|e| e.shard == shard)
            .max_by_key(|e| e.seq)
            .map(|newest| {
                events
                    .iter()
                    .filter(|e| e.shard == shard && e.session_id == newest.session_id)
                    .count() as u64
            })
            .unwrap_or(0);
        if of_last_session >= last || tokio::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut seen: BTreeMap<(String, u64), usize> = BTreeMap::new();
    for event in events.iter().filter(|e| e.shard == shard) {
        *seen
            .entry((event.session_id.clone(), event.seq))
            .or_default() += 1;
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "stored more than once: {doubled:?}");
    let latest = events
        .iter()
        .filter(|e| e.shard == shard && e.seq == last)
        .map(|e| e.session_id.clone())
        .next()
        .expect("the last sequence number is stored");
    let missing: Vec<u64> = (1..=last)
        .filter(|seq| !seen.contains_key(&(latest.clone(), *seq)))
        .collect();
    assert!(
        missing.is_empty(),
        "missing sequence numbers {missing:?} of 1..={last}"
    );
    events
}

/// Removes a test's streams and Redis keys (best effort).
pub async fn cleanup(js: &jetstream::Context, config: &Config) {
    for stream in config.nats.topology.streams() {
        let _ = js.delete_stream(&stream.name).await;
    }
    let Ok(client) = redis::Client::open(REDIS_URL) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", config.redis_prefix))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    for key in keys {
        let _: Result<(), _> = redis::cmd("DEL").arg(key).query_async(&mut conn).await;
    }
}

/// Sends `count` MESSAGE_CREATE dispatches to `guild`.
pub fn dispatch_messages(sim: &discord_sim::SimHandle, guild: u64, count: usize) {
    for i in 0..count {
        let data = serde_json::json!({
            "id": (1_000_000 + i).to_string(),
            "guild_id": guild.to_string(),
            "channel_id": "1",
            "content": format!("message {i}"),
        });
        sim.dispatch("MESSAGE_CREATE", Some(guild), &data);
    }
}

pub fn first_guild(sim: &discord_sim::SimHandle) -> u64 {
    sim.world()
        .guilds
        .keys()
        .next()
        .copied()
        .expect("the world has a guild")
}

/// Asserts that the MESSAGE_CREATEs of `events` (one session's, in stream order) were stored in
/// the order they were read: their sequence numbers only go up. Returns how many there are.
pub fn assert_messages_in_reading_order(events: &[GatewayEvent]) -> usize {
    let stored: Vec<u64> = events
        .iter()
        .filter(|e| e.event == "MESSAGE_CREATE")
        .map(|e| e.seq)
        .collect();
    assert_in_reading_order(&stored);
    stored.len()
}

/// Asserts sequence numbers (of one session, in stream order) only go up.
pub fn assert_in_reading_order(stored: &[u64]) {
    let late: Vec<(u64, u64)> = stored
        .windows(2)
        .filter(|w| w[1] < w[0])
        .map(|w| (w[0], w[1]))
        .collect();
    assert!(
        late.is_empty(),
        "stored out of order (before, after): {late:?}"
    );
}

/// [`proxy_config`] publishing to the NATS server at `url` (a test's private one).
pub fn proxy_config_on_nats(sim: &discord_sim::SimHandle, ns: &str, url: &str) -> Config {
    let base = proxy_config(sim, ns);
    Config {
        nats: NatsConfig {
            url: url.to_owned(),
            ..base.nats.clone()
        },
        ..base
    }
}

/// A port nothing listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private nats-server with JetStream on `port`, its store in `store`, and `extra` arguments
/// (e.g. `["-c", "file.conf"]`): tests that stop NATS or change its limits leave the shared one
/// alone.
pub fn nats_server(port: u16, store: &std::path::Path, extra: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new("nats-server")
        .args(extra)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nats-server is installed (scripts/services installs it)")
}

/// Waits until something listens on `port`.
pub async fn wait_port(port: u16) {
    wait_for(
        "nats-server to listen",
        Duration::from_secs(10),
        || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        },
    )
    .await;
}
