//! What the pipeline tests share: a whole Aegis stack against the simulator.

#![allow(dead_code, unreachable_pub)] // each test file uses its own part; `pub` for them all

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_gateway_proxy::{GatewayProxy, ShardState};
use aegis_protocol::{Namespace, PartitionCount, Topology};
use aegis_service::{CancellationToken, Env, NatsConfig};
use aegis_storage::StorageConfig;
use aegis_storage::testing::TestDatabase;
use aegis_workers::{Config, UserLimit, Worker};
use serde_json::{Value, json};

/// The whole pipeline on one machine: the simulator, rest-proxy, gateway-proxy, workers and a
/// scheduler, with a database and a NATS namespace of its own.
pub struct Stack {
    pub sim: discord_sim::SimHandle,
    pub rest: aegis_rest_proxy::Handle,
    pub gateway: GatewayProxy,
    pub workers: Vec<Worker>,
    pub scheduler: aegis_scheduler::Scheduler,
    pub db: TestDatabase,
    pub nats: NatsConfig,
    pub redis_prefix: String,
    pub options: Options,
}

/// What differs between stacks.
#[derive(Clone, Debug)]
pub struct Options {
    /// Workers started.
    pub workers: usize,
    /// Their per-user command budget.
    pub user_limit: Option<UserLimit>,
    /// Members per guild in the simulator.
    pub members: u32,
    /// When the workers defer an answer not sent yet.
    pub defer_after: Duration,
    /// Where transcripts go (default: a directory of this stack's own under the temp dir).
    pub transcripts: Option<aegis_transcripts::StoreConfig>,
    /// How long JetStream waits for a worker's ack before redelivering.
    pub ack_wait: Duration,
    /// Guilds in the simulator.
    pub guilds: u32,
    /// Guild-event partitions.
    pub partitions: u16,
    /// Interactions and jobs each worker handles at once.
    pub concurrency: usize,
    /// PostgreSQL connections per worker.
    pub pool_size: u32,
    /// Discord's global request limit per second, in the simulator and in rest-proxy (None:
    /// their default, 50 as on Discord).
    pub global_limit: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            workers: 1,
            user_limit: None,
            members: 6,
            defer_after: Duration::from_millis(1_500),
            transcripts: None,
            ack_wait: Duration::from_secs(30),
            guilds: 1,
            partitions: 2,
            concurrency: 8,
            pool_size: 4,
            global_limit: None,
        }
    }
}

pub async fn wait_for<F: FnMut() -> Fut, Fut: Future<Output = bool>>(what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Stack {
    pub async fn start() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(mut options: Options) -> Self {
        let mut sim_config = discord_sim::Config {
            guilds: options.guilds,
            members: options.members,
            ..discord_sim::Config::default()
        };
        let mut rest_env = Vec::new();
        if let Some(limit) = options.global_limit {
            sim_config.ratelimits.global_per_second = limit;
            rest_env.push(("AEGIS_REST_GLOBAL_LIMIT", limit.to_string()));
        }
        let sim = discord_sim::start(sim_config).await.expect("simulator");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let ns = format!("tcmd{}{}", std::process::id(), nanos % 1_000_000_000);
        let rest = aegis_rest_proxy::start(
            aegis_rest_proxy::Config::from_env(&Env::from_pairs(
                [
                    ("DISCORD_TOKEN", sim.token().to_owned()),
                    ("AEGIS_REST_DISCORD_URL", sim.http_url()),
                    ("AEGIS_REST_ADDR", "127.0.0.1:0".to_owned()),
                    ("AEGIS_REST_OPS_ADDR", "127.0.0.1:0".to_owned()),
                    ("AEGIS_REST_SINGLE_INSTANCE", "true".to_owned()),
                ]
                .into_iter()
                .chain(rest_env),
            ))
            .expect("rest-proxy config"),
        )
        .await
        .expect("rest-proxy");
        let nats = NatsConfig {
            url: "nats://127.0.0.1:4222".into(),
            topology: Topology {
                namespace: Namespace::new(&ns).expect("namespace"),
                partitions: PartitionCount::new(options.partitions.into()).expect("count"),
                events_max_age: Duration::from_secs(600),
                dead_letters_max_age: Duration::from_secs(600),
                ack_wait: options.ack_wait,
                ..Topology::default()
            },
        };
        let redis_prefix = format!("aegis-test:{ns}");
        options.transcripts.get_or_insert_with(|| {
            aegis_transcripts::StoreConfig::Directory(
                std::env::temp_dir()
                    .join("aegis-test-transcripts")
                    .join(&ns),
            )
        });
        let gateway = GatewayProxy::start(
            aegis_gateway_proxy::Config {
                token: sim.token().to_owned(),
                api_url: format!("http://{}", rest.addr()),
                identify_interval: Duration::from_millis(200),
                redis_prefix: redis_prefix.clone(),
                ops_addr: ([127, 0, 0, 1], 0).into(),
                session_save_interval: Duration::from_millis(200),
                nats: nats.clone(),
                ..aegis_gateway_proxy::Config::from_env(&Env::from_pairs([(
                    "DISCORD_TOKEN",
                    "unused",
                )]))
                .expect("defaults")
            },
            CancellationToken::new(),
        )
        .await
        .expect("gateway-proxy");
        wait_for("shard ready", || async {
            gateway
                .shards()
                .iter()
                .all(|s| s.state == ShardState::Ready)
        })
        .await;
        let db = TestDatabase::create().await.expect("test database");
        let mut workers = Vec::new();
        for _ in 0..options.workers {
            let worker = Self::worker(&sim, &rest, &db, &nats, &redis_prefix, &options);
            workers.push(worker.await);
        }
        let scheduler = aegis_scheduler::Scheduler::start(
            aegis_scheduler::Config {
                poll_interval: Duration::from_millis(100),
                claim_batch: 100,
                lease: Duration::from_secs(10),
                ops_addr: ([127, 0, 0, 1], 0).into(),
                retention: Vec::new(),
                retention_every: Duration::from_secs(3_600),
                storage: StorageConfig {
                    database_url: db.url.clone(),
                    pool_size: 2,
                    redis_url: "redis://127.0.0.1:6379".into(),
                    redis_prefix: "unused".into(),
                },
                nats: nats.clone(),
            },
            CancellationToken::new(),
        )
        .await
        .expect("scheduler");
        Self {
            sim,
            rest,
            gateway,
            workers,
            scheduler,
            db,
            nats,
            redis_prefix,
            options,
        }
    }

    /// Starts one more worker on this stack's services, with its options (not in `workers`).
    pub async fn add_worker(&self) -> Worker {
        Self::worker(
            &self.sim,
            &self.rest,
            &self.db,
            &self.nats,
            &self.redis_prefix,
            &self.options,
        )
        .await
    }

    /// Starts a worker on these services.
    pub async fn worker(
        sim: &discord_sim::SimHandle,
        rest: &aegis_rest_proxy::Handle,
        db: &TestDatabase,
        nats: &NatsConfig,
        redis_prefix: &str,
        options: &Options,
    ) -> Worker {
        Worker::start(
            Config {
                bot_user_id: sim.world().bot.id,
                concurrency: options.concurrency,
                max_deliveries: 3,
                lease_ttl: Duration::from_secs(2),
                rest_proxy: rest.addr().to_string(),
                register_commands: true,
                commands_guild: None,
                user_limit: options.user_limit,
                transcripts: options
                    .transcripts
                    .clone()
                    .expect("a transcript store (set by Stack::with)"),
                transcript_limits: aegis_transcripts::Limits::default(),
                transcripts_url: Some("https://aegis.test/t".into()),
                defer_after: options.defer_after,
                ops_addr: ([127, 0, 0, 1], 0).into(),
                storage: StorageConfig {
                    database_url: db.url.clone(),
                    pool_size: options.pool_size,
                    redis_url: "redis://127.0.0.1:6379".into(),
                    redis_prefix: redis_prefix.to_owned(),
                },
                nats: nats.clone(),
            },
            CancellationToken::new(),
        )
        .await
        .expect("worker")
    }

    /// (guild, text channel, owner, a member without roles, another member without roles).
    pub fn cast(&self) -> (u64, u64, u64, u64, u64) {
        let world = self.sim.world();
        let guild = world.guilds.values().next().expect("a guild");
        let channel = guild
            .channels
            .values()
            .find(|c| c.kind == 0)
            .expect("a text channel")
            .id;
        let bot = world.bot.id;
        let plain: Vec<u64> = guild
            .members
            .values()
            .filter(|m| m.roles.is_empty() && m.user_id != guild.owner_id && m.user_id != bot)
            .map(|m| m.user_id)
            .collect();
        assert!(
            plain.len() >= 2,
            "the seeded guild has members without roles"
        );
        (guild.id, channel, guild.owner_id, plain[0], plain[1])
    }

    pub fn warn(&self, channel: u64, invoker: u64, target: u64, reason: &str) -> u64 {
        let reason = json!({"name": "reason", "type": 3, "value": reason});
        self.command("warn", channel, invoker, target, vec![reason])
    }

    /// Injects `/name user:<target> ...extra` by `invoker`, with the target resolved as a member
    /// when they are one.
    pub fn command(
        &self,
        name: &str,
        channel: u64,
        invoker: u64,
        target: u64,
        extra: Vec<Value>,
    ) -> u64 {
        let mut options = vec![json!({"name": "user", "type": 6, "value": target.to_string()})];
        options.extend(extra);
        // Resolved as Discord does: the user, and their member (with roles) when they are one.
        let roles: Option<Vec<String>> = self
            .sim
            .world()
            .guilds
            .values()
            .find_map(|g| g.members.get(&target))
            .map(|m| m.roles.iter().map(u64::to_string).collect());
        let mut resolved = json!({
            "users": {target.to_string(): {"id": target.to_string(), "username": "target", "discriminator": "0", "avatar": null}},
        });
        if let Some(roles) = roles {
            resolved["members"] = json!({target.to_string(): {"roles": roles, "joined_at": "2024-01-01T00:00:00.000000+00:00", "permissions": "0", "flags": 0, "pending": false}});
        }
        let data =
            json!({"id": "1", "name": name, "type": 1, "options": options, "resolved": resolved});
        let (id, _token) = self
            .sim
            .inject_interaction(2, channel, invoker, data)
            .expect("interaction injected");
        id
    }

    pub async fn callback(&self, id: u64) -> Value {
        let mut found = Value::Null;
        wait_for("the interaction callback", || {
            let log = self.sim.interaction(id);
            let callback = log.and_then(|l| l.callback);
            let done = callback.is_some();
            if let Some(callback) = callback {
                found = callback;
            }
            async move { done }
        })
        .await;
        found
    }

    /// Injects `/name ...options` by `invoker`, with nothing resolved (commands without a user).
    pub fn run(&self, name: &str, channel: u64, invoker: u64, options: Vec<Value>) -> u64 {
        let data = json!({"id": "1", "name": name, "type": 1, "options": options});
        let (id, _token) = self
            .sim
            .inject_interaction(2, channel, invoker, data)
            .expect("interaction injected");
        id
    }

    /// Runs `/config` with `options` as the owner and waits for its answer.
    pub async fn configure(&self, options: Vec<Value>) {
        let (_, channel, owner, _, _) = self.cast();
        let id = self.run("config", channel, owner, options);
        let answer = self.callback(id).await;
        assert!(content(&answer).starts_with("Saved."), "{answer}");
    }

    /// A role of the guild by name.
    pub fn role(&self, name: &str) -> u64 {
        let world = self.sim.world();
        let guild = world.guilds.values().next().expect("a guild");
        guild
            .roles
            .values()
            .find(|r| r.name == name)
            .map(|r| r.id)
            .expect("the role")
    }

    /// A channel of the guild by name.
    pub fn channel(&self, name: &str) -> u64 {
        let world = self.sim.world();
        let guild = world.guilds.values().next().expect("a guild");
        guild
            .channels
            .values()
            .find(|c| c.name == name)
            .map(|c| c.id)
            .expect("the channel")
    }

    async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.db.url, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL");
        tokio::spawn(connection);
        client
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.client()
            .await
            .query_one(sql, &[])
            .await
            .expect("query")
            .get(0)
    }

    /// Waits until `sql` (a count) gives `expected`.
    pub async fn wait_count(&self, what: &str, sql: &str, expected: i64) {
        wait_for(what, || async { self.count(sql).await == expected }).await;
    }

    /// Runs a statement (moving a timer's due time, say).
    pub async fn execute(&self, sql: &str) -> u64 {
        self.client()
            .await
            .execute(sql, &[])
            .await
            .expect("statement")
    }

    /// The REST calls whose method is `method` and whose path contains `path`.
    pub fn calls(&self, method: &str, path: &str) -> Vec<discord_sim::RestCall> {
        self.sim
            .rest_calls()
            .into_iter()
            .filter(|c| c.method == method && c.path.contains(path))
            .collect()
    }

    pub async fn stop(self) {
        self.scheduler.stop().await;
        for worker in self.workers {
            worker.stop().await;
        }
        self.gateway.stop().await;
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

/// The text of an interaction callback.
pub fn content(callback: &Value) -> String {
    callback["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The body of `GET path` on an ops listener.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    http_request(addr, "GET", path).await
}

/// The whole response to a bodiless `method path` request.
pub async fn http_request(addr: std::net::SocketAddr, method: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("listener accepts");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("response read");
    String::from_utf8_lossy(&response).into_owned()
}

/// The value of the first metric line starting with `name` and containing every `label`.
pub async fn metric(addr: std::net::SocketAddr, name: &str, labels: &[&str]) -> f64 {
    http_get(addr, "/metrics")
        .await
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|label| l.contains(label)))
        .find_map(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}
