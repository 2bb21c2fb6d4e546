//! Events reach JetStream exactly once through every kind of reconnect Discord can cause.

mod support;

use std::time::Duration;

use aegis_gateway_proxy::ShardState;
use support::*;

/// Something the simulator does to a shard's connection.
type Disrupt = fn(&discord_sim::SimHandle);

#[tokio::test]
async fn every_sequence_number_lands_once_across_resumes() {
    let sim = discord_sim::start(sim_config(1, 2))
        .await
        .expect("simulator starts");
    let ns = unique("res");
    let config = proxy_config(&sim, &ns);
    let topology = config.nats.topology.clone();
    let js = jetstream().await;
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    let guild = first_guild(&sim);
    dispatch_messages(&sim, guild, 50);

    // op 7, op 9 (resumable), close 4000 and a dropped TCP connection: each must resume, and the
    // events dispatched while the shard is away are replayed and published too.
    let disruptions: [(&str, Disrupt); 4] = [
        ("op 7", |sim| {
            sim.reconnect(0);
        }),
        ("op 9 true", |sim| {
            sim.invalidate_session(0, true);
        }),
        ("close 4000", |sim| {
            sim.close(0, 4000);
        }),
        ("TCP drop", |sim| {
            sim.drop_connection(0);
        }),
    ];
    for (i, (name, disrupt)) in disruptions.iter().enumerate() {
        disrupt(&sim);
        dispatch_messages(&sim, guild, 30);
        let expected = (i + 1) as u64;
        wait_for(name, Duration::from_secs(15), || async {
            sim.counters().resumes >= expected && proxy.shards()[0].state == ShardState::Ready
        })
        .await;
        dispatch_messages(&sim, guild, 20);
    }
    assert_eq!(sim.counters().identifies, 1, "every reconnect resumed");
    let events = assert_every_seq_once(&js, &topology, &sim, 0).await;
    assert!(events.iter().any(|e| e.event == "RESUMED"));
    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}

#[tokio::test]
async fn a_backlog_of_over_a_thousand_events_is_replayed_without_loss() {
    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("blog");
    let config = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    let guild = first_guild(&sim);
    // Drop the connection, then queue a backlog while the proxy is reconnecting.
    sim.drop_connection(0);
    dispatch_messages(&sim, guild, 1_500);
    wait_for("resume", Duration::from_secs(15), || async {
        sim.counters().resumes >= 1
    })
    .await;
    assert_every_seq_once(&js, &config.nats.topology, &sim, 0).await;
    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}

#[tokio::test]
async fn an_invalid_session_makes_the_shard_identify_again() {
    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("inv");
    let config = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    let first_session = proxy.shards()[0].session_id.clone();
    sim.invalidate_session(0, false);
    // Discord asks for a 1-5 s pause before identifying again.
    wait_for("a new session", Duration::from_secs(15), || async {
        let shard = &proxy.shards()[0];
        shard.state == ShardState::Ready && shard.session_id != first_session
    })
    .await;
    assert_eq!(sim.counters().identifies, 2);
    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}

#[tokio::test]
async fn a_restarted_proxy_resumes_its_stored_session() {
    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("rst");
    let config = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let guild = first_guild(&sim);

    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    dispatch_messages(&sim, guild, 40);
    wait_for("acks", Duration::from_secs(10), || async {
        let last = sim.counters().shards.get(&0).map_or(0, |s| s.last_seq);
        proxy.shards()[0].acked_seq >= last
    })
    .await;
    proxy.stop().await;

    // Discord keeps the session; what happens while the proxy is down is replayed on resume.
    dispatch_messages(&sim, guild, 40);
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    assert_eq!(
        sim.counters().identifies,
        1,
        "the restart resumed instead of identifying"
    );
    assert_eq!(sim.counters().resumes, 1);
    dispatch_messages(&sim, guild, 10);
    assert_every_seq_once(&js, &config.nats.topology, &sim, 0).await;
    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}

#[tokio::test]
async fn every_transport_compression_delivers_every_event() {
    use aegis_gateway_proxy::Compression;
    for compression in [Compression::Zlib, Compression::Zstd, Compression::None] {
        let sim = discord_sim::start(sim_config(1, 2))
            .await
            .expect("simulator starts");
        let ns = unique("cmp");
        let config = aegis_gateway_proxy::Config {
            compression,
            ..proxy_config(&sim, &ns)
        };
        let js = jetstream().await;
        let proxy = start_proxy(config.clone()).await;
        wait_ready(&proxy, Duration::from_secs(10)).await;
        dispatch_messages(&sim, first_guild(&sim), 200);
        sim.reconnect(0);
        dispatch_messages(&sim, first_guild(&sim), 200);
        assert_every_seq_once(&js, &config.nats.topology, &sim, 0).await;
        proxy.stop().await;
        cleanup(&js, &config).await;
        sim.shutdown().await.expect("simulator stops");
    }
}

#[tokio::test]
async fn a_zombied_connection_is_detected_and_resumed() {
    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("zmb");
    let config = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    // Discord's side goes silent: no dispatches, no heartbeat ACKs, the socket stays open.
    assert_eq!(sim.freeze(0), 1);
    dispatch_messages(&sim, first_guild(&sim), 25);
    wait_for(
        "a zombie reconnect and resume",
        Duration::from_secs(10),
        || async {
            let shard = &proxy.shards()[0];
            sim.counters().resumes >= 1 && shard.state == ShardState::Ready && shard.reconnects >= 1
        },
    )
    .await;
    assert_eq!(proxy.shards()[0].last_error.as_deref(), Some("zombie"));
    assert_every_seq_once(&js, &config.nats.topology, &sim, 0).await;
    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}
