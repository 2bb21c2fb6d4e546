//! The whole event path: discord-sim -> gateway-proxy -> JetStream -> workers -> PostgreSQL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_gateway_proxy::{GatewayProxy, ShardState};
use aegis_protocol::{Envelope, Namespace, PartitionCount, Topology};
use aegis_service::{CancellationToken, NatsConfig};
use aegis_storage::StorageConfig;
use aegis_storage::testing::TestDatabase;
use aegis_workers::{Config, Worker};

struct Pipeline {
    sim: discord_sim::SimHandle,
    proxy: GatewayProxy,
    db: TestDatabase,
    nats: NatsConfig,
    redis_prefix: String,
}

fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("t{tag}{}{}", std::process::id(), nanos % 1_000_000_000)
}

async fn wait_for<F: FnMut() -> Fut, Fut: Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut check: F,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Pipeline {
    async fn start(tag: &str, guilds: u32) -> Self {
        let sim = discord_sim::start(discord_sim::Config {
            guilds,
            members: 3,
            identify_interval: Duration::from_millis(200),
            ..discord_sim::Config::default()
        })
        .await
        .expect("simulator");
        let ns = unique(tag);
        let nats = NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            topology: Topology {
                namespace: Namespace::new(&ns).expect("namespace"),
                partitions: PartitionCount::new(8).expect("count"),
                events_max_age: Duration::from_secs(600),
                dead_letters_max_age: Duration::from_secs(600),
                ack_wait: Duration::from_secs(5),
                ..Topology::default()
            },
        };
        let redis_prefix = format!("aegis-test:{ns}");
        let proxy_config = aegis_gateway_proxy::Config {
            token: sim.token().to_owned(),
            api_url: sim.http_url(),
            shard_total: aegis_gateway_proxy::ShardTotal::Auto,
            shard_range: aegis_gateway_proxy::ShardRange::All,
            intents: aegis_gateway_proxy::DEFAULT_INTENTS,
            compression: aegis_gateway_proxy::Compression::Zlib,
            large_threshold: 250,
            identify_queue: aegis_gateway_proxy::QueueKind::Redis,
            identify_interval: Duration::from_millis(200),
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: redis_prefix.clone(),
            ops_addr: ([127, 0, 0, 1], 0).into(),
            excluded_events: Default::default(),
            publish_window: 1024,
            session_save_interval: Duration::from_millis(200),
            nats: nats.clone(),
        };
        let proxy = GatewayProxy::start(proxy_config, CancellationToken::new())
            .await
            .expect("gateway-proxy");
        wait_for("shard ready", Duration::from_secs(10), || async {
            proxy.shards().iter().all(|s| s.state == ShardState::Ready)
        })
        .await;
        let db = TestDatabase::create().await.expect("test database");
        Self {
            sim,
            proxy,
            db,
            nats,
            redis_prefix,
        }
    }

    async fn worker(&self) -> Worker {
        let config = Config {
            bot_user_id: self.sim.world().bot.id,
            concurrency: 8,
            max_deliveries: 3,
            lease_ttl: Duration::from_millis(1_500),
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
            storage: StorageConfig {
                database_url: self.db.url.clone(),
                pool_size: 4,
                redis_url: "redis://127.0.0.1:6379".into(),
                redis_prefix: self.redis_prefix.clone(),
            },
            nats: self.nats.clone(),
        };
        Worker::start(config, CancellationToken::new())
            .await
            .expect("worker starts")
    }

    fn guilds(&self) -> Vec<u64> {
        self.sim.world().guilds.keys().copied().collect()
    }

    /// A moderator (not the bot) acted in Discord's UI: the audit log entry Discord dispatches.
    fn native_action(&self, guild: u64, entry_id: u64, action_type: u8, moderator: u64) {
        let entry = serde_json::json!({
            "id": entry_id.to_string(),
            "guild_id": guild.to_string(),
            "user_id": moderator.to_string(),
            "target_id": "555000000000000001",
            "action_type": action_type,
            "reason": "raiding",
            "changes": [],
        });
        self.sim
            .dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", Some(guild), &entry);
    }

    async fn count(&self, sql: &str) -> i64 {
        let (client, connection) = tokio_postgres::connect(&self.db.url, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL");
        tokio::spawn(connection);
        client.query_one(sql, &[]).await.expect("query").get(0)
    }

    async fn stop(self) {
        self.proxy.stop().await;
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
async fn a_native_ban_becomes_one_case_and_the_bots_own_none() {
    let pipeline = Pipeline::start("nat", 1).await;
    let worker = pipeline.worker().await;
    let guild = pipeline.guilds()[0];
    let bot = pipeline.sim.world().bot.id;
    pipeline.native_action(guild, 9_001, 22, 777);
    pipeline.native_action(guild, 9_001, 22, 777); // the same entry again
    pipeline.native_action(guild, 9_002, 22, bot); // Aegis's own ban: its command records it
    pipeline.native_action(guild, 9_003, 20, 777); // a kick
    wait_for("two cases", Duration::from_secs(15), || async {
        pipeline.count("SELECT count(*) FROM cases").await >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pipeline.count("SELECT count(*) FROM cases").await, 2);
    assert_eq!(
        pipeline
            .count("SELECT count(*) FROM cases WHERE source = 'native' AND kind = 'ban' AND case_number = 1 AND moderator_id = 777 AND reason = 'raiding'")
            .await,
        1
    );
    assert_eq!(
        pipeline
            .count("SELECT count(*) FROM cases WHERE kind = 'kick' AND case_number = 2")
            .await,
        1
    );
    worker.stop().await;
    pipeline.stop().await;
}

#[tokio::test]
async fn partitions_spread_over_workers_and_move_when_one_dies() {
    let pipeline = Pipeline::start("mov", 12).await;
    let first = pipeline.worker().await;
    let second = pipeline.worker().await;
    wait_for("an even split", Duration::from_secs(15), || async {
        first.partitions().len() == 4 && second.partitions().len() == 4
    })
    .await;
    let guilds = pipeline.guilds();
    for (i, guild) in guilds.iter().enumerate() {
        pipeline.native_action(*guild, 10_000 + i as u64, 22, 777);
    }
    first.abort().await; // a crash: its leases are not given back
    for (i, guild) in guilds.iter().enumerate() {
        pipeline.native_action(*guild, 20_000 + i as u64, 20, 777);
    }
    wait_for(
        "the survivor to hold every partition",
        Duration::from_secs(15),
        || async { second.partitions().len() == 8 },
    )
    .await;
    let expected = 2 * guilds.len() as i64;
    wait_for("every event handled", Duration::from_secs(20), || async {
        pipeline.count("SELECT count(*) FROM cases").await == expected
    })
    .await;
    // Per guild, the ban (dispatched first) got case 1 and the kick case 2: order held.
    assert_eq!(
        pipeline.count("SELECT count(*) FROM cases WHERE (kind = 'ban' AND case_number = 1) OR (kind = 'kick' AND case_number = 2)").await,
        expected
    );
    second.stop().await;
    pipeline.stop().await;
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_does_not_block_its_partition() {
    let pipeline = Pipeline::start("dl", 1).await;
    let worker = pipeline.worker().await;
    let guild = pipeline.guilds()[0];
    let poison = serde_json::json!({"guild_id": guild.to_string(), "action_type": "not a number"});
    pipeline
        .sim
        .dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", Some(guild), &poison);
    pipeline.native_action(guild, 7, 22, 777);
    wait_for(
        "the later event handled",
        Duration::from_secs(15),
        || async { pipeline.count("SELECT count(*) FROM cases").await == 1 },
    )
    .await;
    let js =
        async_nats::jetstream::new(async_nats::connect(&pipeline.nats.url).await.expect("NATS"));
    let mut dead = js
        .get_stream(pipeline.nats.topology.dead_letters_stream())
        .await
        .expect("dead letters");
    let state = dead.info().await.expect("info").state.clone();
    assert_eq!(state.messages, 1);
    let letter = dead
        .get_raw_message(state.first_sequence)
        .await
        .expect("the dead letter");
    let letter = aegis_protocol::DeadLetter::decode(&letter.payload).expect("a DeadLetter");
    assert!(
        letter
            .error
            .contains("GUILD_AUDIT_LOG_ENTRY_CREATE payload"),
        "{}",
        letter.error
    );
    assert!(letter.original_subject.contains(".events.guild."));
    worker.stop().await;
    pipeline.stop().await;
}
