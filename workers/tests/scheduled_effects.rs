//! Two schedulers and two workers, 1,000 temp-bans running out at the same moment: every unban
//! reaches Discord (the simulator's call log) exactly once and is recorded as exactly one case.
//! scheduler -> JetStream -> workers -> rest-proxy -> discord-sim, on real PostgreSQL, Redis and
//! NATS (a database and a namespace of its own).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::{Namespace, PartitionCount, Topology};
use aegis_scheduler::Scheduler;
use aegis_service::{CancellationToken, Env, NatsConfig};
use aegis_storage::testing::TestDatabase;
use aegis_storage::{NewTimer, StorageConfig, Timers};
use aegis_workers::Worker;
use futures_util::StreamExt;
use twilight_http::request::AuditLogReason;
use twilight_model::id::Id;

use support::metric;

/// Bans running out at once.
const BANS: usize = 1_000;
/// Guilds they are spread over: the simulator, like Discord, allows 5 ban or unban requests per
/// 5 s per guild, so 1,000 unbans in one guild would take over 16 minutes. With 50 guilds the
/// global limit (50 requests/s per token) is the bound: about 20 s.
const GUILDS: u32 = 50;

struct Stack {
    sim: discord_sim::SimHandle,
    rest: aegis_rest_proxy::Handle,
    workers: Vec<Worker>,
    schedulers: Vec<Scheduler>,
    db: TestDatabase,
    nats: NatsConfig,
}

impl Stack {
    async fn start() -> Self {
        let sim = discord_sim::start(discord_sim::Config {
            guilds: GUILDS,
            members: 2,
            ..discord_sim::Config::default()
        })
        .await
        .expect("simulator");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let ns = format!("tsfx{}{}", std::process::id(), nanos % 1_000_000_000);
        let rest = aegis_rest_proxy::start(
            aegis_rest_proxy::Config::from_env(&Env::from_pairs([
                ("DISCORD_TOKEN", sim.token().to_owned()),
                ("AEGIS_REST_DISCORD_URL", sim.http_url()),
                ("AEGIS_REST_ADDR", "127.0.0.1:0".to_owned()),
                ("AEGIS_REST_OPS_ADDR", "127.0.0.1:0".to_owned()),
                ("AEGIS_REST_SINGLE_INSTANCE", "true".to_owned()),
            ]))
            .expect("rest-proxy config"),
        )
        .await
        .expect("rest-proxy");
        let nats = NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            topology: Topology {
                namespace: Namespace::new(&ns).expect("namespace"),
                partitions: PartitionCount::new(2).expect("count"),
                events_max_age: Duration::from_secs(600),
                dead_letters_max_age: Duration::from_secs(600),
                ..Topology::default()
            },
        };
        let db = TestDatabase::create().await.expect("test database");
        let storage = StorageConfig {
            database_url: db.url.clone(),
            pool_size: 8,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: format!("aegis-test:{ns}"),
        };
        let mut workers = Vec::new();
        for _ in 0..2 {
            let worker = Worker::start(
                aegis_workers::Config {
                    bot_user_id: sim.world().bot.id,
                    concurrency: 16,
                    max_deliveries: 5,
                    lease_ttl: Duration::from_secs(2),
                    rest_proxy: rest.addr().to_string(),
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
                    storage: storage.clone(),
                    nats: nats.clone(),
                },
                CancellationToken::new(),
            )
            .await
            .expect("worker");
            workers.push(worker);
        }
        let mut schedulers = Vec::new();
        for _ in 0..2 {
            let scheduler = Scheduler::start(
                aegis_scheduler::Config {
                    poll_interval: Duration::from_millis(100),
                    claim_batch: 100,
                    lease: Duration::from_secs(10),
                    ops_addr: ([127, 0, 0, 1], 0).into(),
                    retention: Vec::new(),
                    retention_every: Duration::from_secs(3_600),
                    storage: StorageConfig {
                        pool_size: 2,
                        ..storage.clone()
                    },
                    nats: nats.clone(),
                },
                CancellationToken::new(),
            )
            .await
            .expect("scheduler");
            schedulers.push(scheduler);
        }
        Self {
            sim,
            rest,
            workers,
            schedulers,
            db,
            nats,
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        let (client, connection) = tokio_postgres::connect(&self.db.url, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL");
        tokio::spawn(connection);
        client.query_one(sql, &[]).await.expect("query").get(0)
    }

    async fn stop(self) {
        for scheduler in self.schedulers {
            scheduler.stop().await;
        }
        for worker in self.workers {
            worker.stop().await;
        }
        self.rest.shutdown().await;
        let js =
            async_nats::jetstream::new(async_nats::connect(&self.nats.url).await.expect("NATS"));
        for stream in self.nats.topology.streams() {
            let _ = js.delete_stream(&stream.name).await;
        }
        self.db.drop_database().await.expect("drop");
        self.sim.shutdown().await.expect("simulator stops");
    }
}

#[tokio::test]
async fn two_schedulers_and_two_workers_lift_a_thousand_simultaneous_bans_once_each() {
    let stack = Stack::start().await;
    let guilds: Vec<u64> = stack.sim.world().guilds.keys().copied().collect();
    assert_eq!(guilds.len(), GUILDS as usize);

    // 1,000 users (not members: Discord bans any existing user), user i in guild i % 50.
    let base = discord_sim::snowflake::snowflake(
        u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_millis(),
        )
        .expect("ms"),
        0,
    );
    let banned: Vec<(u64, u64)> = (0..BANS)
        .map(|i| (guilds[i % guilds.len()], base + i as u64 + 1))
        .collect();
    stack.sim.with_world(|world| {
        for (i, (_, user)) in banned.iter().enumerate() {
            world.users.insert(
                *user,
                discord_sim::world::User {
                    id: *user,
                    username: format!("raider_{i}"),
                    global_name: None,
                    bot: false,
                },
            );
        }
    });

    // The bans, through the simulator's REST with the bot token; rate limits are off for the
    // set-up only, then back to Discord's (which also clears every bucket).
    stack.sim.set_ratelimits(discord_sim::RateLimitConfig {
        enabled: false,
        ..discord_sim::RateLimitConfig::default()
    });
    let http = twilight_http::Client::builder()
        .proxy(stack.sim.addr().to_string(), true)
        .token(stack.sim.token().to_owned())
        .ratelimiter(None)
        .timeout(Duration::from_secs(10))
        .build();
    futures_util::stream::iter(banned.iter().copied())
        .map(|(guild, user)| {
            let http = &http;
            async move {
                http.create_ban(Id::new(guild), Id::new(user))
                    .reason("temp-ban")
                    .await
                    .expect("banned");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    stack
        .sim
        .set_ratelimits(discord_sim::RateLimitConfig::default());
    let bans_in_world =
        |world: &discord_sim::World| world.bans.values().map(|b| b.len()).sum::<usize>();
    assert_eq!(bans_in_world(&stack.sim.world()), BANS);

    // 1,000 unban timers due at the same moment, committed together while both schedulers run.
    let database = stack.db.connect(2).await.expect("pool");
    let mut conn = database.pool().get().await.expect("connection");
    let tx = conn.transaction().await.expect("transaction");
    let due = SystemTime::now();
    for (i, (guild, user)) in banned.iter().enumerate() {
        Timers::schedule_in(
            &tx,
            &NewTimer {
                kind: "unban".into(),
                guild_id: Some(*guild),
                payload: serde_json::json!({ "user_id": user.to_string(), "case": i + 1 }),
                due_at: due,
                dedupe_key: format!("unban:{guild}:{user}"),
            },
        )
        .await
        .expect("timer");
    }
    tx.commit().await.expect("committed");
    drop(conn);
    let started = tokio::time::Instant::now();

    let cases = "SELECT count(*) FROM cases WHERE kind = 'unban' AND source = 'scheduled'";
    let deadline = started + Duration::from_secs(90);
    loop {
        let done = stack
            .count("SELECT count(*) FROM scheduled_actions WHERE status = 'done'")
            .await;
        if done == BANS as i64 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{done} of {BANS} timers done, {} unban cases",
            stack.count(cases).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = started.elapsed();
    // Anything still in flight (a redelivery) would show up now.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The call log: one DELETE per banned user, each answered 204.
    let mut unbans: BTreeMap<(u64, u64), Vec<u16>> = BTreeMap::new();
    for call in stack.sim.rest_calls() {
        if call.method != "DELETE" {
            continue;
        }
        let path = call.path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        if let [.., "guilds", guild, "bans", user] = segments.as_slice() {
            let key = (
                guild.parse().expect("guild id"),
                user.parse().expect("user id"),
            );
            unbans.entry(key).or_default().push(call.status);
        }
    }
    let expected: BTreeSet<(u64, u64)> = banned.iter().copied().collect();
    let seen: BTreeSet<(u64, u64)> = unbans.keys().copied().collect();
    assert_eq!(
        seen, expected,
        "an unban for every ban, and for nothing else"
    );
    let not_once: Vec<_> = unbans
        .iter()
        .filter(|(_, statuses)| statuses.as_slice() != [204])
        .collect();
    assert!(
        not_once.is_empty(),
        "{} users did not get exactly one DELETE answered 204: {:?}",
        not_once.len(),
        not_once.iter().take(10).collect::<Vec<_>>()
    );
    assert_eq!(
        bans_in_world(&stack.sim.world()),
        0,
        "the bans list is empty"
    );
    for guild in &guilds {
        let listed = http
            .bans(Id::new(*guild))
            .await
            .expect("bans")
            .models()
            .await
            .expect("ban list");
        assert!(listed.is_empty(), "guild {guild} still lists bans");
    }

    // PostgreSQL: one scheduled unban case per user, every timer done.
    assert_eq!(stack.count(cases).await, BANS as i64);
    assert_eq!(
        stack
            .count(
                "SELECT count(DISTINCT (guild_id, target_id)) FROM cases WHERE kind = 'unban' AND source = 'scheduled'"
            )
            .await,
        BANS as i64
    );

    let mut claimed = Vec::new();
    for scheduler in &stack.schedulers {
        claimed.push(metric(scheduler.ops_addr(), "aegis_scheduler_claimed_total", &[]).await);
    }
    let (mut handled, mut retried) = (Vec::new(), 0.0);
    for worker in &stack.workers {
        let addr = worker.ops_addr();
        let name = "aegis_worker_messages_total";
        handled.push(metric(addr, name, &["source=\"jobs\"", "outcome=\"ok\""]).await);
        retried += metric(addr, name, &["source=\"jobs\"", "outcome=\"retried\""]).await;
    }
    eprintln!(
        "{BANS} unbans in {GUILDS} guilds done {elapsed:?} after the timers were due; \
         claimed per scheduler {claimed:?}, jobs handled per worker {handled:?}, retried \
         {retried}, simulator 429s {:?}",
        stack.sim.counters().rest_429_by_scope
    );
    stack.stop().await;
}
