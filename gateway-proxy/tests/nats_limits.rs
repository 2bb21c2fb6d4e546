//! A dispatch larger than the NATS server accepts (`max_payload`) is dropped with an error and a
//! metric, and the shard goes on: nothing after it waits. Uses a private nats-server with a
//! small `max_payload`.

mod support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn metrics(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("ops listener");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("response");
    text
}

#[tokio::test]
async fn a_dispatch_over_max_payload_is_dropped_and_the_shard_goes_on() {
    let port = free_port();
    let store = std::env::temp_dir().join(unique("natslimit"));
    std::fs::create_dir_all(&store).expect("store dir");
    let conf = store.join("nats.conf");
    std::fs::write(&conf, "max_payload: 16384\n").expect("config written");
    let conf_arg = conf.to_str().expect("utf-8 path").to_owned();
    let mut nats = nats_server(port, &store.join("js"), &["-c", &conf_arg]);
    wait_port(port).await;
    let url = format!("nats://127.0.0.1:{port}");

    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("big");
    let config = proxy_config_on_nats(&sim, &ns, &url);
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    let guild = first_guild(&sim);
    dispatch_messages(&sim, guild, 5);
    let big = serde_json::json!({
        "id": "42",
        "guild_id": guild.to_string(),
        "channel_id": "1",
        "content": "x".repeat(40_000),
    });
    sim.dispatch("MESSAGE_CREATE", Some(guild), &big);
    dispatch_messages(&sim, guild, 5);

    let js = async_nats::jetstream::new(async_nats::connect(&url).await.expect("NATS"));
    let topology = config.nats.topology.clone();
    wait_for(
        "the ten small messages to be stored",
        Duration::from_secs(15),
        || {
            let (js, topology) = (js.clone(), topology.clone());
            async move {
                stored_events(&js, &topology)
                    .await
                    .iter()
                    .filter(|e| e.event == "MESSAGE_CREATE")
                    .count()
                    == 10
            }
        },
    )
    .await;
    let events = stored_events(&js, &topology).await;
    assert_eq!(assert_messages_in_reading_order(&events), 10);
    assert!(
        events.iter().all(|e| e.payload.len() < 16_384),
        "the oversized dispatch was not stored"
    );
    let text = metrics(proxy.ops_addr()).await;
    assert!(
        text.contains("aegis_gateway_events_too_large_total 1"),
        "counted: {text}"
    );
    proxy.stop().await;
    nats.start_kill().expect("stop NATS");
    let _ = nats.wait().await;
    let _ = std::fs::remove_dir_all(&store);
    sim.shutdown().await.expect("simulator stops");
}
