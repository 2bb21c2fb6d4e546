//! Timers fire as jobs exactly once, in due order, across schedulers, crashes and cancels.
//! Real PostgreSQL (a database per test) and NATS (a namespace per test).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::{Envelope, Job, Namespace, PartitionCount, Topology};
use aegis_scheduler::{Config, Scheduler};
use aegis_service::{CancellationToken, NatsConfig};
use aegis_storage::testing::TestDatabase;
use aegis_storage::{NewTimer, StorageConfig, Timers};
use async_nats::jetstream;

struct Setup {
    db: TestDatabase,
    timers: Timers,
    nats: NatsConfig,
    js: jetstream::Context,
}

impl Setup {
    async fn new(tag: &str) -> Self {
        let db = TestDatabase::create().await.expect("test database");
        let timers = Timers::new(db.connect(4).await.expect("pool").pool().clone());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let ns = format!("t{tag}{}{}", std::process::id(), nanos % 1_000_000_000);
        let nats = NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            topology: Topology {
                namespace: Namespace::new(ns).expect("namespace"),
                partitions: PartitionCount::new(2).expect("count"),
                events_max_age: Duration::from_secs(600),
                dead_letters_max_age: Duration::from_secs(600),
                ..Topology::default()
            },
        };
        let js = jetstream::new(async_nats::connect(&nats.url).await.expect("NATS"));
        Self {
            db,
            timers,
            nats,
            js,
        }
    }

    async fn scheduler(&self, lease: Duration) -> Scheduler {
        let config = Config {
            poll_interval: Duration::from_millis(100),
            claim_batch: 200,
            lease,
            ops_addr: ([127, 0, 0, 1], 0).into(),
            retention: Vec::new(),
            retention_every: Duration::from_secs(3600),
            storage: StorageConfig {
                database_url: self.db.url.clone(),
                pool_size: 4,
                redis_url: "redis://127.0.0.1:6379".into(),
                redis_prefix: "unused".into(),
            },
            nats: self.nats.clone(),
        };
        Scheduler::start(config, CancellationToken::new())
            .await
            .expect("scheduler starts")
    }

    fn timer(key: &str, due_at: SystemTime) -> NewTimer {
        NewTimer {
            kind: "unban".into(),
            guild_id: Some(1),
            payload: serde_json::json!({ "user_id": "42", "key": key }),
            due_at,
            dedupe_key: key.to_owned(),
        }
    }

    /// Every job in the jobs stream, in stream order.
    async fn jobs(&self) -> Vec<Job> {
        let Ok(mut stream) = self.js.get_stream(self.nats.topology.jobs_stream()).await else {
            return Vec::new();
        };
        let state = stream.info().await.expect("info").state.clone();
        let mut jobs = Vec::new();
        if state.messages == 0 {
            return jobs;
        }
        for seq in state.first_sequence..=state.last_sequence {
            if let Ok(message) = stream.get_raw_message(seq).await {
                jobs.push(Job::decode(&message.payload).expect("a Job"));
            }
        }
        jobs
    }

    async fn wait_jobs(&self, count: usize, limit: Duration) -> Vec<Job> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let jobs = self.jobs().await;
            if jobs.len() >= count || tokio::time::Instant::now() > deadline {
                return jobs;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn finish(self) {
        for stream in self.nats.topology.streams() {
            let _ = self.js.delete_stream(&stream.name).await;
        }
        self.db.drop_database().await.expect("drop");
    }
}

#[tokio::test]
async fn two_schedulers_fire_a_thousand_simultaneous_timers_exactly_once() {
    let setup = Setup::new("thou").await;
    let now = SystemTime::now();
    for i in 0..1_000 {
        setup
            .timers
            .schedule(&Setup::timer(&format!("t{i}"), now))
            .await
            .expect("scheduled");
    }
    let (a, b) = (
        setup.scheduler(Duration::from_secs(10)).await,
        setup.scheduler(Duration::from_secs(10)).await,
    );
    let jobs = setup.wait_jobs(1_000, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let jobs_after = setup.jobs().await;
    assert_eq!(jobs_after.len(), 1_000, "exactly one job per timer");
    let ids: BTreeSet<String> = jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids.len(), 1_000);
    assert_eq!(
        setup.timers.due_count().await.expect("count"),
        0,
        "all marked dispatched"
    );
    a.stop().await;
    b.stop().await;
    setup.finish().await;
}

#[tokio::test]
async fn a_claim_abandoned_before_publishing_fires_after_its_lease() {
    let setup = Setup::new("lease").await;
    setup
        .timers
        .schedule(&Setup::timer("crash", SystemTime::now()))
        .await
        .expect("scheduled");
    // A scheduler claims it and dies before publishing.
    let claimed = setup
        .timers
        .claim_due(10, Duration::from_secs(2))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let started = tokio::time::Instant::now();
    let scheduler = setup.scheduler(Duration::from_secs(10)).await;
    let jobs = setup.wait_jobs(1, Duration::from_secs(10)).await;
    assert_eq!(jobs.len(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "fired before the lease ran out"
    );
    assert_eq!(jobs[0].attempt, 2, "the second claim published it");
    scheduler.stop().await;
    setup.finish().await;
}

#[tokio::test]
async fn overdue_timers_fire_at_start_up_in_due_order() {
    let setup = Setup::new("over").await;
    let now = SystemTime::now();
    // Due between 1 and 20 minutes ago, set in a shuffled order.
    for minutes in [7_u64, 3, 19, 1, 12, 20, 5, 16, 9, 2] {
        let due = now - Duration::from_secs(60 * minutes);
        setup
            .timers
            .schedule(&Setup::timer(&format!("m{minutes}"), due))
            .await
            .expect("scheduled");
    }
    let scheduler = setup.scheduler(Duration::from_secs(10)).await;
    let jobs = setup.wait_jobs(10, Duration::from_secs(10)).await;
    let due: Vec<i64> = jobs.iter().map(|j| j.due_at_ms).collect();
    let mut sorted = due.clone();
    sorted.sort_unstable();
    assert_eq!(due, sorted, "published oldest first");
    assert_eq!(due.len(), 10);
    scheduler.stop().await;
    setup.finish().await;
}

#[tokio::test]
async fn cancelled_timers_never_fire_and_a_reschedule_replaces_the_expiry() {
    let setup = Setup::new("canc").await;
    let soon = SystemTime::now() + Duration::from_millis(300);
    setup
        .timers
        .schedule(&Setup::timer("cancelled", soon))
        .await
        .expect("scheduled");
    assert!(setup.timers.cancel("cancelled").await.expect("cancel"));
    let later = SystemTime::now() + Duration::from_secs(3_600);
    let id = setup
        .timers
        .schedule(&Setup::timer("moved", later))
        .await
        .expect("scheduled");
    let moved = setup
        .timers
        .schedule(&Setup::timer("moved", soon))
        .await
        .expect("rescheduled");
    assert_eq!(id, moved, "the same timer, moved");
    let scheduler = setup.scheduler(Duration::from_secs(10)).await;
    let jobs = setup.wait_jobs(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let jobs_after = setup.jobs().await;
    assert_eq!(jobs_after.len(), 1, "{jobs:?}");
    assert_eq!(jobs_after[0].id, moved.to_string());
    scheduler.stop().await;
    setup.finish().await;
}
