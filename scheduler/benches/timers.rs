//! Benchmark: how late timers fire with 100,000 pending, and how fast 100,000 due at once drain.
//! Real PostgreSQL and NATS on this machine; one scheduler in this process.
//!
//! Run: `cargo bench -p aegis-scheduler --bench timers` (BENCH_TIMERS, default 100000).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aegis_protocol::{Envelope, Job, Namespace, PartitionCount, Topology};
use aegis_scheduler::{Config, Scheduler};
use aegis_service::{CancellationToken, NatsConfig};
use aegis_storage::testing::TestDatabase;
use aegis_storage::{StorageConfig, Timers};
use async_nats::jetstream;
use futures_util::StreamExt;

fn setup_names(tag: &str) -> NatsConfig {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    NatsConfig {
        url: "nats://127.0.0.1:4222".into(),
        topology: Topology {
            namespace: Namespace::new(format!("b{tag}{}", nanos % 1_000_000_000)).unwrap(),
            partitions: PartitionCount::new(2).unwrap(),
            ..Topology::default()
        },
    }
}

fn config(db: &TestDatabase, nats: &NatsConfig) -> Config {
    Config {
        poll_interval: Duration::from_millis(250),
        claim_batch: 500,
        lease: Duration::from_secs(30),
        ops_addr: ([127, 0, 0, 1], 0).into(),
        retention: Vec::new(),
        retention_every: Duration::from_secs(3600),
        storage: StorageConfig {
            database_url: db.url.clone(),
            pool_size: 8,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: "unused".into(),
        },
        nats: nats.clone(),
    }
}

/// Inserts `count` timers due from `start_in` over `spread`, in one statement.
async fn insert_timers(db: &TestDatabase, count: i64, start_in: Duration, spread: Duration) {
    let database = db.connect(2).await.unwrap();
    let conn = database.pool().get().await.unwrap();
    let start_ms = i64::try_from(start_in.as_millis()).unwrap();
    let spread_ms = i64::try_from(spread.as_millis()).unwrap();
    conn.execute(
        "INSERT INTO scheduled_actions (kind, guild_id, payload, due_at, dedupe_key)
         SELECT 'unban', 1, jsonb_build_object('user_id', i::text),
                now() + make_interval(secs => ($2::bigint + (i * $3::bigint) / $1::bigint) / 1000.0), 'bench:' || i
         FROM generate_series(1, $1::bigint) AS i",
        &[&count, &start_ms, &spread_ms],
    )
    .await
    .unwrap();
}

/// Lateness of every published job (JetStream's publish time minus the due time), in ms.
async fn lateness(nats: &NatsConfig, count: usize) -> Vec<f64> {
    let js = jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    let stream = js.get_stream(nats.topology.jobs_stream()).await.unwrap();
    // The workers' consumer (the jobs stream is a work queue: one consumer per subject).
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_consumer(Topology::WORKERS_CONSUMER)
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut late = Vec::with_capacity(count);
    while late.len() < count {
        let message = messages.next().await.unwrap().unwrap();
        let job = Job::decode(&message.payload).unwrap();
        let published_ms =
            (message.info().unwrap().published.unix_timestamp_nanos() / 1_000_000) as i64;
        late.push((published_ms - job.due_at_ms) as f64);
        message.ack().await.unwrap();
    }
    late
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

async fn cleanup(nats: &NatsConfig, db: TestDatabase) {
    let js = jetstream::new(async_nats::connect(&nats.url).await.unwrap());
    for stream in nats.topology.streams() {
        let _ = js.delete_stream(&stream.name).await;
    }
    db.drop_database().await.unwrap();
}

#[tokio::main]
async fn main() {
    let count: i64 = std::env::var("BENCH_TIMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);

    // 1. Lateness: `count` timers pending, due over the next 60 s from 5 s on.
    let db = TestDatabase::create().await.unwrap();
    let nats = setup_names("late");
    insert_timers(&db, count, Duration::from_secs(5), Duration::from_secs(60)).await;
    let scheduler = Scheduler::start(config(&db, &nats), CancellationToken::new())
        .await
        .unwrap();
    let mut late = lateness(&nats, usize::try_from(count).unwrap()).await;
    scheduler.stop().await;
    late.sort_by(f64::total_cmp);
    println!(
        "lateness with {count} pending timers due over 60 s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&late, 0.50),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(0.0)
    );
    cleanup(&nats, db).await;

    // 2. Drain: `count` timers all due now.
    let db = TestDatabase::create().await.unwrap();
    let nats = setup_names("drain");
    insert_timers(&db, count, Duration::ZERO, Duration::ZERO).await;
    let timers = Timers::new(db.connect(2).await.unwrap().pool().clone());
    let started = Instant::now();
    let scheduler = Scheduler::start(config(&db, &nats), CancellationToken::new())
        .await
        .unwrap();
    while timers.due_count().await.unwrap() > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    scheduler.stop().await;
    println!(
        "drain: {count} timers due at once dispatched in {elapsed:.2} s = {:.0} actions/s (batch 500, one scheduler)",
        count as f64 / elapsed
    );
    cleanup(&nats, db).await;
}
