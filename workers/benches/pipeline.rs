//! Benchmark: the whole Aegis pipeline on this machine (the `Stack` of the worker tests: the
//! simulator, rest-proxy, gateway-proxy, workers and a scheduler in this process; PostgreSQL,
//! Redis and NATS JetStream as the machine's own servers).
//!
//! Prints:
//! 1. **Interaction round trip**: `/warn` injected by the simulator at a steady rate (50, 200 and
//!    1,000/s by default) -> gateway-proxy -> JetStream -> worker (settings and guild facts from
//!    Redis, `GET /guilds/{id}` through rest-proxy once per guild, the case in PostgreSQL) ->
//!    callback through rest-proxy -> simulator.
//!    Latency is the simulator's own figure (injection to callback received, whole
//!    milliseconds), p50/p99/max, with the interactions that got no callback or were deferred.
//! 2. **Guild-event throughput** through the partitioned, in-order consumers: the simulator's
//!    load generator pushes `BENCH_EVENTS` guild events over many guilds with no worker running
//!    (gateway -> JetStream rate), then 1 (and then 2) workers start and drain them
//!    (JetStream -> worker rate); last, both at once with 2 workers running.
//!
//! CPU is `utime + stime` from /proc: this process (everything but the servers) and the servers
//! by process name.
//!
//! Run: `cargo bench -p aegis-workers --bench pipeline`. Environment: `BENCH_SECONDS` (10) per
//! interaction rate, `BENCH_RATES` (`50,200,1000`), `BENCH_EVENTS` (100000), `BENCH_ONLY`
//! (`interactions` or `events`), `BENCH_GLOBAL_LIMIT` (Discord's global requests/s in the
//! simulator and rest-proxy; default 50 as on Discord), `BENCH_INTERACTION_WORKERS` (1).

#![allow(clippy::print_stdout, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::PullConsumer};
use discord_sim::World;
use serde_json::{Value, json};
use support::{Options, Stack};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of the processes whose `comm` is one of `names`; `self` for this
/// process. Clock ticks are taken as 100 Hz (Linux's `USER_HZ`).
fn cpu_seconds(names: &[&str]) -> f64 {
    let read = |pid: &str| -> f64 {
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
        // After the command name: state is field 0, utime 11, stime 12.
        (ticks(11) + ticks(12)) / 100.0
    };
    if names == ["self"] {
        return read("self");
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            names.contains(&comm.trim())
        })
        .map(|pid| read(&pid))
        .sum()
}

/// CPU use of this process and of each server, sampled at the start of a phase.
struct Cpu {
    at: Instant,
    samples: Vec<(&'static str, f64)>,
}

const SERVERS: [(&str, &[&str]); 4] = [
    ("this process", &["self"]),
    ("nats", &["nats-server"]),
    ("postgres", &["postgres"]),
    ("redis", &["redis-server"]),
];

impl Cpu {
    fn start() -> Self {
        Self {
            at: Instant::now(),
            samples: SERVERS
                .iter()
                .map(|(label, names)| (*label, cpu_seconds(names)))
                .collect(),
        }
    }

    /// CPU seconds per process since `start`.
    fn used(&self) -> Vec<(&'static str, f64)> {
        SERVERS
            .iter()
            .zip(&self.samples)
            .map(|((label, names), (_, before))| (*label, cpu_seconds(names) - before))
            .collect()
    }

    /// Cores used per process since `start`, and their sum:
    /// `this process 1.21, nats 0.40, postgres 0.10, redis 0.01 = 1.72 cores`.
    fn cores(&self) -> String {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let used = self.used();
        let total: f64 = used.iter().map(|(_, cpu)| cpu).sum();
        let each = used
            .iter()
            .map(|(label, cpu)| format!("{label} {:.2}", cpu / wall))
            .collect::<Vec<_>>()
            .join(", ");
        format!("{each} = {:.2} cores", total / wall)
    }

    /// CPU time of all of them since `start` per item of `done`, in microseconds.
    fn per(&self, done: u64) -> f64 {
        let total: f64 = self.used().iter().map(|(_, cpu)| cpu).sum();
        total * 1e6 / done.max(1) as f64
    }

    /// [`cores`](Self::cores) and [`per`](Self::per) item.
    fn report(&self, done: u64, item: &str) -> String {
        format!("{}, {:.0} us CPU per {item}", self.cores(), self.per(done))
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

// ---------------------------------------------------------------------------------------------
// 1. Interactions

/// One `/warn` to inject: by a moderator (or the owner) of the guild on a plain member.
struct Warn {
    channel: u64,
    moderator: u64,
    target: u64,
    target_roles: Vec<u64>,
}

/// Every (moderator, target) pair the world allows, interleaved across guilds so consecutive
/// commands hit different guilds.
fn warns(world: &World) -> Vec<Warn> {
    let mut per_guild: Vec<Vec<Warn>> = Vec::new();
    for guild in world.guilds.values() {
        let role = |name: &str| {
            guild
                .roles
                .values()
                .find(|r| r.name == name)
                .map_or(0, |r| r.id)
        };
        let (moderator_role, member_role) = (role("Moderator"), role("Member"));
        let Some(channel) = guild
            .channels
            .values()
            .find(|c| c.kind == 0 && c.name == "general")
        else {
            continue;
        };
        let moderators: Vec<u64> = guild
            .members
            .values()
            .filter(|m| m.user_id == guild.owner_id || m.roles.contains(&moderator_role))
            .map(|m| m.user_id)
            .collect();
        let targets = guild.members.values().filter(|m| {
            m.user_id != guild.owner_id
                && m.user_id != world.bot.id
                && m.roles.iter().all(|r| *r == member_role)
        });
        per_guild.push(
            targets
                .enumerate()
                .map(|(i, m)| Warn {
                    channel: channel.id,
                    moderator: moderators[i % moderators.len()],
                    target: m.user_id,
                    target_roles: m.roles.clone(),
                })
                .collect(),
        );
    }
    let longest = per_guild.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..longest {
        for guild in &mut per_guild {
            if i < guild.len() {
                out.push(std::mem::replace(
                    &mut guild[i],
                    Warn {
                        channel: 0,
                        moderator: 0,
                        target: 0,
                        target_roles: Vec::new(),
                    },
                ));
            }
        }
    }
    out
}

/// The `data` of `/warn user:<target> reason:<reason>`, the target resolved as a member.
fn warn_data(warn: &Warn, reason: &str) -> Value {
    let target = warn.target.to_string();
    let roles: Vec<String> = warn.target_roles.iter().map(u64::to_string).collect();
    json!({
        "id": "1", "name": "warn", "type": 1,
        "options": [
            {"name": "user", "type": 6, "value": target},
            {"name": "reason", "type": 3, "value": reason},
        ],
        "resolved": {
            "users": {&target: {"id": &target, "username": "target", "discriminator": "0", "avatar": null}},
            "members": {&target: {"roles": roles, "joined_at": "2024-01-01T00:00:00.000000+00:00", "permissions": "0", "flags": 0, "pending": false}},
        },
    })
}

/// What one interaction run measured.
#[derive(Default)]
struct Round {
    injected: usize,
    inject_rate: f64,
    /// Milliseconds from injection to the first callback, sorted.
    latencies: Vec<u64>,
    answered: usize,
    deferred: usize,
    refused: usize,
    no_callback: usize,
    first_refusal: Option<String>,
    cases: i64,
    cpu: String,
}

async fn interaction_round(
    stack: &Stack,
    js: &jetstream::Context,
    warns: &[Warn],
    rate: u64,
    seconds: u64,
) -> Round {
    let total = usize::try_from(rate * seconds).unwrap_or(usize::MAX);
    let reason = format!("bench {rate}/s {}", fastrand::u32(..));
    let prepared: Vec<(u64, u64, Value)> = warns
        .iter()
        .map(|w| (w.channel, w.moderator, warn_data(w, &reason)))
        .collect();
    let mut ids = Vec::with_capacity(total);
    let cpu = Cpu::start();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for i in 0..total {
        tick.tick().await;
        let (channel, moderator, data) = &prepared[i % prepared.len()];
        let (id, _token) = stack
            .sim
            .inject_interaction(2, *channel, *moderator, data.clone())
            .expect("interaction injected");
        ids.push(id);
    }
    let injecting = start.elapsed();
    let cores = cpu.cores();
    // Discord gives 3 s; wait a little longer for the last ones.
    let last = Instant::now();
    let mut waiting: Vec<u64> = ids.clone();
    while !waiting.is_empty() && last.elapsed() < Duration::from_secs(4) {
        waiting.retain(|id| {
            stack
                .sim
                .interaction(*id)
                .and_then(|l| l.callback)
                .is_none()
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The CPU per interaction counts the backlog's work too, once it is done.
    let settled = Instant::now();
    while interactions_pending(js, stack).await > 0 && settled.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut round = Round {
        injected: ids.len(),
        inject_rate: ids.len() as f64 / injecting.as_secs_f64(),
        cpu: format!(
            "{cores} while injecting; {:.0} us CPU per interaction",
            cpu.per(ids.len() as u64)
        ),
        ..Round::default()
    };
    for id in &ids {
        let log = stack.sim.interaction(*id).unwrap_or_default();
        let (Some(callback), Some(after)) = (log.callback, log.callback_after_ms) else {
            round.no_callback += 1;
            continue;
        };
        round.latencies.push(after);
        match callback["type"].as_u64() {
            Some(5) => round.deferred += 1,
            _ if callback["data"]["flags"].as_u64().unwrap_or(0) & 64 != 0 => {
                round.refused += 1;
                if round.first_refusal.is_none() {
                    round.first_refusal = Some(callback["data"]["content"].to_string());
                }
            }
            _ => round.answered += 1,
        }
    }
    round.latencies.sort_unstable();
    // Deferred answers finish later; give them a moment before counting cases.
    tokio::time::sleep(Duration::from_millis(500)).await;
    round.cases = stack
        .count(&format!(
            "SELECT count(*) FROM cases WHERE reason = '{reason}'"
        ))
        .await;
    round
}

async fn interactions(seconds: u64, rates: &[u64], global_limit: Option<u32>) {
    let workers = usize::try_from(env_u64("BENCH_INTERACTION_WORKERS", 1)).unwrap_or(1);
    let options = Options {
        workers,
        user_limit: None,
        guilds: 50,
        members: 100,
        partitions: 64,
        // The production defaults (AEGIS_WORKER_CONCURRENCY, AEGIS_DATABASE_POOL).
        concurrency: 64,
        pool_size: 16,
        global_limit,
        ..Options::default()
    };
    let stack = Stack::with(options.clone()).await;
    let js = jetstream::new(
        async_nats::connect(&stack.nats.url)
            .await
            .expect("NATS at 127.0.0.1:4222"),
    );
    let warns = warns(&stack.sim.world());
    let moderators: std::collections::BTreeSet<u64> = warns.iter().map(|w| w.moderator).collect();
    println!(
        "interactions: /warn over {} guilds, {} moderators, {} (moderator, target) pairs; {workers} worker(s), concurrency {}, pool {}; global limit {}/s",
        options.guilds,
        moderators.len(),
        warns.len(),
        options.concurrency,
        options.pool_size,
        global_limit.unwrap_or(50)
    );
    // Warm-up (one command per guild): connections, the settings and guild caches, rest-proxy's
    // learned buckets.
    let _ = interaction_round(&stack, &js, &warns, 25, 2).await;
    for &rate in rates {
        let round = interaction_round(&stack, &js, &warns, rate, seconds).await;
        println!(
            "  {rate:>5}/s x {seconds} s ({:.0}/s injected, {} interactions): {} | answered {}, deferred {}, no callback {}, refused {}, cases {} | cores: {}",
            round.inject_rate,
            round.injected,
            latency_summary(&round.latencies),
            round.answered,
            round.deferred,
            round.no_callback,
            round.refused,
            round.cases,
            round.cpu
        );
        if let Some(refusal) = round.first_refusal {
            println!("         first refusal: {refusal}");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let rest = stack.rest.ops_addr();
    let metrics = http_get(rest, "/metrics").await.unwrap_or_default();
    // What rest-proxy did: requests by route and status, and how long they waited for limits.
    let lines: Vec<&str> = metrics
        .lines()
        .filter(|l| {
            (l.starts_with("aegis_rest_requests_total") && !l.ends_with(" 0"))
                || l.starts_with("aegis_rest_queue_seconds_sum")
                || l.starts_with("aegis_rest_queue_seconds_count")
                || (l.starts_with("aegis_rest_refused_total") && !l.ends_with(" 0"))
        })
        .collect();
    println!("  rest-proxy over the whole run:");
    for line in lines {
        println!("    {line}");
    }
    stack.stop().await;
}

/// Interactions not yet handled by the workers (queued or in progress).
async fn interactions_pending(js: &jetstream::Context, stack: &Stack) -> u64 {
    let Ok(stream) = js
        .get_stream(stack.nats.topology.interactions_stream())
        .await
    else {
        return 0;
    };
    let Ok(mut consumer) = stream
        .get_consumer::<jetstream::consumer::pull::Config>(
            aegis_protocol::Topology::WORKERS_CONSUMER,
        )
        .await
    else {
        return 0;
    };
    consumer
        .info()
        .await
        .map_or(0, |i| i.num_pending + i.num_ack_pending as u64)
}

/// `p50 x ms, p99 y ms, max z ms`, or `no callbacks`.
fn latency_summary(sorted: &[u64]) -> String {
    match sorted.last() {
        None => "no callbacks".to_owned(),
        Some(max) => format!(
            "p50 {} ms, p99 {} ms, max {max} ms",
            percentile(sorted, 0.50),
            percentile(sorted, 0.99)
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Guild events

async fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    Some(response)
}

/// Guild events a worker handled (`aegis_worker_messages_total{source="events"}`, any outcome).
async fn handled(worker: &aegis_workers::Worker) -> u64 {
    let metrics = http_get(worker.ops_addr(), "/metrics")
        .await
        .unwrap_or_default();
    metrics
        .lines()
        .filter(|l| l.starts_with("aegis_worker_messages_total") && l.contains("source=\"events\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Per partition consumer: (messages not yet delivered + delivered but unacknowledged,
/// redeliveries).
async fn backlog(js: &jetstream::Context, stack: &Stack) -> (u64, u64) {
    let stream = js
        .get_stream(stack.nats.topology.events_stream())
        .await
        .expect("events stream");
    let mut pending = 0;
    let mut redelivered = 0;
    for partition in 0..stack.nats.topology.partitions.get() {
        let name = aegis_protocol::Topology::partition_consumer(partition);
        let mut consumer: PullConsumer = stream.get_consumer(&name).await.expect("consumer");
        let info = consumer.info().await.expect("consumer info");
        pending += info.num_pending + info.num_ack_pending as u64;
        redelivered += info.num_redelivered as u64;
    }
    (pending, redelivered)
}

async fn stream_messages(js: &jetstream::Context, stack: &Stack) -> u64 {
    let mut stream = js
        .get_stream(stack.nats.topology.events_stream())
        .await
        .expect("events stream");
    stream.info().await.expect("stream info").state.messages
}

fn load(stack: &Stack, total: u64) -> tokio::task::JoinHandle<discord_sim::LoadReport> {
    // The gateway's intents receive these two (not typing or reactions).
    stack.sim.load(discord_sim::LoadSpec {
        events_per_sec: 0,
        total,
        mix: vec![
            ("MESSAGE_CREATE".to_owned(), 4),
            ("GUILD_MEMBER_UPDATE".to_owned(), 1),
        ],
    })
}

/// Publishes `total` events with no worker running; returns (events published, events/s).
async fn publish(js: &jetstream::Context, stack: &Stack, total: u64) -> (u64, f64) {
    let before = stream_messages(js, stack).await;
    let cpu = Cpu::start();
    let start = Instant::now();
    let report = load(stack, total).await.expect("load generator");
    let expected = report.delivered;
    while stream_messages(js, stack).await < before + expected {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "publishing stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = expected as f64 / start.elapsed().as_secs_f64();
    println!(
        "  gateway -> JetStream: {expected} events in {:.2} s = {rate:.0} events/s (simulator generated them in {:.2} s) | cores: {}",
        start.elapsed().as_secs_f64(),
        report.elapsed_ms as f64 / 1e3,
        cpu.report(expected, "event")
    );
    (expected, rate)
}

/// Starts `count` workers and times them draining the partitions' backlog.
async fn drain(
    js: &jetstream::Context,
    stack: &Stack,
    count: usize,
) -> (Vec<aegis_workers::Worker>, f64) {
    let (pending, redelivered_before) = backlog(js, stack).await;
    let cpu = Cpu::start();
    let start = Instant::now();
    let workers: Vec<aegis_workers::Worker> =
        futures_util::future::join_all((0..count).map(|_| stack.add_worker())).await;
    let started = start.elapsed();
    let mut first_at = None;
    loop {
        let mut done = 0;
        for worker in &workers {
            done += handled(worker).await;
        }
        if done > 0 && first_at.is_none() {
            first_at = Some(start.elapsed());
        }
        if done >= pending {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "draining stalled at {done} of {pending}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    let cpu = cpu.report(pending, "event");
    let (left, redelivered) = backlog(js, stack).await;
    let rate = pending as f64 / elapsed.as_secs_f64();
    let steady = first_at.map_or(0.0, |first| {
        pending as f64 / (elapsed - first).as_secs_f64().max(1e-9)
    });
    let per_worker: Vec<String> = workers
        .iter()
        .map(|w| w.partitions().len().to_string())
        .collect();
    println!(
        "  JetStream -> {count} worker(s): {pending} events in {:.2} s = {rate:.0} events/s ({steady:.0}/s from the first event handled; start-up {:.2} s) | partitions held {} | left {left}, redelivered {} | cores: {cpu}",
        elapsed.as_secs_f64(),
        started.as_secs_f64(),
        per_worker.join("/"),
        redelivered - redelivered_before,
    );
    (workers, rate)
}

async fn events(total: u64) {
    let guilds = 200;
    let stack = Stack::with(Options {
        workers: 0,
        guilds,
        members: 4,
        partitions: 64,
        concurrency: 64,
        pool_size: 16,
        ..Options::default()
    })
    .await;
    let js = jetstream::new(
        async_nats::connect(&stack.nats.url)
            .await
            .expect("NATS at 127.0.0.1:4222"),
    );
    println!(
        "guild events: MESSAGE_CREATE 4 : GUILD_MEMBER_UPDATE 1 over {guilds} guilds, {} partitions (one event in flight per partition)",
        stack.nats.topology.partitions.get()
    );
    let mut rates = BTreeMap::new();
    let mut last = Vec::new();
    for count in [1, 2] {
        publish(&js, &stack, total).await;
        let (workers, rate) = drain(&js, &stack, count).await;
        rates.insert(count, rate);
        if count == 2 {
            last = workers;
        } else {
            for worker in workers {
                worker.stop().await;
            }
        }
    }
    // Both at once: the load generator with 2 workers consuming.
    let (before, _) = backlog(&js, &stack).await;
    let mut done_before = 0;
    for worker in &last {
        done_before += handled(worker).await;
    }
    let cpu = Cpu::start();
    let start = Instant::now();
    let report = load(&stack, total).await.expect("load generator");
    let expected = before + report.delivered;
    loop {
        let mut done = 0;
        for worker in &last {
            done += handled(worker).await;
        }
        if done - done_before >= expected {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "pipeline stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "  simulator -> gateway -> JetStream -> 2 workers, all at once: {expected} events in {:.2} s = {:.0} events/s | cores: {}",
        start.elapsed().as_secs_f64(),
        expected as f64 / start.elapsed().as_secs_f64(),
        cpu.report(expected, "event")
    );
    for worker in last {
        worker.stop().await;
    }
    stack.stop().await;
}

#[tokio::main]
async fn main() {
    let seconds = env_u64("BENCH_SECONDS", 10).max(1);
    let rates: Vec<u64> = std::env::var("BENCH_RATES")
        .unwrap_or_else(|_| "50,200,1000".to_owned())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .filter(|r| *r > 0)
        .collect();
    let total = env_u64("BENCH_EVENTS", 100_000).max(1);
    let global_limit = std::env::var("BENCH_GLOBAL_LIMIT")
        .ok()
        .and_then(|v| v.trim().parse().ok());
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    println!(
        "aegis-workers pipeline benchmark, {} cores, load average at start {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if only.is_empty() || only == "interactions" {
        interactions(seconds, &rates, global_limit).await;
    }
    if only.is_empty() || only == "events" {
        events(total).await;
    }
}
