//! Every dispatch the simulator emits (from REST actions, injected interactions and the load
//! generator) deserialises with twilight-model's gateway event types.

mod common;

use std::time::Duration;

use common::client::{Client, Recv};
use discord_sim::{LoadSpec, intents};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dispatch_deserialises_with_twilight() {
    let sim = common::sim(|c| {
        c.guilds = 2;
        c.members = 10;
        c.ratelimits.enabled = false;
    })
    .await;
    let world = sim.world();
    let g = world.guilds.values().next().expect("guild");
    let gid = g.id;
    let general = g
        .channels
        .values()
        .find(|c| c.name == "general")
        .expect("general")
        .id;
    let plain: Vec<u64> = g
        .members
        .values()
        .filter(|m| m.roles.is_empty() && m.user_id != g.owner_id && m.user_id != world.bot.id)
        .map(|m| m.user_id)
        .collect();
    let member_role = g
        .roles
        .values()
        .find(|r| r.name == "Member")
        .expect("role")
        .id;

    let all = intents::ALL;
    let mut c = Client::connect(
        &sim.gateway_url(),
        "v=10&encoding=json&compress=zstd-stream",
    )
    .await;
    c.hello().await;
    c.identify(sim.token(), all, [0, 1]).await;
    c.dispatch("READY").await;

    let auth = common::bot_auth(&sim);
    let call = |method: &'static str, path: String, body: Option<Value>| {
        let auth = auth.clone();
        let sim = &sim;
        async move {
            let body = body.map(|b| b.to_string());
            let (status, _, text) = common::http(
                sim,
                method,
                &format!("/api/v10{path}"),
                &[("Authorization", &auth)],
                body.as_deref(),
            )
            .await;
            assert!(status < 300, "{method} {path}: {status} {text}");
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).expect("json")
            }
        }
    };
    call(
        "PATCH",
        format!("/guilds/{gid}/members/{}", plain[0]),
        Some(json!({"nick": "n", "communication_disabled_until": null})),
    )
    .await;
    call(
        "PUT",
        format!("/guilds/{gid}/members/{}/roles/{member_role}", plain[0]),
        None,
    )
    .await;
    call(
        "PUT",
        format!("/guilds/{gid}/bans/{}", plain[1]),
        Some(json!({})),
    )
    .await;
    call("DELETE", format!("/guilds/{gid}/bans/{}", plain[1]), None).await;
    call(
        "DELETE",
        format!("/guilds/{gid}/members/{}", plain[2]),
        None,
    )
    .await;
    let ch = call(
        "POST",
        format!("/guilds/{gid}/channels"),
        Some(json!({"name": "ticket-2"})),
    )
    .await;
    let ch = ch["id"].as_str().expect("id").to_owned();
    call(
        "PATCH",
        format!("/channels/{ch}"),
        Some(json!({"topic": "t"})),
    )
    .await;
    call(
        "PUT",
        format!("/channels/{ch}/permissions/{}", plain[0]),
        Some(json!({"type": 1, "allow": "1024"})),
    )
    .await;
    let m1 = call(
        "POST",
        format!("/channels/{ch}/messages"),
        Some(json!({"content": "a"})),
    )
    .await;
    let m2 = call(
        "POST",
        format!("/channels/{ch}/messages"),
        Some(json!({"content": "b"})),
    )
    .await;
    let m3 = call(
        "POST",
        format!("/channels/{ch}/messages"),
        Some(json!({"content": "c"})),
    )
    .await;
    call(
        "PATCH",
        format!("/channels/{ch}/messages/{}", m1["id"].as_str().expect("id")),
        Some(json!({"content": "a2"})),
    )
    .await;
    call(
        "DELETE",
        format!("/channels/{ch}/messages/{}", m1["id"].as_str().expect("id")),
        None,
    )
    .await;
    call(
        "POST",
        format!("/channels/{ch}/messages/bulk-delete"),
        Some(json!({"messages": [m2["id"], m3["id"]]})),
    )
    .await;
    call(
        "POST",
        format!("/channels/{ch}/threads"),
        Some(json!({"name": "th", "type": 11})),
    )
    .await;
    call("DELETE", format!("/channels/{ch}"), None).await;
    let other = g
        .members
        .keys()
        .find(|u| !plain[..3].contains(u) && **u != world.bot.id)
        .copied()
        .expect("user");
    let dm = call(
        "POST",
        "/users/@me/channels".to_owned(),
        Some(json!({"recipient_id": other.to_string()})),
    )
    .await;
    call(
        "POST",
        format!("/channels/{}/messages", dm["id"].as_str().expect("id")),
        Some(json!({"content": "dm"})),
    )
    .await;
    for (kind, data) in [
        (
            2,
            json!({"id": "1", "name": "ban", "type": 1, "options": [{"name": "user", "type": 6, "value": other.to_string()}]}),
        ),
        (3, json!({"custom_id": "close-ticket", "component_type": 2})),
        (
            4,
            json!({"id": "1", "name": "ban", "type": 1, "options": [{"name": "reason", "type": 3, "value": "sp", "focused": true}]}),
        ),
        (
            5,
            json!({"custom_id": "modal", "components": [{"type": 1, "id": 1, "components": [{"type": 4, "id": 2, "custom_id": "why", "value": "x"}]}]}),
        ),
    ] {
        let (iid, token) = sim
            .inject_interaction(kind, general, g.owner_id, data)
            .expect("inject");
        if kind == 2 {
            let cb = json!({"type": 4, "data": {"content": "done", "embeds": [{"title": "Case"}]}})
                .to_string();
            let (status, _, _) = common::http(
                &sim,
                "POST",
                &format!("/api/v10/interactions/{iid}/{token}/callback"),
                &[],
                Some(&cb),
            )
            .await;
            assert_eq!(status, 204);
        }
    }
    let report = sim
        .load(LoadSpec {
            events_per_sec: 0,
            total: 200,
            ..LoadSpec::default()
        })
        .await
        .expect("load");
    assert_eq!(report.generated, 200);

    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut last = 1; // READY
    while let Some(Recv::Payload(p)) = c.recv_timeout(Duration::from_millis(500)).await {
        if p["op"] != 0 {
            continue;
        }
        let s = p["s"].as_u64().expect("seq");
        assert_eq!(s, last + 1, "sequence numbers are contiguous");
        last = s;
        let t = p["t"].as_str().expect("t").to_owned();
        if let Err(e) =
            twilight_gateway::parse(p.to_string(), twilight_gateway::EventTypeFlags::all())
        {
            panic!("twilight cannot deserialise {t}: {e}\n{p}");
        }
        *seen.entry(t).or_default() += 1;
    }
    for t in [
        "GUILD_CREATE",
        "GUILD_MEMBER_UPDATE",
        "GUILD_BAN_ADD",
        "GUILD_BAN_REMOVE",
        "GUILD_MEMBER_REMOVE",
        "GUILD_AUDIT_LOG_ENTRY_CREATE",
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "MESSAGE_CREATE",
        "MESSAGE_UPDATE",
        "MESSAGE_DELETE",
        "MESSAGE_DELETE_BULK",
        "THREAD_CREATE",
        "INTERACTION_CREATE",
        "TYPING_START",
        "MESSAGE_REACTION_ADD",
    ] {
        assert!(seen.contains_key(t), "saw no {t}: {seen:?}");
    }
    sim.shutdown().await.expect("shutdown");
}
