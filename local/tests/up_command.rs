//! The `aegis-local` binary behind `scripts/up`: starts, reports ready, stops cleanly on SIGTERM,
//! and refuses a bad configuration with one line.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_aegis-local");

fn unique_namespace() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("tlocal{}{}", std::process::id(), nanos % 1_000_000_000)
}

async fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr)
        .await
        .expect("ops listener accepts");
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request written");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response read");
    response
}

/// Removes the streams a test run made (best effort: they are empty and harmless if left).
async fn delete_streams(namespace: &str) {
    let Ok(client) = async_nats::connect("nats://127.0.0.1:4222").await else {
        return;
    };
    let js = async_nats::jetstream::new(client);
    let namespace = aegis_protocol::Namespace::new(namespace).expect("valid namespace");
    let topology = aegis_protocol::Topology {
        namespace,
        ..Default::default()
    };
    for stream in topology.streams() {
        let _ = js.delete_stream(&stream.name).await;
    }
}

#[tokio::test]
async fn starts_reports_ready_and_stops_on_sigterm() {
    let namespace = unique_namespace();
    // Its own database name on the test server; aegis-local creates and migrates it.
    let database = format!("aegis_{namespace}");
    let database_url = format!("{}/{database}", aegis_storage::testing::server_url());
    let mut child = Command::new(BIN)
        .env("AEGIS_DATABASE_URL", &database_url)
        .env("AEGIS_LOCAL_OPS_ADDR", "127.0.0.1:0")
        .env("AEGIS_SIM_ADDR", "127.0.0.1:0")
        .env("AEGIS_GATEWAY_OPS_ADDR", "127.0.0.1:0")
        .env("AEGIS_WORKER_OPS_ADDR", "127.0.0.1:0")
        .env("AEGIS_SCHEDULER_OPS_ADDR", "127.0.0.1:0")
        .env("AEGIS_REST_ADDR", "127.0.0.1:0")
        .env("AEGIS_REST_OPS_ADDR", "127.0.0.1:0")
        .env(
            "AEGIS_REST_REDIS_PREFIX",
            format!("aegis-test:{namespace}:ratelimit:"),
        )
        .env("AEGIS_REDIS_PREFIX", format!("aegis-test:{namespace}"))
        .env("AEGIS_NAMESPACE", &namespace)
        .env("AEGIS_PARTITIONS", "2")
        .env("AEGIS_EVENTS_MAX_AGE", "10m")
        .env("AEGIS_DEAD_LETTERS_MAX_AGE", "10m")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("aegis-local starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();

    let (ops_addr, gateway_addr) = tokio::time::timeout(Duration::from_secs(30), async {
        let mut ops = None;
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            let address = |rest: &str, suffix: &str| {
                let url = rest.split_whitespace().next().expect("an address follows");
                url.trim_start_matches("http://")
                    .trim_end_matches(suffix)
                    .to_owned()
            };
            if let Some(rest) = line.strip_prefix("Ops endpoints") {
                ops = Some(address(rest, "/metrics"));
            }
            if let Some(rest) = line.strip_prefix("gateway-proxy") {
                let ops = ops.take().expect("ops line comes first");
                return (ops, address(rest, "/shards"));
            }
        }
        panic!("aegis-local exited before printing where to look");
    })
    .await
    .expect("aegis-local is up within 30 s");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let ready = http_get(&ops_addr, "/readyz").await;
    // gateway-proxy runs against the simulator: its shard gets READY.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let shards = http_get(&gateway_addr, "/shards").await;
        if shards.contains(r#""state":"ready""#) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gateway shard never ready: {shards}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let metrics = http_get(&ops_addr, "/metrics").await;
    assert!(
        metrics.contains(r#"aegis_build_info{service="local""#),
        "{metrics}"
    );

    let pid = child.id().expect("running child has a pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("stops within 15 s of SIGTERM")
        .expect("exit status");
    assert!(status.success(), "exit status {status}");
    delete_streams(&namespace).await;
    let migrated = aegis_storage::testing::TestDatabase {
        name: database,
        url: database_url,
    };
    let pool = migrated
        .connect(1)
        .await
        .expect("the database aegis-local created");
    let conn = pool.pool().get().await.expect("connection");
    let cases: i64 = conn
        .query_one("SELECT count(*) FROM cases", &[])
        .await
        .expect("migrated")
        .get(0);
    assert_eq!(cases, 0);
    drop(conn);
    drop(pool);
    migrated.drop_database().await.expect("drop");
}

#[tokio::test]
async fn a_bad_variable_stops_start_up_with_one_line() {
    let output = Command::new(BIN)
        .env("AEGIS_PARTITIONS", "zero")
        .output()
        .await
        .expect("aegis-local runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        r#"aegis-local: AEGIS_PARTITIONS="zero" is invalid: expected a whole number from 1 to 1024"#
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
