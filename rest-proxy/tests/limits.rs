//! The global limit and its pause, interactions' exemption, 401 and webhook-404 poisoning, the
//! invalid-request guard, Redis loss.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Http, RateLimitConfig, RouteLimit, channels, config, proxy, sim, sim_429};
use discord_sim::SimHandle;
use hyper::Method;
use serde_json::json;

/// A member (not the bot) of `channel`'s guild.
fn member_of(sim: &SimHandle, channel: u64) -> u64 {
    let world = sim.world();
    let guild = world.guild_of_channel(channel).expect("guild channel");
    world.guilds[&guild]
        .members
        .keys()
        .copied()
        .find(|id| *id != world.bot.id)
        .expect("a member")
}

#[tokio::test]
async fn interactions_are_not_delayed_while_the_global_limit_is_exhausted() {
    let sim = sim(|c| {
        c.ratelimits = RateLimitConfig {
            routes: vec![RouteLimit::new(
                "POST channels/:major/messages",
                1000,
                Duration::from_secs(1),
                "wide",
            )],
            ..RateLimitConfig::default()
        };
    })
    .await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channels = Arc::new(channels(&sim));
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for client in 0..50 {
        let (http, channels, stop) = (http.clone(), Arc::clone(&channels), Arc::clone(&stop));
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let channel = channels[client % channels.len()];
                assert_eq!(http.post_message(channel, "load").await.status, 200);
            }
        }));
    }
    // Let the load exhaust the global limit, then answer interactions through it.
    common::pause(1_200).await;
    let channel = channels[0];
    let user = member_of(&sim, channel);
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let (id, token) = sim
            .inject_interaction(2, channel, user, json!({"name": "ping"}))
            .expect("interaction injected");
        let started = Instant::now();
        let reply = http
            .send(
                Method::POST,
                &format!("/api/v10/interactions/{id}/{token}/callback"),
                Some(json!({"type": 4, "data": {"content": "pong"}})),
                &[],
            )
            .await;
        slowest = slowest.max(started.elapsed());
        assert!(reply.status == 204 || reply.status == 200, "{reply:?}");
        let app = sim.world().application_id;
        let followup = http
            .send(
                Method::POST,
                &format!("/api/v10/webhooks/{app}/{token}"),
                Some(json!({"content": "more"})),
                &[],
            )
            .await;
        assert_eq!(followup.status, 200, "{followup:?}");
        common::pause(50).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(
        slowest < Duration::from_millis(250),
        "an interaction callback took {slowest:?} while the global limit was exhausted"
    );
    let metrics = common::metrics(&proxy).await;
    assert_eq!(sim_429(&sim, "global"), 0, "{metrics}");
    assert_eq!(sim_429(&sim, "user"), 0);
    let peak = common::max_per_rolling_second(&sim, |p| {
        p.contains("/interactions/") || p.contains("/webhooks/")
    });
    assert!(peak <= 50, "{peak} requests in one second");
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_global_429_pauses_every_bucket_of_the_token() {
    // Discord's global limit is lower than the proxy believes: the proxy meets a global 429.
    let sim = sim(|c| c.ratelimits.global_per_second = 5).await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channels = channels(&sim);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let http = http.clone();
        let channel = channels[i % channels.len()];
        tasks.push(tokio::spawn(async move {
            let path = format!("/api/v10/channels/{channel}");
            http.send(Method::GET, &path, None, &[]).await.status
        }));
    }
    for task in tasks {
        let status = task.await.unwrap();
        assert!(status == 200 || status == 429, "{status}");
    }
    assert!(
        sim_429(&sim, "global") > 0,
        "the simulator's global limit was met"
    );
    let first_429 = sim
        .rest_calls()
        .iter()
        .find(|c| c.status == 429)
        .map(|c| c.at_ms)
        .expect("a 429 logged");
    // Everything sent afterwards waits for the pause (Retry-After: 1 s).
    for channel in channels.iter().take(3) {
        let path = format!("/api/v10/channels/{channel}/messages?limit=1");
        assert_eq!(http.send(Method::GET, &path, None, &[]).await.status, 200);
    }
    let calls = sim.rest_calls();
    let during_pause: Vec<_> = calls
        .iter()
        .filter(|c| c.at_ms > first_429 + 100 && c.at_ms < first_429 + 900)
        .collect();
    assert!(
        during_pause.is_empty(),
        "requests reached Discord during the pause: {during_pause:?}"
    );
    let metrics = common::metrics(&proxy).await;
    assert!(metrics.contains("aegis_rest_discord_429_total{kind=\"global\"}"));
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_401_stops_every_request_of_the_token() {
    let sim = sim(|_| {}).await;
    let mut config = config(&sim);
    config.token = Some("not-the-token".to_owned());
    let proxy = proxy(config).await;
    let http = Http::new(proxy.addr());
    let first = http
        .send(Method::GET, "/api/v10/users/@me", None, &[])
        .await;
    assert_eq!(first.status, 401);
    assert_eq!(first.aegis_error(), None, "Discord's own 401");
    let channel = channels(&sim)[0];
    for _ in 0..3 {
        let refused = http.post_message(channel, "x").await;
        assert_eq!(refused.status, 401);
        assert_eq!(refused.aegis_error(), Some("token_invalid"));
        assert!(refused.body["message"].as_str().unwrap().contains("401"));
    }
    assert_eq!(sim.rest_calls().len(), 1, "only the first request was sent");
    // Another token (a client's own Authorization) is not affected.
    let own = format!("Bot {}", sim.token());
    let other = http
        .send(
            Method::GET,
            "/api/v10/users/@me",
            None,
            &[("authorization", &own)],
        )
        .await;
    assert_eq!(other.status, 200);
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_webhook_404_stops_that_webhook_only() {
    let sim = sim(|_| {}).await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let gone = http
        .send(
            Method::POST,
            "/api/v10/webhooks/123456789/deleted-token",
            Some(json!({"content": "x"})),
            &[],
        )
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["code"], 10015);
    for _ in 0..3 {
        let refused = http
            .send(
                Method::POST,
                "/api/v10/webhooks/123456789/deleted-token",
                Some(json!({"content": "x"})),
                &[],
            )
            .await;
        assert_eq!(refused.status, 404);
        assert_eq!(refused.aegis_error(), Some("webhook_gone"));
    }
    let other = http
        .send(
            Method::POST,
            "/api/v10/webhooks/987654321/other-token",
            Some(json!({"content": "x"})),
            &[],
        )
        .await;
    assert_eq!(other.aegis_error(), None, "other webhooks still forwarded");
    let to_webhooks = sim
        .rest_calls()
        .iter()
        .filter(|c| c.path.contains("/webhooks/"))
        .count();
    assert_eq!(to_webhooks, 2);
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_invalid_request_guard_trips_before_discord_bans() {
    let sim = sim(|c| c.ratelimits.invalid_threshold = 30).await;
    let mut config = config(&sim);
    config.invalid_request_limit = 10;
    let proxy = proxy(config).await;
    let http = Http::new(proxy.addr());
    let mut forwarded = 0;
    let mut refused = 0;
    for i in 0..40 {
        let auth = format!("Bot wrong-{i}");
        let reply = http
            .send(
                Method::GET,
                "/api/v10/users/@me",
                None,
                &[("authorization", &auth)],
            )
            .await;
        match reply.aegis_error() {
            None => {
                assert_eq!(reply.status, 401);
                forwarded += 1;
            }
            Some(kind) => {
                assert_eq!(kind, "invalid_request_guard");
                assert_eq!(reply.status, 503);
                refused += 1;
            }
        }
    }
    assert_eq!(forwarded, 10);
    assert_eq!(refused, 30);
    assert_eq!(sim_429(&sim, "cloudflare"), 0, "never banned");
    let metrics = common::metrics(&proxy).await;
    assert!(metrics.contains("aegis_rest_invalid_requests_window 10"));
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_redis_the_proxy_limits_in_memory_and_is_not_ready() {
    let sim = sim(|_| {}).await;
    let mut config = config(&sim);
    config.redis_url = "redis://127.0.0.1:1".to_owned();
    let proxy = proxy(config).await;
    assert!(!proxy.is_ready(), "not ready without Redis");
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    for i in 0..2 {
        let reply = http.post_message(channel, &format!("{i}")).await;
        assert_eq!(reply.status, 200);
    }
    // Without Redis each instance takes half of every limit (AEGIS_REST_FALLBACK_SHARE=2): the
    // third message of a 5-per-5-s bucket waits for the next window.
    let third = http
        .send(
            Method::POST,
            &format!("/api/v10/channels/{channel}/messages"),
            Some(json!({"content": "third"})),
            &[("x-aegis-deadline-ms", "200")],
        )
        .await;
    assert_eq!(third.aegis_error(), Some("deadline"));
    let metrics = common::metrics(&proxy).await;
    assert!(
        metrics.contains("aegis_rest_redis_fallback_total 2"),
        "{metrics}"
    );
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_single_instance_keeps_state_in_memory() {
    let sim = sim(|_| {}).await;
    let mut config = config(&sim);
    config.single_instance = true;
    config.redis_url = "redis://127.0.0.1:1".to_owned();
    let proxy = proxy(config).await;
    assert!(proxy.is_ready(), "Redis is not needed");
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    // The default POST messages bucket: 5 per 5 s; the sixth waits past its deadline.
    for i in 0..5 {
        assert_eq!(
            http.post_message(channel, &format!("{i}")).await.status,
            200
        );
    }
    let late = http
        .send(
            Method::POST,
            &format!("/api/v10/channels/{channel}/messages"),
            Some(json!({"content": "late"})),
            &[("x-aegis-deadline-ms", "100")],
        )
        .await;
    assert_eq!(late.aegis_error(), Some("deadline"));
    assert_eq!(sim_429(&sim, "user"), 0);
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}
