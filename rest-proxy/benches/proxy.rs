//! rest-proxy benchmark: prints figures, asserts nothing.
//!
//! `cargo bench -p aegis-rest-proxy --bench proxy` (Redis at 127.0.0.1:6379 for the shared-state
//! figures; `AEGIS_BENCH_ONLY=latency|throughput|memory|interactions` runs one part,
//! `AEGIS_BENCH_ROUTES` spreads the throughput clients over that many channels, default 8). Measures, against discord-sim in this process:
//! 1. added latency p50/p99 for requests that do not wait on a limit (proxy vs direct);
//! 2. throughput with the simulator's limits raised;
//! 3. memory with 100,000 distinct buckets;
//! 4. interaction callback latency while 50 clients keep the global limit saturated.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aegis_rest_proxy::Config;
use bytes::Bytes;
use discord_sim::{RateLimitConfig, SimHandle};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The binary's allocator, so the in-process proxy runs as it does in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Http = Client<HttpConnector, Full<Bytes>>;

fn http() -> Http {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector)
}

async fn call(client: &Http, method: Method, url: &str, body: Option<&str>) -> u16 {
    let mut builder = Request::builder().method(method).uri(url);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .header("authorization", "Bot sim-token")
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

fn raised() -> RateLimitConfig {
    RateLimitConfig {
        global_per_second: 10_000_000,
        routes: Vec::new(),
        default_limit: 10_000_000,
        default_window: Duration::from_secs(1),
        ..RateLimitConfig::default()
    }
}

async fn sim_with(limits: RateLimitConfig) -> SimHandle {
    discord_sim::start(discord_sim::Config {
        ratelimits: limits,
        call_log_capacity: 1,
        ..discord_sim::Config::default()
    })
    .await
    .unwrap()
}

fn proxy_config(sim: &SimHandle, single: bool, global: u32) -> Config {
    let mut config = Config::for_tests(sim.http_url().parse().unwrap());
    config.token = Some(sim.token().to_owned());
    config.single_instance = single;
    config.global_limit = global;
    config.redis_prefix = format!("aegis-bench:{}:", std::process::id());
    config.application_id = Some(sim.world().application_id);
    config
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

async fn latencies(client: &Http, url: &str, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        assert_eq!(call(client, Method::GET, url, None).await, 200);
        samples.push(started.elapsed());
    }
    samples
}

async fn added_latency(single: bool) {
    // Two identical simulators: the direct requests must not share the proxied ones' bucket,
    // or every proxied answer would show a count the proxy did not expect (another client of
    // the token) and be written back to the store, which production traffic does not do.
    let sim = sim_with(raised()).await;
    let direct_sim = sim_with(raised()).await;
    let proxy = aegis_rest_proxy::start(proxy_config(&sim, single, 10_000_000))
        .await
        .unwrap();
    let client = http();
    let direct_url = format!("{}/api/v10/users/@me", direct_sim.http_url());
    let proxy_url = format!("http://{}/api/v10/users/@me", proxy.addr());
    // Warm up, then alternate direct and proxied requests so background noise hits both alike.
    latencies(&client, &direct_url, 500).await;
    latencies(&client, &proxy_url, 500).await;
    let (mut direct, mut proxied) = (Vec::new(), Vec::new());
    for _ in 0..5_000 {
        direct.extend(latencies(&client, &direct_url, 1).await);
        proxied.extend(latencies(&client, &proxy_url, 1).await);
    }
    let (d50, d99) = (percentile(&mut direct, 0.5), percentile(&mut direct, 0.99));
    let (p50, p99) = (
        percentile(&mut proxied, 0.5),
        percentile(&mut proxied, 0.99),
    );
    println!(
        "added latency ({}): direct p50 {d50:?} p99 {d99:?}; through proxy p50 {p50:?} p99 {p99:?}; \
         added p50 {:?} p99 {:?}",
        mode(single),
        p50.saturating_sub(d50),
        p99.saturating_sub(d99)
    );
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
    direct_sim.shutdown().await.unwrap();
}

fn mode(single: bool) -> &'static str {
    if single { "in-memory" } else { "redis" }
}

/// Requests per second 64 clients get from `base` (the proxy or the simulator itself).
async fn rate(base: &str) -> f64 {
    let routes: u64 = std::env::var("AEGIS_BENCH_ROUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for worker in 0..64_u64 {
        let (done, stop) = (Arc::clone(&done), Arc::clone(&stop));
        // Eight channels' worth of buckets, as a mixed load would have.
        let url = format!(
            "{base}/api/v10/channels/{}/messages?limit=1",
            1000 + worker % routes
        );
        tasks.push(tokio::spawn(async move {
            let client = http();
            while !stop.load(Ordering::Relaxed) {
                call(&client, Method::GET, &url, None).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = done.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let count = done.load(Ordering::Relaxed) - before;
    let rate = count as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    rate
}

async fn throughput(single: bool) {
    let sim = sim_with(raised()).await;
    let proxy = aegis_rest_proxy::start(proxy_config(&sim, single, 10_000_000))
        .await
        .unwrap();
    let direct = rate(&sim.http_url()).await;
    let proxied = rate(&format!("http://{}", proxy.addr())).await;
    let routes = std::env::var("AEGIS_BENCH_ROUTES").unwrap_or_else(|_| "8".to_owned());
    println!(
        "throughput ({}): {proxied:.0} requests/s through the proxy, {direct:.0} requests/s \
         directly to the simulator (64 clients on {routes} routes, limits raised, same 2 cores)",
        mode(single)
    );
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn distinct(client: &Http, base: &str, from: u64, n: u64) {
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let (client, base) = (client.clone(), base.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut id = from + worker;
            while id < from + n {
                call(
                    &client,
                    Method::GET,
                    &format!("{base}/api/v10/channels/{id}"),
                    None,
                )
                .await;
                id += 32;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

async fn memory() {
    let sim = sim_with(raised()).await;
    let proxy = aegis_rest_proxy::start(proxy_config(&sim, true, 10_000_000))
        .await
        .unwrap();
    let client = http();
    let n = 100_000;
    // The simulator's own cost of 100,000 buckets, then the simulator's and the proxy's.
    let start = rss_kib();
    distinct(&client, &sim.http_url(), 10_000_000, n).await;
    let sim_only = rss_kib().saturating_sub(start);
    let start = rss_kib();
    distinct(&client, &format!("http://{}", proxy.addr()), 20_000_000, n).await;
    let both = rss_kib().saturating_sub(start);
    println!(
        "memory with {n} distinct buckets (in-memory store): simulator alone +{} MiB, simulator \
         and proxy +{} MiB, proxy about +{} MiB",
        sim_only / 1024,
        both / 1024,
        both.saturating_sub(sim_only) / 1024
    );
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

async fn interactions_under_saturation() {
    let sim = sim_with(RateLimitConfig {
        default_limit: 10_000,
        ..RateLimitConfig::default()
    })
    .await;
    let proxy = aegis_rest_proxy::start(proxy_config(&sim, false, 50))
        .await
        .unwrap();
    let world = sim.world();
    let channel = world
        .guilds
        .values()
        .flat_map(|g| g.channels.values())
        .find(|c| c.kind == 0 && c.overwrites.is_empty())
        .unwrap()
        .id;
    let guild = world.guild_of_channel(channel).unwrap();
    let user = *world.guilds[&guild]
        .members
        .keys()
        .find(|id| **id != world.bot.id)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..50 {
        let stop = Arc::clone(&stop);
        let url = format!("http://{}/api/v10/channels/{}", proxy.addr(), 1000 + worker);
        load.push(tokio::spawn(async move {
            let client = http();
            while !stop.load(Ordering::Relaxed) {
                call(&client, Method::GET, &url, None).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = http();
    let mut samples = Vec::new();
    for _ in 0..200 {
        let (id, token) = sim
            .inject_interaction(2, channel, user, serde_json::json!({"name": "ping"}))
            .unwrap();
        let url = format!(
            "http://{}/api/v10/interactions/{id}/{token}/callback",
            proxy.addr()
        );
        let started = Instant::now();
        let status = call(
            &client,
            Method::POST,
            &url,
            Some(r#"{"type":4,"data":{"content":"pong"}}"#),
        )
        .await;
        samples.push(started.elapsed());
        assert!(status < 300, "callback answered {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let global_429 = sim
        .counters()
        .rest_429_by_scope
        .get("global")
        .copied()
        .unwrap_or(0);
    println!(
        "interaction callbacks while 50 clients saturate the global limit (redis): p50 {:?} p99 \
         {:?} max {:?} ({} samples; global 429s at the simulator: {global_429})",
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
        percentile(&mut samples, 1.0),
        samples.len()
    );
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // AEGIS_BENCH_ONLY=latency|throughput|memory|interactions runs one part.
    let only = std::env::var("AEGIS_BENCH_ONLY").unwrap_or_default();
    let runs = |part: &str| only.is_empty() || only == part;
    runtime.block_on(async {
        if runs("latency") {
            added_latency(true).await;
            added_latency(false).await;
        }
        if runs("throughput") {
            throughput(true).await;
            throughput(false).await;
        }
        if runs("memory") {
            memory().await;
        }
        if runs("interactions") {
            interactions_under_saturation().await;
        }
    });
}
