//! NATS stopped and restarted mid-stream: the proxy stops reading, sends again what the broken
//! connection did not confirm, and loses, doubles and reorders nothing.
//! Uses a private nats-server (its own port and store) so the shared one keeps serving others.

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn a_nats_restart_mid_stream_loses_nothing() {
    let port = free_port();
    let store = std::env::temp_dir().join(unique("natsstore"));
    let mut nats = nats_server(port, &store, &[]);
    wait_port(port).await;
    let url = format!("nats://127.0.0.1:{port}");

    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("out");
    let config = aegis_gateway_proxy::Config {
        publish_window: 64,
        ..proxy_config_on_nats(&sim, &ns, &url)
    };
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    let guild = first_guild(&sim);
    dispatch_messages(&sim, guild, 50);

    // NATS goes away; events keep coming from Discord.
    nats.start_kill().expect("stop NATS");
    nats.wait().await.expect("NATS stopped");
    dispatch_messages(&sim, guild, 300);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        proxy.shards()[0].backpressured,
        "the shard stops reading while NATS is down"
    );

    let mut nats = nats_server(port, &store, &[]);
    wait_port(port).await;
    dispatch_messages(&sim, guild, 50);

    let js = async_nats::jetstream::new(async_nats::connect(&url).await.expect("NATS is back"));
    let events = assert_every_seq_once(&js, &config.nats.topology, &sim, 0).await;
    // Per-guild order: in the stream, one session's sequence numbers only go up, including
    // across the connection that broke (what it lost goes again before anything after it).
    assert_messages_in_reading_order(&events);
    proxy.stop().await;
    nats.start_kill().expect("stop NATS");
    let _ = nats.wait().await;
    let _ = std::fs::remove_dir_all(&store);
    sim.shutdown().await.expect("simulator stops");
}
