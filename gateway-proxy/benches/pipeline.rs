//! Benchmark: simulator load generator -> gateway-proxy (its own process) -> JetStream with acks.
//!
//! Prints, on this machine with the simulator and NATS on the same box:
//! - the raw JetStream publish ceiling for envelopes of the same size (window of 1024 acks);
//! - sustained events/s through the proxy, and its CPU per 10k events/s;
//! - the proxy's added latency at paced rates: each event's simulator send time (MESSAGE_CREATE's
//!   nonce) to the time JetStream stored it (read back from the stream), and the proxy's own
//!   histogram (read off the socket to JetStream ack);
//! - at each paced rate, JetStream's own publish -> ack latency for the same messages (the floor)
//!   and the simulator's own send -> read latency to a bare client;
//! - resident memory per idle shard (1,000 guilds each) and cold start of S shards.
//!
//! Run: `cargo bench -p aegis-gateway-proxy --bench pipeline` (BENCH_EVENTS, default 200000;
//! BENCH_ONLY=throughput|latency|memory for one part; BENCH_RATES=1000,5000 for the paced rates).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aegis_protocol::{
    Envelope, GatewayEvent, GatewayEventRef, Namespace, PROTOCOL_VERSION, PartitionCount, RawBytes,
    Topology, headers, provision,
};
use async_nats::jetstream;
use bytes::Bytes;
use tokio::process::{Child, Command};

/// The proxy's allocator here too, so the ceiling's publisher is not handicapped against it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NATS_URL: &str = "nats://127.0.0.1:4222";

/// The payload size of the JetStream-only runs: a load-generator MESSAGE_CREATE is about 900
/// bytes of JSON.
const PAYLOAD_LEN: usize = 900;

fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("b{tag}{}", nanos % 1_000_000_000)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn topology(ns: &str) -> Topology {
    Topology {
        namespace: Namespace::new(ns).unwrap(),
        partitions: PartitionCount::new(16).unwrap(),
        events_max_age: Duration::from_secs(600),
        ..Topology::default()
    }
}

fn spawn_proxy(sim: &discord_sim::SimHandle, ns: &str, ops_port: u16, compression: &str) -> Child {
    spawn_proxy_paced(sim, ns, ops_port, compression, Duration::from_millis(100))
}

fn spawn_proxy_paced(
    sim: &discord_sim::SimHandle,
    ns: &str,
    ops_port: u16,
    compression: &str,
    identify_interval: Duration,
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gateway-proxy"))
        .env("DISCORD_TOKEN", sim.token())
        .env("AEGIS_GATEWAY_API_URL", sim.http_url())
        .env("AEGIS_GATEWAY_OPS_ADDR", format!("127.0.0.1:{ops_port}"))
        .env(
            "AEGIS_GATEWAY_IDENTIFY_INTERVAL",
            format!("{}ms", identify_interval.as_millis()),
        )
        .env("AEGIS_GATEWAY_COMPRESSION", compression)
        .env("AEGIS_REDIS_PREFIX", format!("aegis-bench:{ns}"))
        .env("AEGIS_NAMESPACE", ns)
        .env("AEGIS_PARTITIONS", "16")
        .env("AEGIS_EVENTS_MAX_AGE", "10m")
        .env("RUST_LOG", "warn")
        .envs(
            std::env::var("BENCH_PROXY_THREADS")
                .ok()
                .map(|n| ("TOKIO_WORKER_THREADS", n)),
        )
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn http_get(port: u16, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    Some(response)
}

async fn wait_ready(port: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if http_get(port, "/readyz")
            .await
            .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
        {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gateway-proxy not ready within {limit:?}");
}

/// (utime + stime) in seconds and resident set in bytes, from /proc.
fn cpu_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12 (clock ticks, 100 Hz).
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    (cpu, rss_kb * 1024)
}

async fn stream_messages(js: &jetstream::Context, stream: &str) -> u64 {
    match js.get_stream(stream).await {
        Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}

async fn delete_streams(js: &jetstream::Context, ns: &str) {
    for s in topology(ns).streams() {
        let _ = js.delete_stream(&s.name).await;
    }
}

/// Percentile from a Prometheus histogram's cumulative buckets in /metrics text, interpolated
/// linearly inside its bucket as Prometheus's `histogram_quantile` does.
fn histogram_percentile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket")))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count: f64 = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    let target = total * q;
    let index = buckets.iter().position(|(_, c)| *c >= target)?;
    let (upper, count) = buckets[index];
    let (lower, below) = index.checked_sub(1).map_or((0.0, 0.0), |i| buckets[i]);
    if !upper.is_finite() || count <= below {
        return Some(lower);
    }
    Some(lower + (upper - lower) * (target - below) / (count - below))
}

/// One of the proxy's messages, built as cheaply as the proxy builds it: its subject, its seven
/// headers (the message id included, so the server does its duplicate-window bookkeeping) and an
/// envelope around `payload`, for a 32-character session id and an 18-digit guild, as Discord's are.
fn proxy_message(
    subjects: &aegis_protocol::Subjects,
    session: &str,
    seq: u64,
    payload: &[u8],
) -> (String, async_nats::HeaderMap, Bytes) {
    use async_nats::HeaderName;
    let guild: u64 = 1_234_567_890_123_456_789;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let name = HeaderName::from_static;
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(name(headers::MESSAGE_ID), format!("0:{session}:{seq}"));
    headers.insert(name(headers::VERSION), "1");
    headers.insert(name(headers::EVENT), "MESSAGE_CREATE");
    headers.insert(name(headers::SHARD), "0".to_owned());
    headers.insert(name(headers::SEQUENCE), seq.to_string());
    headers.insert(name(headers::RECEIVED_AT), now_ms.to_string());
    headers.insert(name(headers::GUILD_ID), guild.to_string());
    let body = GatewayEventRef {
        v: PROTOCOL_VERSION,
        event: "MESSAGE_CREATE",
        shard: 0,
        session_id: session,
        seq,
        guild_id: Some(guild),
        received_at_ms: now_ms,
        payload: RawBytes(payload),
    }
    .encode()
    .unwrap();
    let subject = subjects.guild_event((seq % 16) as u16, "MESSAGE_CREATE");
    (subject, headers, body)
}

/// The raw JetStream publish ceiling for the proxy's messages: `PUBLISHERS` tasks, each with a
/// window of acks, publishing [`proxy_message`]s, so the figure is JetStream's and not this
/// publisher's.
async fn jetstream_ceiling(js: &jetstream::Context, events: u64) -> f64 {
    const PUBLISHERS: u64 = 2;
    let ns = unique("ceil");
    let topology = topology(&ns);
    provision(js, &topology).await.unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for publisher in 0..PUBLISHERS {
        let js = js.clone();
        let subjects = topology.subjects();
        tasks.push(tokio::spawn(async move {
            let session = format!("{publisher:032}");
            let payload = vec![b'x'; PAYLOAD_LEN];
            let mut pending = std::collections::VecDeque::new();
            for seq in (publisher..events).step_by(PUBLISHERS as usize) {
                let (subject, headers, body) = proxy_message(&subjects, &session, seq, &payload);
                pending.push_back(
                    js.publish_with_headers(subject, headers, body)
                        .await
                        .unwrap(),
                );
                if pending.len() >= 1024 {
                    pending.pop_front().unwrap().await.unwrap();
                }
            }
            for ack in pending {
                ack.await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = events as f64 / start.elapsed().as_secs_f64();
    delete_streams(js, &ns).await;
    rate
}

/// Publish -> ack latency of JetStream itself at a paced rate (p50, p99 in ms) for the proxy's
/// messages ([`proxy_message`], [`PAYLOAD_LEN`] payload), the floor under the proxy's figure.
async fn jetstream_latency(js: &jetstream::Context, per_sec: u64, seconds: u64) -> (f64, f64) {
    let ns = unique("jlat");
    let topology = topology(&ns);
    provision(js, &topology).await.unwrap();
    let subjects = topology.subjects();
    let session = format!("{:032}", 7);
    let payload = vec![b'x'; PAYLOAD_LEN];
    let start = tokio::time::Instant::now();
    let mut acks = Vec::new();
    for i in 0..per_sec * seconds {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / per_sec as f64)).await;
        let sent = Instant::now();
        let (subject, headers, body) = proxy_message(&subjects, &session, i, &payload);
        let ack = js
            .publish_with_headers(subject, headers, body)
            .await
            .unwrap();
        acks.push(tokio::spawn(async move {
            ack.await.unwrap();
            sent.elapsed().as_secs_f64() * 1e3
        }));
    }
    let mut ms = Vec::with_capacity(acks.len());
    for ack in acks {
        ms.push(ack.await.unwrap());
    }
    ms.sort_by(f64::total_cmp);
    delete_streams(js, &ns).await;
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99))
}

async fn throughput(js: &jetstream::Context, events: u64, compression: &str) -> (f64, f64, u64) {
    let sim = discord_sim::start(discord_sim::Config {
        shards: 1,
        guilds: 10,
        members: 5,
        ..Default::default()
    })
    .await
    .unwrap();
    let ns = unique("thr");
    let port = free_port();
    let mut proxy = spawn_proxy(&sim, &ns, port, compression);
    wait_ready(port, Duration::from_secs(30)).await;
    let pid = proxy.id().unwrap();
    let stream = topology(&ns).events_stream();
    let before = stream_messages(js, &stream).await;
    let (cpu_before, _) = cpu_and_rss(pid);
    let start = Instant::now();
    let load = sim.load(discord_sim::LoadSpec {
        events_per_sec: 0,
        total: events,
        mix: vec![("MESSAGE_CREATE".to_owned(), 1)],
    });
    while stream_messages(js, &stream).await < before + events {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "throughput run stalled"
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (cpu_after, rss) = cpu_and_rss(pid);
    let _ = load.await;
    let rate = events as f64 / elapsed;
    let cores = (cpu_after - cpu_before) / elapsed;
    proxy.start_kill().unwrap();
    let _ = proxy.wait().await;
    delete_streams(js, &ns).await;
    sim.shutdown().await.unwrap();
    (rate, cores / (rate / 10_000.0), rss)
}

/// The simulator of the latency runs: one shard, ten guilds, a small replay buffer.
async fn paced_sim() -> discord_sim::SimHandle {
    discord_sim::start(discord_sim::Config {
        shards: 1,
        guilds: 10,
        members: 5,
        // The simulator keeps every dispatch for RESUME (100,000 by default): at 20,000/s it
        // would grow by ~30 MB/s, and on this VM each first touch of fresh memory stalls the
        // simulator ~6 ms every ~60 ms (measured: p99 6.2 ms simulator -> bare client at 20k/s,
        // 0.29 ms with a small buffer). That is the instrument's latency, not the proxy's.
        replay_buffer: 2_000,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The proxy at a paced rate: (p50, p99, max) in ms of each event's path from the simulator's send
/// (MESSAGE_CREATE's nonce) to its storage in JetStream (the stream's own timestamp, taken just
/// before the ack), and (p50, p99) of the proxy's histogram (read off the socket to the ack).
async fn latency(js: &jetstream::Context, per_sec: u64, seconds: u64) -> ([f64; 3], (f64, f64)) {
    let sim = paced_sim().await;
    let ns = unique("lat");
    let port = free_port();
    let compression =
        std::env::var("BENCH_COMPRESSION").unwrap_or_else(|_| "zlib-stream".to_owned());
    let mut proxy = spawn_proxy(&sim, &ns, port, &compression);
    wait_ready(port, Duration::from_secs(30)).await;
    let stream = topology(&ns).events_stream();
    let before = stream_messages(js, &stream).await;
    let total = per_sec * seconds;
    let load = sim.load(discord_sim::LoadSpec {
        events_per_sec: per_sec,
        total,
        mix: vec![("MESSAGE_CREATE".to_owned(), 1)],
    });
    let _ = load.await;
    while stream_messages(js, &stream).await < before + total {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let metrics = http_get(port, "/metrics").await.unwrap_or_default();
    let name = "aegis_gateway_publish_latency_seconds";
    let p50 = histogram_percentile(&metrics, name, 0.50).unwrap_or(f64::NAN);
    let p99 = histogram_percentile(&metrics, name, 0.99).unwrap_or(f64::NAN);
    let mut ms = send_to_stored_ms(js, &stream, before, total).await;
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q) as usize];
    proxy.start_kill().unwrap();
    let _ = proxy.wait().await;
    delete_streams(js, &ns).await;
    sim.shutdown().await.unwrap();
    ([at(0.5), at(0.99), at(1.0)], (p50, p99))
}

/// For `count` MESSAGE_CREATEs stored after stream sequence `after`: stored time minus the
/// simulator's send time, in ms (both clocks are this machine's).
async fn send_to_stored_ms(
    js: &jetstream::Context,
    stream: &str,
    after: u64,
    count: u64,
) -> Vec<f64> {
    use futures_util::StreamExt;
    #[derive(serde::Deserialize)]
    struct Nonce {
        nonce: String,
    }
    let consumer = js
        .get_stream(stream)
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            deliver_policy: jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap().take(count as usize);
    let mut ms = Vec::with_capacity(count as usize);
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        let stored_ns = message.info().unwrap().published.unix_timestamp_nanos();
        let event = GatewayEvent::decode(&message.payload).unwrap();
        let Ok(Nonce { nonce }) = serde_json::from_slice(&event.payload) else {
            continue;
        };
        let sent_us: i128 = nonce.parse().unwrap();
        ms.push((stored_ns / 1_000 - sent_us) as f64 / 1e3);
    }
    ms
}

async fn idle_memory(
    js: &jetstream::Context,
    shards: u32,
    guilds_per_shard: u32,
    identify_interval: Duration,
) -> (u64, Duration) {
    let sim = discord_sim::start(discord_sim::Config {
        shards,
        guilds: shards * guilds_per_shard,
        members: 1,
        max_concurrency: 16,
        identify_interval,
        ..Default::default()
    })
    .await
    .unwrap();
    let ns = unique("mem");
    let port = free_port();
    let start = Instant::now();
    let mut proxy = spawn_proxy_paced(&sim, &ns, port, "zlib-stream", identify_interval);
    let ready = start.elapsed() + wait_ready(port, Duration::from_secs(120)).await;
    let pid = proxy.id().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, rss) = cpu_and_rss(pid);
    proxy.start_kill().unwrap();
    let _ = proxy.wait().await;
    delete_streams(js, &ns).await;
    sim.shutdown().await.unwrap();
    (rss, ready)
}

#[tokio::main]
async fn main() {
    let events: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let js = jetstream::new(
        async_nats::connect(NATS_URL)
            .await
            .expect("NATS at 127.0.0.1:4222"),
    );
    // BENCH_ONLY=throughput|latency|memory runs one part (the ceiling runs with throughput).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = |part: &str| only.is_empty() || only == part;
    if runs("throughput") {
        throughput_part(&js, events).await;
    }
    if runs("latency") {
        latency_part(&js).await;
    }
    if runs("memory") {
        memory_part(&js).await;
    }
}

async fn throughput_part(js: &jetstream::Context, events: u64) {
    let ceiling = jetstream_ceiling(js, events).await;
    println!(
        "jetstream publish ceiling: {ceiling:.0} msgs/s ({events} envelopes of ~{PAYLOAD_LEN} B payload with the proxy's seven headers, 2 publishers x window 1024)"
    );
    for compression in ["zlib-stream", "zstd-stream", "none"] {
        let (rate, cpu_per_10k, rss) = throughput(js, events, compression).await;
        println!(
            "proxy throughput ({compression}): {rate:.0} events/s = {:.0}% of the ceiling; {cpu_per_10k:.3} cores per 10k events/s; rss {:.1} MiB",
            100.0 * rate / ceiling,
            rss as f64 / 1_048_576.0
        );
    }
}

/// The instrument's own floor: simulator send -> a bare WebSocket client in this process (no
/// proxy, no NATS), (p50, p99) in ms.
async fn simulator_alone(per_sec: u64, seconds: u64) -> (f64, f64) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let sim = paced_sim().await;
    let url = format!("{}/?v=10&encoding=json", sim.gateway_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let identify = serde_json::json!({"op": 2, "d": {"token": sim.token(), "intents": 33281,
        "properties": {"os": "linux", "browser": "bench", "device": "bench"}}});
    ws.send(Message::text(identify.to_string())).await.unwrap();
    while let Some(Ok(message)) = ws.next().await {
        if message.to_text().is_ok_and(|t| t.contains("\"READY\"")) {
            break;
        }
    }
    let total = per_sec * seconds;
    let load = sim.load(discord_sim::LoadSpec {
        events_per_sec: per_sec,
        total,
        mix: vec![("MESSAGE_CREATE".to_owned(), 1)],
    });
    let mut ms = Vec::with_capacity(total as usize);
    while (ms.len() as u64) < total {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            continue;
        };
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as i128;
        let frame: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        if let Some(sent_us) = frame["d"]["nonce"]
            .as_str()
            .and_then(|n| n.parse::<i128>().ok())
        {
            ms.push((now_us - sent_us) as f64 / 1e3);
        }
    }
    let _ = load.await;
    sim.shutdown().await.unwrap();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99))
}

async fn latency_part(js: &jetstream::Context) {
    let rates: Vec<u64> = std::env::var("BENCH_RATES")
        .ok()
        .map(|v| v.split(',').filter_map(|r| r.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 5_000, 10_000, 20_000, 30_000, 40_000]);
    for rate in rates {
        let (p50, p99) = jetstream_latency(js, rate, 5).await;
        println!(
            "jetstream alone at {rate} msgs/s (publish -> ack): p50 {p50:.2} ms, p99 {p99:.2} ms"
        );
        let (p50, p99) = simulator_alone(rate, 5).await;
        println!(
            "simulator alone at {rate} events/s (send -> a bare client's read): p50 {p50:.2} ms, p99 {p99:.2} ms"
        );
        let ([s50, s99, smax], (h50, h99)) = latency(js, rate, 5).await;
        println!(
            "through the proxy at {rate} events/s, simulator send -> stored in JetStream: p50 {s50:.2} ms, p99 {s99:.2} ms, max {smax:.2} ms; proxy histogram (read -> ack, interpolated): p50 {:.2} ms, p99 {:.2} ms",
            h50 * 1e3,
            h99 * 1e3
        );
    }
}

async fn memory_part(js: &jetstream::Context) {
    let fast = Duration::from_millis(100);
    let (rss_1, _) = idle_memory(js, 1, 1_000, fast).await;
    let (rss_17, cold_17) = idle_memory(js, 17, 1_000, fast).await;
    println!(
        "idle memory: 1 shard {:.1} MiB, 17 shards {:.1} MiB -> {:.0} KiB per extra idle shard (1,000 guilds each)",
        rss_1 as f64 / 1_048_576.0,
        rss_17 as f64 / 1_048_576.0,
        (rss_17.saturating_sub(rss_1)) as f64 / 16.0 / 1024.0
    );
    println!(
        "(17 shards x 1,000 guilds ready in {:.2} s, mostly the simulator building 17,000 GUILD_CREATEs)",
        cold_17.as_secs_f64()
    );
    let (_, cold_64) = idle_memory(js, 64, 1, fast).await;
    println!(
        "cold start: 64 shards (1 guild each) at max_concurrency 16, 100 ms identify interval: ready in {:.2} s; 4 windows need >= 0.30 s",
        cold_64.as_secs_f64()
    );
    // Discord's own pacing: ceil(64 / 16) = 4 windows of 5 s, the last starting at 15 s.
    let (_, cold_real) = idle_memory(js, 64, 1, Duration::from_secs(5)).await;
    println!(
        "cold start: 64 shards at max_concurrency 16, Discord's 5 s identify interval: ready in {:.2} s; the target is within one window of 4 x 5 s = 20 s",
        cold_real.as_secs_f64()
    );
}
