//! Per-guild order: a shard's dispatches are stored in the order they were read, at full speed
//! (where the NATS client's queue is handed more than the runtime's budget allows in one turn).

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn a_shards_dispatches_are_stored_in_reading_order_at_full_speed() {
    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("ord");
    let config = proxy_config(&sim, &ns);
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    let guild = first_guild(&sim);
    dispatch_messages(&sim, guild, 3_000);
    let js = jetstream().await;
    let events = assert_every_seq_once(&js, &config.nats.topology, &sim, 0).await;
    assert_eq!(assert_messages_in_reading_order(&events), 3_000);
    proxy.stop().await;
    sim.shutdown().await.expect("simulator stops");
}
