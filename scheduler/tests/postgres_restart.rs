//! PostgreSQL crashes and comes back while a scheduler is publishing: nothing is lost, nothing is
//! published twice, and the scheduler keeps running.
//!
//! The shared server on 5432 is never touched: the test runs its own PostgreSQL 15 from
//! `/usr/lib/postgresql/15/bin` (as the `postgres` user when run as root, since initdb and
//! postgres refuse root), in a temporary directory, on a free loopback port. NATS is the real
//! one, with a namespace of its own. A trigger holds the scheduler between publishing a batch and
//! marking it, so the crash lands in the window that matters every time (see `HOLD_MARKING`).

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::{Envelope, Job, Namespace, PartitionCount, Topology};
use aegis_scheduler::{Config, Scheduler};
use aegis_service::{CancellationToken, NatsConfig};
use aegis_storage::{Database, NewTimer, StorageConfig, Timers};
use async_nats::jetstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A private PostgreSQL server: a data directory under a temporary directory, listening on
/// 127.0.0.1 and a socket directory of its own. Dropping it stops it and deletes everything.
struct PrivatePostgres {
    root: PathBuf,
    port: u16,
    /// Run the binaries through `runuser -u postgres` (we are root).
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Creates a cluster (trust authentication, `fsync=off`) and starts it.
    fn start_new() -> Self {
        for binary in ["initdb", "pg_ctl", "postgres"] {
            assert!(
                Path::new(PG_BIN).join(binary).is_file(),
                "PostgreSQL 15 server binaries are needed for this test: {PG_BIN}/{binary} is \
                 missing (scripts/services installs the postgresql package)"
            );
        }
        let as_postgres = String::from_utf8_lossy(&run(Command::new("id").arg("-u")).stdout)
            .trim()
            .eq("0");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let root = std::env::temp_dir().join(format!(
            "aegis-pg-{}-{}",
            std::process::id(),
            nanos % 1_000_000_000
        ));
        std::fs::create_dir_all(root.join("sockets")).expect("temporary directory");
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root));
        }
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("its address").port()
        };
        let server = Self {
            root,
            port,
            as_postgres,
        };
        let data = server.data_dir();
        server.pg("initdb", |c| {
            c.arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ])
        });
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\nmax_connections = 50\n",
            server.root.join("sockets").display()
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("postgresql.conf written");
        server.start();
        server
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// `postgres://postgres@127.0.0.1:{port}` (no database).
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Starts the server on its port and waits until it accepts connections.
    fn start(&self) {
        let (data, log) = (self.data_dir(), self.log_file());
        self.pg("pg_ctl", |c| {
            c.args(["start", "-w", "-t", "60", "-D"])
                .arg(&data)
                .arg("-l")
                .arg(&log)
        });
    }

    /// Kills the server the way a crash does (`pg_ctl stop -m immediate`: no checkpoint, crash
    /// recovery at the next start).
    fn crash(&self) {
        let data = self.data_dir();
        self.pg("pg_ctl", |c| {
            c.args(["stop", "-w", "-m", "immediate", "-D"]).arg(&data)
        });
    }

    /// A command running one of the server binaries, as `postgres` when we are root.
    fn command(&self, binary: &str) -> Command {
        let path = Path::new(PG_BIN).join(binary);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.current_dir(&self.root);
        command
    }

    /// Runs one of the server binaries; panics with its output and the server log if it fails.
    fn pg(&self, binary: &str, args: impl FnOnce(&mut Command) -> &mut Command) {
        let mut command = self.command(binary);
        args(&mut command);
        let output = command.output().expect("PostgreSQL binary runs");
        assert!(
            output.status.success(),
            "{binary} failed ({}):\n{}{}\nserver log:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.log_file()).unwrap_or_default()
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(self.data_dir())
            .output();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `f` on the blocking pool, so the scheduler keeps running on the test's runtime meanwhile.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// `GET path` on an ops listener: status code and body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("ops listener accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("response read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    (status, text)
}

async fn http_status(addr: SocketAddr, path: &str) -> u16 {
    http_get(addr, path).await.0
}

/// The sum of a metric's samples on `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    http_get(addr, "/metrics")
        .await
        .1
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// Messages stored in the jobs stream (0 before the stream exists).
async fn stored_jobs(js: &jetstream::Context, nats: &NatsConfig) -> u64 {
    match js.get_stream(nats.topology.jobs_stream()).await {
        Ok(mut stream) => stream.info().await.expect("info").state.messages,
        Err(_) => 0,
    }
}

/// Every job in the jobs stream, in stream order.
async fn jobs(js: &jetstream::Context, nats: &NatsConfig) -> Vec<Job> {
    let mut stream = js
        .get_stream(nats.topology.jobs_stream())
        .await
        .expect("jobs stream");
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

/// A test device on the private server: while the test holds advisory lock `HOLD` (session
/// level), marking a timer dispatched waits for it. Claims and everything else run freely, so a
/// scheduler stops right between "published to JetStream" and "marked in PostgreSQL", the window
/// where a crash must neither lose a timer nor publish it twice.
const HOLD: i64 = 4242;
const HOLD_MARKING: &str = "
    CREATE FUNCTION test_hold_marking() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock_shared(4242);
        RETURN NEW;
    END $$;
    CREATE TRIGGER test_hold_marking BEFORE UPDATE ON scheduled_actions
        FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status = 'dispatched')
        EXECUTE FUNCTION test_hold_marking();";

#[tokio::test]
async fn postgres_restarted_mid_run_loses_nothing_and_publishes_nothing_twice() {
    const TIMERS: usize = 500;
    let pg = blocking(PrivatePostgres::start_new).await;
    let database_url = format!("{}/aegis", pg.url());
    Database::create_if_missing(&database_url)
        .await
        .expect("database created");
    let database = Database::connect(&database_url, 2).await.expect("migrated");
    database
        .pool()
        .get()
        .await
        .expect("connection")
        .batch_execute(HOLD_MARKING)
        .await
        .expect("trigger");
    let timers = Timers::new(database.pool().clone());

    // 500 timers due over the next 3 seconds.
    let start = SystemTime::now() + Duration::from_millis(300);
    let mut scheduled = BTreeSet::new();
    for i in 0..TIMERS {
        let id = timers
            .schedule(&NewTimer {
                kind: "unban".into(),
                guild_id: Some(1),
                payload: serde_json::json!({ "user_id": i.to_string(), "case": 1 }),
                due_at: start + Duration::from_millis(6 * i as u64),
                dedupe_key: format!("t{i}"),
            })
            .await
            .expect("scheduled");
        scheduled.insert(id.to_string());
    }

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let nats = NatsConfig {
        url: "nats://127.0.0.1:4222".into(),
        topology: Topology {
            namespace: Namespace::new(format!(
                "tpgr{}{}",
                std::process::id(),
                nanos % 1_000_000_000
            ))
            .expect("namespace"),
            partitions: PartitionCount::new(2).expect("count"),
            events_max_age: Duration::from_secs(600),
            dead_letters_max_age: Duration::from_secs(600),
            ..Topology::default()
        },
    };
    let js = jetstream::new(async_nats::connect(&nats.url).await.expect("NATS"));
    // A short lease, well inside the duplicate window (2 minutes, which start-up from the
    // environment insists on), so the timers published but not marked before the crash are
    // claimed again soon after the restart, and their second copies dropped by JetStream.
    let lease = Duration::from_secs(3);
    assert!(lease < nats.topology.duplicate_window);
    let scheduler = Scheduler::start(
        Config {
            poll_interval: Duration::from_millis(50),
            claim_batch: 25,
            lease,
            ops_addr: ([127, 0, 0, 1], 0).into(),
            retention: Vec::new(),
            retention_every: Duration::from_secs(3_600),
            storage: StorageConfig {
                database_url: database_url.clone(),
                pool_size: 4,
                redis_url: "redis://127.0.0.1:6379".into(),
                redis_prefix: "unused".into(),
            },
            nats: nats.clone(),
        },
        CancellationToken::new(),
    )
    .await
    .expect("scheduler starts");
    let ops = scheduler.ops_addr();

    // Once 100 jobs are out, hold the next marking: the scheduler publishes a batch and waits.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while stored_jobs(&js, &nats).await < 100 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduler published nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let holder = database.pool().get().await.expect("connection");
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&HOLD])
        .await
        .expect("lock");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = holder
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'",
                &[],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduler never reached the marking of a batch"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Crash PostgreSQL in that window, keep it down for 2 s, start it again on the same port.
    let pg = blocking(move || {
        pg.crash();
        pg
    })
    .await;
    drop(holder);
    drop(timers);
    drop(database);
    let at_crash = stored_jobs(&js, &nats).await;
    assert!(
        at_crash < TIMERS as u64,
        "PostgreSQL crashed after every job was out ({at_crash}): the test proves nothing"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = stored_jobs(&js, &nats).await;
    let pg = blocking(move || {
        pg.start();
        pg
    })
    .await;
    let restarted_at = tokio::time::Instant::now();

    // Every timer fires, once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stored_jobs(&js, &nats).await < TIMERS as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {TIMERS} timers published after the restart (at the crash: {at_crash})",
            stored_jobs(&js, &nats).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restarted = restarted_at.elapsed();
    // Past a lease: the batch published but not marked before the crash has been claimed and
    // published again by now.
    tokio::time::sleep(lease + Duration::from_millis(500)).await;
    let jobs = jobs(&js, &nats).await;
    let ids: BTreeSet<String> = jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids.len(), jobs.len(), "a timer published twice");
    assert_eq!(ids, scheduled, "every timer published as a job");

    // The scheduler survived the outage: ready again, every timer marked, and it did publish the
    // interrupted batch a second time (JetStream dropped the copies: the stream has 500).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while http_status(ops, "/readyz").await != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduler is not ready again after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let database = Database::connect(&database_url, 1)
        .await
        .expect("PostgreSQL back");
    let conn = database.pool().get().await.expect("connection");
    let count = |sql: &'static str| {
        let conn = &conn;
        async move {
            let n: i64 = conn.query_one(sql, &[]).await.expect("query").get(0);
            n
        }
    };
    assert_eq!(
        count("SELECT count(*) FROM scheduled_actions WHERE status <> 'dispatched'").await,
        0,
        "every timer marked dispatched"
    );
    let claimed_again = count("SELECT count(*) FROM scheduled_actions WHERE attempts > 1").await;
    assert!(
        claimed_again > 0,
        "the batch published before the crash was claimed again"
    );
    let fired = metric(ops, "aegis_scheduler_fired_total").await;
    let duplicates = metric(ops, "aegis_scheduler_duplicates_total").await;
    let reclaimed = metric(ops, "aegis_scheduler_reclaimed_total").await;
    assert_eq!(fired, TIMERS as f64, "each timer fired once");
    assert!(
        duplicates >= claimed_again as f64 && reclaimed >= claimed_again as f64,
        "the interrupted batch was claimed and published again ({duplicates} dropped as duplicates)"
    );
    drop(conn);
    drop(database);
    eprintln!(
        "jobs stored at the crash: {at_crash}, after 2 s down: {during}; published but not \
         marked at the crash, so claimed and published again: {claimed_again} ({duplicates} dropped by JetStream); \
         all {TIMERS} stored {restarted:?} after the restart"
    );

    scheduler.stop().await;
    for stream in nats.topology.streams() {
        let _ = js.delete_stream(&stream.name).await;
    }
    blocking(move || drop(pg)).await;
}
