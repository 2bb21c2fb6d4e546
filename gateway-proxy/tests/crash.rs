//! A gateway-proxy killed without warning resumes on restart, and JetStream holds every event
//! exactly once: what Discord replays is dropped by message id.

mod support;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aegis_gateway_proxy::{SessionStore, StoredSession};
use support::*;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_gateway-proxy");

fn spawn_proxy(sim: &discord_sim::SimHandle, ns: &str) -> Child {
    Command::new(BIN)
        .env("DISCORD_TOKEN", sim.token())
        .env("AEGIS_GATEWAY_API_URL", sim.http_url())
        .env("AEGIS_GATEWAY_OPS_ADDR", "127.0.0.1:0")
        .env("AEGIS_GATEWAY_IDENTIFY_INTERVAL", "500ms")
        .env("AEGIS_GATEWAY_SESSION_SAVE_INTERVAL", "100ms")
        .env("AEGIS_REDIS_PREFIX", format!("aegis-test:{ns}"))
        .env("AEGIS_NAMESPACE", ns)
        .env("AEGIS_PARTITIONS", "4")
        .env("AEGIS_EVENTS_MAX_AGE", "10m")
        .env("AEGIS_DEAD_LETTERS_MAX_AGE", "10m")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("gateway-proxy starts")
}

#[tokio::test]
async fn kill_9_mid_stream_then_restart_loses_and_doubles_nothing() {
    let sim = Arc::new(
        discord_sim::start(sim_config(1, 2))
            .await
            .expect("simulator starts"),
    );
    let ns = unique("kill");
    let config = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let guild = first_guild(&sim);

    let mut child = spawn_proxy(&sim, &ns);
    wait_for("the first identify", Duration::from_secs(20), || async {
        !sim.sessions().is_empty()
    })
    .await;

    // A steady stream of events, through the crash and the restart.
    let streaming = Arc::new(AtomicBool::new(true));
    let stream_task = {
        let (sim, streaming) = (Arc::clone(&sim), Arc::clone(&streaming));
        tokio::spawn(async move {
            while streaming.load(Ordering::Relaxed) {
                dispatch_messages(&sim, guild, 5);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.start_kill().expect("SIGKILL sent");
    child.wait().await.expect("killed");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut child = spawn_proxy(&sim, &ns);
    wait_for("the restart to resume", Duration::from_secs(20), || async {
        sim.counters().resumes >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    streaming.store(false, Ordering::Relaxed);
    stream_task.await.expect("stream task");

    assert_eq!(
        sim.counters().identifies,
        1,
        "the restarted process resumed"
    );
    assert_every_seq_once(&js, &config.nats.topology, &sim, 0).await;
    child.start_kill().expect("stop");
    let _ = child.wait().await;
    cleanup(&js, &config).await;
}

#[tokio::test]
async fn events_replayed_from_an_old_stored_sequence_are_stored_once() {
    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("dup");
    let config = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let guild = first_guild(&sim);

    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    dispatch_messages(&sim, guild, 100);
    wait_for("acks", Duration::from_secs(10), || async {
        let last = sim.counters().shards.get(&0).map_or(0, |s| s.last_seq);
        proxy.shards()[0].acked_seq >= last
    })
    .await;
    let session_id = proxy.shards()[0].session_id.clone().expect("a session");
    let resume_url = sim.gateway_url();
    proxy.stop().await;

    // As if the process had died before saving for a while: the stored sequence is far behind
    // what JetStream already holds, so Discord replays events that are already published.
    let redis = redis::aio::ConnectionManager::new(redis::Client::open(REDIS_URL).expect("url"))
        .await
        .expect("Redis answers");
    SessionStore::new(redis, &config.redis_prefix, 1)
        .save(
            0,
            &StoredSession {
                session_id,
                seq: 3,
                resume_url,
            },
        )
        .await
        .expect("session stored");

    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    assert_eq!(sim.counters().resumes, 1);
    assert_every_seq_once(&js, &config.nats.topology, &sim, 0).await;
    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}
