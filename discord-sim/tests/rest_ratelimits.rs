//! HTTP rate limits: route buckets and headers, the global limit with interaction routes
//! exempt, shared-scope 429s, the invalid-request limit, and twilight-http's limiter.

mod common;

use std::time::Duration;

use discord_sim::{RateLimitConfig, RouteLimit};
use serde_json::{Value, json};

fn h<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn first_guild_channel(sim: &discord_sim::SimHandle) -> (u64, u64) {
    let world = sim.world();
    let g = world.guilds.values().next().expect("guild");
    (
        g.id,
        g.channels
            .values()
            .find(|c| c.name == "general")
            .expect("general")
            .id,
    )
}

#[tokio::test]
async fn route_buckets_send_discords_headers_and_429s() {
    let sim = common::sim(|c| c.guilds = 1).await;
    let (_, channel) = first_guild_channel(&sim).await;
    let auth = common::bot_auth(&sim);
    let path = format!("/api/v10/channels/{channel}/messages");
    let body = json!({"content": "hi"}).to_string();
    for remaining in (0..5).rev() {
        let (status, headers, _) = common::http(
            &sim,
            "POST",
            &path,
            &[("Authorization", &auth)],
            Some(&body),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(h(&headers, "x-ratelimit-limit"), Some("5"));
        assert_eq!(
            h(&headers, "x-ratelimit-remaining"),
            Some(remaining.to_string().as_str())
        );
        assert!(h(&headers, "x-ratelimit-bucket").is_some());
        let reset_after: f64 = h(&headers, "x-ratelimit-reset-after")
            .expect("reset-after")
            .parse()
            .expect("float");
        assert!(reset_after > 0.0 && reset_after <= 5.0);
        assert!(h(&headers, "x-ratelimit-reset").is_some_and(|r| r.contains('.')));
    }
    let (status, headers, body429) = common::http(
        &sim,
        "POST",
        &path,
        &[("Authorization", &auth)],
        Some(&body),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(h(&headers, "x-ratelimit-scope"), Some("user"));
    assert!(h(&headers, "retry-after").is_some());
    let v: Value = serde_json::from_str(&body429).expect("json");
    assert_eq!(v["global"], false);
    assert!(v["retry_after"].as_f64().is_some_and(|r| r > 0.0));
    // Another channel has its own bucket (top-level resource).
    let (g, _) = first_guild_channel(&sim).await;
    let create = json!({"name": "other"}).to_string();
    let (_, _, other) = common::http(
        &sim,
        "POST",
        &format!("/api/v10/guilds/{g}/channels"),
        &[("Authorization", &auth)],
        Some(&create),
    )
    .await;
    let other = serde_json::from_str::<Value>(&other).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, _, _) = common::http(
        &sim,
        "POST",
        &format!("/api/v10/channels/{other}/messages"),
        &[("Authorization", &auth)],
        Some(&body),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sim.counters().rest_429_by_scope.get("user"), Some(&1));
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn global_limit_exempts_interactions_and_shared_scope_is_separate() {
    let sim = common::sim(|c| {
        c.guilds = 1;
        c.ratelimits.global_per_second = 3;
    })
    .await;
    let (_, channel) = first_guild_channel(&sim).await;
    let owner = sim.world().guilds.values().next().expect("guild").owner_id;
    let auth = common::bot_auth(&sim);
    let (iid, token) = sim
        .inject_interaction(
            2,
            channel,
            owner,
            json!({"id": "1", "name": "x", "type": 1}),
        )
        .expect("inject");
    for _ in 0..3 {
        let (status, _, _) = common::http(
            &sim,
            "GET",
            "/api/v10/users/@me",
            &[("Authorization", &auth)],
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, headers, body) = common::http(
        &sim,
        "GET",
        "/api/v10/users/@me",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(h(&headers, "x-ratelimit-global"), Some("true"));
    assert_eq!(h(&headers, "x-ratelimit-scope"), Some("global"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["global"],
        true
    );
    // Interaction callbacks are not bound to the global limit.
    let cb = json!({"type": 4, "data": {"content": "ok"}}).to_string();
    let (status, _, _) = common::http(
        &sim,
        "POST",
        &format!("/api/v10/interactions/{iid}/{token}/callback"),
        &[],
        Some(&cb),
    )
    .await;
    assert_eq!(status, 204);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    sim.limit_resource(&format!("channels/{channel}"), Duration::from_secs(5));
    let (status, headers, body) = common::http(
        &sim,
        "GET",
        &format!("/api/v10/channels/{channel}"),
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(h(&headers, "x-ratelimit-scope"), Some("shared"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["message"],
        "The resource is being rate limited."
    );
    let counters = sim.counters();
    assert_eq!(
        (
            counters.rest_429_by_scope.get("global"),
            counters.rest_429_by_scope.get("shared")
        ),
        (Some(&1), Some(&1))
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_global_limit_is_a_rolling_second_and_only_interaction_endpoints_skip_it() {
    let sim = common::sim(|c| {
        c.guilds = 1;
        c.ratelimits.global_per_second = 4;
    })
    .await;
    let auth = common::bot_auth(&sim);
    let headers = [("Authorization", auth.as_str())];
    let me = || common::http(&sim, "GET", "/api/v10/users/@me", &headers, None);
    let app = sim.world().application_id;
    // Two at once, and two 600 ms later: a fixed window starting at the first would have
    // reset by the fifth request at 1.2 s; a rolling second still holds the last two then.
    for _ in 0..2 {
        assert_eq!(me().await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..2 {
        assert_eq!(me().await.0, 200);
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    // At ~1.05 s: the first two left the window, two places are free again.
    for _ in 0..2 {
        assert_eq!(me().await.0, 200);
    }
    let (status, headers, _) = me().await;
    assert_eq!(status, 429, "four in the last second");
    let retry: f64 = h(&headers, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(
        retry <= 1.0,
        "the oldest of the window leaves within a second"
    );
    // Another application's webhook is not an interaction endpoint: it counts (and is refused
    // here before the simulator finds it unknown); the application's follow-ups do not.
    let body = json!({"content": "x"}).to_string();
    let (status, _, _) = common::http(
        &sim,
        "POST",
        "/api/v10/webhooks/123456789/some-token",
        &[("Authorization", &auth)],
        Some(&body),
    )
    .await;
    assert_eq!(status, 429, "a plain webhook is bound to the global limit");
    let (status, _, _) = common::http(
        &sim,
        "POST",
        &format!("/api/v10/webhooks/{app}/not-an-interaction-token"),
        &[("Authorization", &auth)],
        Some(&body),
    )
    .await;
    assert_ne!(status, 429, "the application's follow-up route is exempt");
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn invalid_requests_lead_to_a_cloudflare_ban() {
    let sim = common::sim(|c| {
        c.ratelimits.invalid_threshold = 3;
    })
    .await;
    for _ in 0..3 {
        let (status, _, _) = common::http(
            &sim,
            "GET",
            "/api/v10/users/@me",
            &[("Authorization", "Bot wrong")],
            None,
        )
        .await;
        assert_eq!(status, 401);
    }
    let auth = common::bot_auth(&sim);
    let (status, headers, body) = common::http(
        &sim,
        "GET",
        "/api/v10/users/@me",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(status, 429);
    assert!(
        headers.iter().all(|(k, _)| !k.starts_with("x-ratelimit")),
        "no rate-limit headers"
    );
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "not a JSON body"
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilight_http_limiter_never_hits_a_429() {
    let sim = common::sim(|c| {
        c.guilds = 1;
        c.ratelimits = RateLimitConfig {
            routes: vec![RouteLimit::new(
                "POST channels/:major/messages",
                3,
                Duration::from_millis(400),
                "sim-messages",
            )],
            ..RateLimitConfig::default()
        };
    })
    .await;
    let (_, channel) = first_guild_channel(&sim).await;
    let http = twilight_http::Client::builder()
        .proxy(sim.addr().to_string(), true)
        .token(sim.token().to_owned())
        .build();
    let channel = twilight_model::id::Id::new(channel);
    for i in 0..10 {
        http.create_message(channel)
            .content(&format!("m{i}"))
            .await
            .expect("sent")
            .model()
            .await
            .expect("message");
    }
    let counters = sim.counters();
    assert!(
        counters.rest_429_by_scope.is_empty(),
        "twilight read the headers: {:?}",
        counters.rest_429_by_scope
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn permission_errors_follow_overwrites_and_hierarchy() {
    let sim = common::sim(|c| c.guilds = 1).await;
    let world = sim.world();
    let g = world.guilds.values().next().expect("guild");
    let auth = common::bot_auth(&sim);
    // mod-log denies VIEW_CHANNEL to @everyone and the bot's role is not Moderator.
    let mod_log = g
        .channels
        .values()
        .find(|c| c.name == "mod-log")
        .expect("mod-log")
        .id;
    let (status, _, body) = common::http(
        &sim,
        "GET",
        &format!("/api/v10/channels/{mod_log}"),
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["code"],
        50001
    );
    // A moderator (below the bot) can be timed out; the owner cannot.
    let until = json!({"communication_disabled_until": "2099-01-01T00:00:00Z"});
    let (status, _, body) = common::http(
        &sim,
        "PATCH",
        &format!("/api/v10/guilds/{}/members/{}", g.id, g.owner_id),
        &[("Authorization", &auth)],
        Some(&until.to_string()),
    )
    .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).expect("json")["code"].clone()
        ),
        (403, json!(50013))
    );
    let calls = sim.rest_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].status, 403);
    sim.shutdown().await.expect("shutdown");
}
