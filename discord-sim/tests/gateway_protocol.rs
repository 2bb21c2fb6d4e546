//! Gateway protocol checks with a raw client: close codes, heartbeats, identify limits,
//! resume failures, compression and gateway commands.

mod common;

use std::time::Duration;

use common::client::{Client, Recv, identify};
use discord_sim::intents;
use serde_json::{Value, json};

const Q: &str = "v=10&encoding=json";

async fn identified(sim: &discord_sim::SimHandle, intents: u64) -> Client {
    let mut c = Client::connect(&sim.gateway_url(), Q).await;
    c.hello().await;
    c.identify(sim.token(), intents, [0, 1]).await;
    c.dispatch("READY").await;
    c
}

#[tokio::test]
async fn bad_payloads_get_discords_close_codes() {
    let sim = common::sim(|c| c.guilds = 1).await;
    let url = sim.gateway_url();
    let t = sim.token().to_owned();

    let mut c = Client::connect(&url, Q).await;
    c.hello().await;
    c.send(
        json!({"op": 3, "d": {"status": "online", "activities": [], "afk": false, "since": null}}),
    )
    .await;
    assert_eq!(c.closed().await, 4003, "command before identify");

    let mut c = Client::connect(&url, Q).await;
    c.hello().await;
    c.send_text("{not json".into()).await;
    assert_eq!(c.closed().await, 4002, "undecodable");

    let mut c = Client::connect(&url, Q).await;
    c.hello().await;
    c.send_text(json!({"op": 1, "d": "x".repeat(5000)}).to_string())
        .await;
    assert_eq!(c.closed().await, 4002, "over 4096 bytes");

    let mut c = identified(&sim, intents::GUILDS).await;
    c.send(json!({"op": 99, "d": null})).await;
    assert_eq!(c.closed().await, 4001, "unknown opcode");

    let mut c = identified(&sim, intents::GUILDS).await;
    c.identify(&t, intents::GUILDS, [0, 1]).await;
    assert_eq!(c.closed().await, 4005, "identify twice");

    for (intents, shard, code) in [
        (1 << 17, [0, 1], 4013),
        (1, [3, 2], 4010),
        (1, [0, 0], 4010),
    ] {
        let mut c = Client::connect(&url, Q).await;
        c.hello().await;
        c.identify(&t, intents, shard).await;
        assert_eq!(c.closed().await, code);
    }

    let mut c = Client::connect(&url, "v=9&encoding=json").await;
    assert_eq!(c.closed().await, 4012, "API version");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn sharding_required_and_payload_rate_limit() {
    let sim = common::sim(|c| {
        c.guilds = 3;
        c.max_guilds_per_shard = 2;
        c.payload_limit = 5;
    })
    .await;
    let mut c = Client::connect(&sim.gateway_url(), Q).await;
    c.hello().await;
    c.identify(sim.token(), 1, [0, 1]).await;
    assert_eq!(c.closed().await, 4011);

    let mut c = Client::connect(&sim.gateway_url(), Q).await;
    c.hello().await;
    for _ in 0..6 {
        c.send(json!({"op": 1, "d": null})).await;
    }
    let mut acks = 0;
    let code = loop {
        match c.recv().await {
            Recv::Payload(p) if p["op"] == 11 => acks += 1,
            Recv::Closed(code) => break code,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(
        (acks, code),
        (5, 4008),
        "the 6th payload in the window is one too many"
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn heartbeats_are_acked_requested_and_enforced() {
    let sim = common::sim(|c| c.guilds = 1).await;
    let mut c = identified(&sim, intents::GUILDS).await;
    let ready = c.payload().await; // GUILD_CREATE
    assert_eq!(ready["t"], "GUILD_CREATE");
    c.send(json!({"op": 1, "d": 2})).await;
    assert_eq!(c.payload().await["op"], 11);
    assert_eq!(sim.request_heartbeat(0), 1);
    assert_eq!(c.payload().await["op"], 1, "server-requested heartbeat");
    let session_id = sim.sessions()[0].session_id.clone();

    // Stop heartbeating: heartbeat_interval + grace later the connection is dropped.
    let started = std::time::Instant::now();
    match c.recv_timeout(Duration::from_secs(5)).await {
        Some(Recv::Dropped) => {}
        other => panic!("expected a dropped connection, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert_eq!(sim.counters().heartbeat_misses, 1);

    // The session is still resumable.
    let mut c = Client::connect(&sim.gateway_url(), Q).await;
    c.hello().await;
    c.send(json!({"op": 6, "d": {"token": sim.token(), "session_id": session_id, "seq": 2}}))
        .await;
    let resumed = c.dispatch("RESUMED").await;
    assert_eq!(resumed["s"], 3);
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn max_concurrency_refuses_a_second_identify_in_the_bucket() {
    let sim = common::sim(|c| {
        c.guilds = 2;
        c.max_concurrency = 1;
        c.identify_interval = Duration::from_secs(2);
        c.shards = 2;
    })
    .await;
    let auth = common::bot_auth(&sim);
    let (status, _, body) = common::http(
        &sim,
        "GET",
        "/api/v10/gateway/bot",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let bot: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(bot["url"], sim.gateway_url());
    assert_eq!(bot["shards"], 2);
    assert_eq!(bot["session_start_limit"]["remaining"], 1000);
    assert_eq!(bot["session_start_limit"]["max_concurrency"], 1);

    let mut a = Client::connect(&sim.gateway_url(), Q).await;
    a.hello().await;
    a.identify(sim.token(), 1, [0, 2]).await;
    a.dispatch("READY").await;
    let mut b = Client::connect(&sim.gateway_url(), Q).await;
    b.hello().await;
    b.identify(sim.token(), 1, [1, 2]).await;
    let p = b.payload().await;
    assert_eq!(
        (p["op"].clone(), p["d"].clone()),
        (json!(9), json!(false)),
        "op 9 as documented"
    );
    assert_eq!(sim.counters().identify_violations, 1);

    let (_, _, body) = common::http(
        &sim,
        "GET",
        "/api/v10/gateway/bot",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    let bot: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        bot["session_start_limit"]["remaining"], 999,
        "each IDENTIFY spends one"
    );
    let (status, _, _) = common::http(&sim, "GET", "/api/v10/gateway/bot", &[], None).await;
    assert_eq!(status, 401);
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn resume_failures() {
    let sim = common::sim(|c| c.guilds = 1).await;
    let mut c = Client::connect(&sim.gateway_url(), Q).await;
    c.hello().await;
    c.send(json!({"op": 6, "d": {"token": sim.token(), "session_id": "nope", "seq": 1}}))
        .await;
    let p = c.payload().await;
    assert_eq!((p["op"].clone(), p["d"].clone()), (json!(9), json!(false)));

    let c2 = identified(&sim, intents::GUILDS).await;
    let sid = sim.sessions()[0].session_id.clone();
    drop(c2);
    let mut c = Client::connect(&sim.gateway_url(), Q).await;
    c.hello().await;
    c.send(json!({"op": 6, "d": {"token": sim.token(), "session_id": sid, "seq": 999}}))
        .await;
    assert_eq!(c.closed().await, 4007, "sequence the session never sent");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn zlib_stream_uses_one_context_with_sync_flushes() {
    let sim = common::sim(|c| c.guilds = 3).await;
    let mut c = Client::connect(
        &sim.gateway_url(),
        "v=10&encoding=json&compress=zlib-stream",
    )
    .await;
    c.hello().await;
    c.identify(sim.token(), intents::GUILDS, [0, 1]).await;
    for t in ["READY", "GUILD_CREATE", "GUILD_CREATE", "GUILD_CREATE"] {
        let p = c.payload().await;
        assert_eq!(p["t"], t);
        twilight_gateway::parse(p.to_string(), twilight_gateway::EventTypeFlags::all())
            .expect("twilight parses");
    }
    assert_eq!(c.frames.len(), 5);
    assert_eq!(
        &c.frames[0][..2],
        &[0x78, 0x01],
        "one zlib header, at the start of the stream"
    );
    assert!(c.frames[1..].iter().all(|f| f[0] != 0x78 || f[1] != 0x01));
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn request_guild_members_answers_in_chunks() {
    let sim = common::sim(|c| {
        c.guilds = 1;
        c.members = 1500;
    })
    .await;
    let guild = *sim.world().guilds.keys().next().expect("guild");
    let mut c = identified(&sim, intents::GUILDS | intents::GUILD_MEMBERS).await;
    c.send(json!({"op": 8, "d": {"guild_id": guild.to_string(), "query": "", "limit": 0, "nonce": "n1"}})).await;
    let first = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    let second = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(first["d"]["chunk_count"], 2);
    assert_eq!(first["d"]["nonce"], "n1");
    let total = first["d"]["members"].as_array().map_or(0, Vec::len)
        + second["d"]["members"].as_array().map_or(0, Vec::len);
    assert_eq!(total, 1501);
    for p in [&first, &second] {
        twilight_gateway::parse(p.to_string(), twilight_gateway::EventTypeFlags::all())
            .expect("parses");
    }

    c.send(json!({"op": 8, "d": {"guild_id": guild.to_string(), "user_ids": ["1", sim.world().bot.id.to_string()]}})).await;
    let chunk = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(chunk["d"]["members"].as_array().map(Vec::len), Some(1));
    assert_eq!(chunk["d"]["not_found"], json!(["1"]));

    c.send(json!({"op": 8, "d": {"guild_id": guild.to_string(), "query": "ash", "limit": 1000}}))
        .await;
    let chunk = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    let found = chunk["d"]["members"].as_array().expect("members");
    assert!(
        !found.is_empty() && found.len() <= 100,
        "prefix queries return at most 100"
    );
    assert!(found.iter().all(|m| {
        m["user"]["username"]
            .as_str()
            .is_some_and(|u| u.starts_with("ash"))
            || m["nick"].as_str().is_some_and(|n| n.starts_with("ash"))
    }));
    sim.shutdown().await.expect("shutdown");
}

fn message(world: &discord_sim::World, guild: u64, author: u64) -> Value {
    let g = &world.guilds[&guild];
    let channel = g
        .channels
        .values()
        .find(|c| c.kind == 0)
        .expect("text channel");
    json!({
        "id": "1300000000000000000", "channel_id": channel.id.to_string(), "guild_id": guild.to_string(),
        "author": world.users[&author].to_json(), "content": "secret words", "timestamp": "2024-01-01T00:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0,
    })
}

#[tokio::test]
async fn message_content_needs_the_intent_and_guilds_follow_large_threshold() {
    let sim = common::sim(|c| {
        c.guilds = 1;
        c.members = 120;
    })
    .await;
    let world = sim.world();
    let guild = *world.guilds.keys().next().expect("guild");
    let author = world.guilds[&guild].owner_id;

    let base = intents::GUILDS | intents::GUILD_MESSAGES;
    let mut without = identified(&sim, base).await;
    let gc = without.dispatch("GUILD_CREATE").await;
    assert_eq!(gc["d"]["large"], true);
    assert_eq!(
        gc["d"]["members"].as_array().map(Vec::len),
        Some(1),
        "only the bot without GUILD_PRESENCES"
    );

    let mut with = Client::connect(&sim.gateway_url(), Q).await;
    with.hello().await;
    let mut ident = identify(
        sim.token(),
        base | intents::MESSAGE_CONTENT | intents::GUILD_PRESENCES,
        [0, 1],
    );
    ident["d"]["large_threshold"] = json!(250);
    with.send(ident).await;
    let gc = with.dispatch("GUILD_CREATE").await;
    assert_eq!(gc["d"]["large"], false);
    assert_eq!(
        gc["d"]["members"].as_array().map(Vec::len),
        Some(121),
        "all members under large_threshold"
    );
    twilight_gateway::parse(gc.to_string(), twilight_gateway::EventTypeFlags::all())
        .expect("parses");

    assert_eq!(
        sim.dispatch(
            "MESSAGE_CREATE",
            Some(guild),
            &message(&world, guild, author)
        ),
        2
    );
    let a = without.dispatch("MESSAGE_CREATE").await;
    let b = with.dispatch("MESSAGE_CREATE").await;
    assert_eq!(a["d"]["content"], "");
    assert_eq!(b["d"]["content"], "secret words");
    for p in [&a, &b] {
        twilight_gateway::parse(p.to_string(), twilight_gateway::EventTypeFlags::all())
            .expect("parses");
    }
    // The bot's own messages keep their content.
    assert_eq!(
        sim.dispatch(
            "MESSAGE_CREATE",
            Some(guild),
            &message(&world, guild, world.bot.id)
        ),
        2
    );
    assert_eq!(
        without.dispatch("MESSAGE_CREATE").await["d"]["content"],
        "secret words"
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn control_api_over_http() {
    let sim = common::sim(|c| c.guilds = 1).await;
    let guild = *sim.world().guilds.keys().next().expect("guild");
    let mut c = identified(&sim, intents::GUILDS).await;
    c.dispatch("GUILD_CREATE").await;
    let body = json!({"event": "GUILD_ROLE_DELETE", "guild_id": guild.to_string(), "data": {"guild_id": guild.to_string(), "role_id": "5"}}).to_string();
    let (status, _, resp) = common::http(&sim, "POST", "/_sim/dispatch", &[], Some(&body)).await;
    assert_eq!((status, resp.as_str()), (200, r#"{"sessions":1}"#));
    assert_eq!(c.dispatch("GUILD_ROLE_DELETE").await["s"], 3);
    let (status, _, resp) = common::http(&sim, "POST", "/_sim/shards/0/reconnect", &[], None).await;
    assert_eq!((status, resp.as_str()), (200, r#"{"connections":1}"#));
    assert_eq!(c.payload().await["op"], 7);
    let (_, _, counters) = common::http(&sim, "GET", "/_sim/counters", &[], None).await;
    let counters: Value = serde_json::from_str(&counters).expect("json");
    assert_eq!(counters["shards"]["0"]["last_seq"], 3);
    let (status, _, _) = common::http(&sim, "POST", "/_sim/shards/0/close", &[], Some("{}")).await;
    assert_eq!(status, 400, "close needs a code");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn load_generator_paces_and_routes_by_shard() {
    let sim = common::sim(|c| c.guilds = 4).await;
    let mut c = Client::connect(&sim.gateway_url(), Q).await;
    c.hello().await;
    c.identify(
        sim.token(),
        intents::GUILDS | intents::GUILD_MESSAGES,
        [1, 2],
    )
    .await;
    c.dispatch("READY").await;
    let on_shard_1 = sim.world().guilds_of_shard(1, 2);
    let micros = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_micros()
    };
    let started_us = micros();
    let started = std::time::Instant::now();
    let spec = discord_sim::LoadSpec {
        events_per_sec: 2000,
        total: 400,
        mix: vec![("MESSAGE_CREATE".to_owned(), 1)],
    };
    let report = sim.load(spec).await.expect("load");
    assert!(
        started.elapsed() >= Duration::from_millis(180),
        "400 events at 2000/s take ~200 ms"
    );
    assert_eq!(report.generated, 400);
    assert!(
        report.delivered > 0 && report.delivered < 400,
        "only shard 1's guilds reach this session"
    );
    let mut got = 0;
    while let Some(Recv::Payload(p)) = c.recv_timeout(Duration::from_millis(300)).await {
        if p["t"] == "MESSAGE_CREATE" {
            let guild: u64 = p["d"]["guild_id"]
                .as_str()
                .and_then(|g| g.parse().ok())
                .expect("guild");
            assert!(on_shard_1.contains(&guild));
            assert_eq!(p["d"]["content"], "", "no MESSAGE_CONTENT intent");
            let sent_us: u128 = p["d"]["nonce"]
                .as_str()
                .and_then(|n| n.parse().ok())
                .expect("the nonce is the send time");
            assert!(
                (started_us..=micros()).contains(&sent_us),
                "the nonce is the send time in microseconds"
            );
            got += 1;
        }
    }
    assert_eq!(got, report.delivered);
    assert_eq!(
        sim.dispatch("bad\"name", None, &json!({})),
        0,
        "invalid event names are refused"
    );
    sim.shutdown().await.expect("shutdown");
}
