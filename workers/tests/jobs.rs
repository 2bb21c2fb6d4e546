//! Scheduler -> JetStream -> workers: jobs run once, in the transaction that completes their timer.
//! Real PostgreSQL (a database per test), NATS (a namespace per test) and Redis.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::{Namespace, PartitionCount, Topology};
use aegis_scheduler::Scheduler;
use aegis_service::{CancellationToken, NatsConfig};
use aegis_storage::testing::TestDatabase;
use aegis_storage::{
    CaseKind, CaseSource, Cases, NewCase, NewTimer, RetainedTable, StorageConfig, Timers,
};
use aegis_workers::Worker;

struct Setup {
    db: TestDatabase,
    nats: NatsConfig,
    storage: StorageConfig,
}

impl Setup {
    async fn new(tag: &str) -> Self {
        let db = TestDatabase::create().await.expect("test database");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let ns = format!("t{tag}{}{}", std::process::id(), nanos % 1_000_000_000);
        let nats = NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            topology: Topology {
                namespace: Namespace::new(&ns).expect("namespace"),
                partitions: PartitionCount::new(2).expect("count"),
                events_max_age: Duration::from_secs(600),
                dead_letters_max_age: Duration::from_secs(600),
                ack_wait: Duration::from_secs(5),
                ..Topology::default()
            },
        };
        let storage = StorageConfig {
            database_url: db.url.clone(),
            pool_size: 4,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: format!("aegis-test:{ns}"),
        };
        Self { db, nats, storage }
    }

    async fn scheduler(&self, retention: Vec<(RetainedTable, Option<Duration>)>) -> Scheduler {
        let config = aegis_scheduler::Config {
            poll_interval: Duration::from_millis(100),
            claim_batch: 100,
            lease: Duration::from_secs(10),
            ops_addr: ([127, 0, 0, 1], 0).into(),
            retention,
            retention_every: Duration::from_secs(3_600),
            storage: self.storage.clone(),
            nats: self.nats.clone(),
        };
        Scheduler::start(config, CancellationToken::new())
            .await
            .expect("scheduler")
    }

    async fn worker(&self) -> Worker {
        let config = aegis_workers::Config {
            bot_user_id: 1,
            concurrency: 8,
            max_deliveries: 2,
            lease_ttl: Duration::from_secs(2),
            rest_proxy: "127.0.0.1:9".into(),
            register_commands: false,
            commands_guild: None,
            user_limit: None,
            transcripts: aegis_transcripts::StoreConfig::Directory(
                std::env::temp_dir().join("aegis-test-transcripts-unused"),
            ),
            transcript_limits: aegis_transcripts::Limits::default(),
            transcripts_url: None,
            defer_after: Duration::from_millis(1_500),
            ops_addr: ([127, 0, 0, 1], 0).into(),
            storage: self.storage.clone(),
            nats: self.nats.clone(),
        };
        Worker::start(config, CancellationToken::new())
            .await
            .expect("worker")
    }

    async fn query(&self, sql: &str) -> i64 {
        let (client, connection) = tokio_postgres::connect(&self.db.url, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL");
        tokio::spawn(connection);
        client.query_one(sql, &[]).await.expect("query").get(0)
    }

    async fn wait(&self, what: &str, sql: &str, expected: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let value = self.query(sql).await;
            if value == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: {sql} is {value}, expected {expected}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn finish(self) {
        let js =
            async_nats::jetstream::new(async_nats::connect(&self.nats.url).await.expect("NATS"));
        for stream in self.nats.topology.streams() {
            let _ = js.delete_stream(&stream.name).await;
        }
        self.db.drop_database().await.expect("drop");
    }
}

#[tokio::test]
async fn a_warning_expires_when_its_timer_fires() {
    let setup = Setup::new("warn").await;
    let pool = setup.db.connect(2).await.expect("pool").pool().clone();
    let (case, _) = Cases::new(pool.clone())
        .create(&NewCase {
            guild_id: 1,
            kind: CaseKind::Warn,
            target_id: 2,
            moderator_id: 3,
            reason: Some("spam".into()),
            source: CaseSource::Command,
            expires_at: None,
            dedupe_key: "interaction:1".into(),
        })
        .await
        .expect("case");
    Timers::new(pool)
        .schedule(&NewTimer {
            kind: "warn_expiry".into(),
            guild_id: Some(1),
            payload: serde_json::json!({ "case_id": case.id }),
            due_at: SystemTime::now() + Duration::from_millis(300),
            dedupe_key: format!("warn_expiry:{}", case.id),
        })
        .await
        .expect("timer");
    let (scheduler, worker) = (setup.scheduler(Vec::new()).await, setup.worker().await);
    setup
        .wait(
            "the warning expired",
            "SELECT count(*) FROM cases WHERE active",
            0,
        )
        .await;
    setup
        .wait(
            "the timer done",
            "SELECT count(*) FROM scheduled_actions WHERE status = 'done'",
            1,
        )
        .await;
    worker.stop().await;
    scheduler.stop().await;
    setup.finish().await;
}

#[tokio::test]
async fn retention_purges_old_rows_and_sets_its_next_run() {
    let setup = Setup::new("ret").await;
    let database = setup.db.connect(2).await.expect("pool");
    let conn = database.pool().get().await.expect("connection");
    conn.batch_execute(
        "INSERT INTO command_usage (guild_id, user_id, command, used_at) VALUES
           (1, 2, 'warn', now() - interval '100 days'),
           (1, 2, 'warn', now() - interval '91 days'),
           (1, 2, 'ban', now() - interval '3 days');
         INSERT INTO cases (guild_id, case_number, kind, target_id, moderator_id, source, dedupe_key, created_at) VALUES
           (1, 1, 'warn', 2, 3, 'command', 'old', now() - interval '800 days'),
           (1, 2, 'warn', 2, 3, 'command', 'new', now() - interval '10 days');
         INSERT INTO case_notes (case_id, author_id, body)
           SELECT id, 3, 'a note' FROM cases WHERE dedupe_key = 'old'",
    )
    .await
    .expect("usage rows");
    drop(conn);
    let retention = vec![
        (
            RetainedTable::CommandUsage,
            Some(Duration::from_secs(90 * 86_400)),
        ),
        (
            RetainedTable::Cases,
            Some(Duration::from_secs(730 * 86_400)),
        ),
    ];
    let (scheduler, worker) = (setup.scheduler(retention).await, setup.worker().await);
    setup
        .wait("old usage purged", "SELECT count(*) FROM command_usage", 1)
        .await;
    setup
        .wait(
            "cases past two years purged with their notes",
            "SELECT count(*) FROM cases WHERE dedupe_key = 'new' AND NOT EXISTS (SELECT 1 FROM case_notes)",
            1,
        )
        .await;
    setup
        .wait("one case left", "SELECT count(*) FROM cases", 1)
        .await;
    setup
        .wait(
            "the next run set an hour ahead",
            "SELECT count(*) FROM scheduled_actions WHERE kind = 'retention' AND status = 'pending' AND due_at > now() + interval '50 minutes'",
            2,
        )
        .await;
    worker.stop().await;
    scheduler.stop().await;
    setup.finish().await;
}

#[tokio::test]
async fn an_unknown_job_is_dead_lettered_and_its_timer_marked_dead() {
    let setup = Setup::new("dead").await;
    let pool = setup.db.connect(2).await.expect("pool").pool().clone();
    Timers::new(pool)
        .schedule(&NewTimer {
            kind: "teleport".into(),
            guild_id: None,
            payload: serde_json::json!({}),
            due_at: SystemTime::now(),
            dedupe_key: "teleport:1".into(),
        })
        .await
        .expect("timer");
    let (scheduler, worker) = (setup.scheduler(Vec::new()).await, setup.worker().await);
    setup
        .wait("the timer marked dead", "SELECT count(*) FROM scheduled_actions WHERE status = 'dead' AND last_error LIKE '%unknown job kind%'", 1)
        .await;
    let js = async_nats::jetstream::new(async_nats::connect(&setup.nats.url).await.expect("NATS"));
    let mut dead = js
        .get_stream(setup.nats.topology.dead_letters_stream())
        .await
        .expect("dead letters");
    assert_eq!(dead.info().await.expect("info").state.messages, 1);
    worker.stop().await;
    scheduler.stop().await;
    setup.finish().await;
}

#[tokio::test]
async fn a_timer_cancelled_after_it_fired_has_no_effect() {
    let setup = Setup::new("late").await;
    let pool = setup.db.connect(2).await.expect("pool").pool().clone();
    let timers = Timers::new(pool.clone());
    let (case, _) = Cases::new(pool)
        .create(&NewCase {
            guild_id: 1,
            kind: CaseKind::Warn,
            target_id: 2,
            moderator_id: 3,
            reason: None,
            source: CaseSource::Command,
            expires_at: None,
            dedupe_key: "interaction:2".into(),
        })
        .await
        .expect("case");
    timers
        .schedule(&NewTimer {
            kind: "warn_expiry".into(),
            guild_id: Some(1),
            payload: serde_json::json!({ "case_id": case.id }),
            due_at: SystemTime::now(),
            dedupe_key: "warn_expiry:x".into(),
        })
        .await
        .expect("timer");
    // The job is published, then the timer is cancelled before any worker runs it.
    let scheduler = setup.scheduler(Vec::new()).await;
    setup
        .wait(
            "dispatched",
            "SELECT count(*) FROM scheduled_actions WHERE status = 'dispatched'",
            1,
        )
        .await;
    let conn = setup.db.connect(1).await.expect("pool");
    conn.pool()
        .get()
        .await
        .expect("connection")
        .execute("UPDATE scheduled_actions SET status = 'cancelled'", &[])
        .await
        .expect("cancel");
    let worker = setup.worker().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        setup.query("SELECT count(*) FROM cases WHERE active").await,
        1,
        "the warning still counts"
    );
    worker.stop().await;
    scheduler.stop().await;
    setup.finish().await;
}
