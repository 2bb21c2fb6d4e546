//! Gateway commands from NATS reach the owning shard's WebSocket and are answered; excluded event
//! types are not published.

mod support;

use std::time::Duration;

use aegis_protocol::{Envelope, GatewayCommand, PROTOCOL_VERSION, headers};
use bytes::Bytes;
use futures_util::StreamExt;
use support::*;

async fn send_command(
    client: &async_nats::Client,
    config: &aegis_gateway_proxy::Config,
    command: GatewayCommand,
) -> serde_json::Value {
    let subjects = config.nats.topology.subjects();
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.expect("subscribe");
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert(headers::REPLY_TO, inbox.as_str());
    let js = async_nats::jetstream::new(client.clone());
    js.publish_with_headers(
        subjects.gateway_command(command.shard),
        hdrs,
        command.encode().expect("encodes"),
    )
    .await
    .expect("publish")
    .await
    .expect("stored");
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
        .await
        .expect("an answer within 10 s")
        .expect("a message");
    serde_json::from_slice(&reply.payload).expect("JSON answer")
}

#[tokio::test]
async fn a_member_request_is_sent_answered_and_its_chunks_published() {
    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("cmd");
    let config = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let client = async_nats::connect(NATS_URL).await.expect("NATS");
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    let guild = first_guild(&sim);

    let request = GatewayCommand {
        v: PROTOCOL_VERSION,
        shard: 0,
        op: 8,
        data: Bytes::from(format!(r#"{{"guild_id":"{guild}","query":"","limit":0}}"#)),
    };
    let answer = send_command(&client, &config, request).await;
    assert_eq!(answer, serde_json::json!({"sent": true}));
    wait_for(
        "GUILD_MEMBERS_CHUNK in JetStream",
        Duration::from_secs(10),
        || async {
            stored_events(&js, &config.nats.topology)
                .await
                .iter()
                .any(|e| e.event == "GUILD_MEMBERS_CHUNK" && e.guild_id == Some(guild))
        },
    )
    .await;

    // An extension may not make a shard IDENTIFY: refused, with the reason.
    let identify = GatewayCommand {
        v: PROTOCOL_VERSION,
        shard: 0,
        op: 2,
        data: Bytes::from_static(b"{}"),
    };
    let answer = send_command(&client, &config, identify).await;
    assert_eq!(answer["sent"], false);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("opcode 2")),
        "{answer}"
    );
    assert_eq!(sim.counters().identifies, 1);

    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}

#[tokio::test]
async fn excluded_event_types_are_not_published() {
    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("exc");
    let config = aegis_gateway_proxy::Config {
        excluded_events: ["TYPING_START".to_owned()].into_iter().collect(),
        ..proxy_config(&sim, &ns)
    };
    let js = jetstream().await;
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    let guild = first_guild(&sim);
    let typing = serde_json::json!({"guild_id": guild.to_string(), "channel_id": "1", "user_id": "2", "timestamp": 1});
    sim.dispatch("TYPING_START", Some(guild), &typing);
    dispatch_messages(&sim, guild, 1);
    wait_for(
        "the message in JetStream",
        Duration::from_secs(10),
        || async {
            stored_events(&js, &config.nats.topology)
                .await
                .iter()
                .any(|e| e.event == "MESSAGE_CREATE")
        },
    )
    .await;
    let events = stored_events(&js, &config.nats.topology).await;
    assert!(!events.iter().any(|e| e.event == "TYPING_START"));
    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}
