//! Rate limits against discord-sim: 50 concurrent clients on one bucket and on a mix, FIFO per
//! bucket, learned and changed bucket hashes, several instances sharing Redis.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    Http, RateLimitConfig, RouteLimit, channels, config, max_per_rolling_second, proxy, sim,
    sim_429,
};
use hyper::Method;

fn limits(routes: Vec<RouteLimit>) -> RateLimitConfig {
    RateLimitConfig {
        routes,
        ..RateLimitConfig::default()
    }
}

fn no_exemption(_: &str) -> bool {
    false
}

#[tokio::test]
async fn fifty_clients_on_one_bucket_stay_within_it_in_fifo_order() {
    let sim = sim(|c| {
        c.ratelimits = limits(vec![RouteLimit::new(
            "POST channels/:major/messages",
            10,
            Duration::from_millis(500),
            "onebucket",
        )]);
    })
    .await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    post_in_arrival_order(&http, channel, 50, 3).await;
    assert_eq!(sim_429(&sim, "user"), 0, "no per-route 429");
    assert_eq!(sim_429(&sim, "global"), 0, "no global 429");
    assert!(max_per_rolling_second(&sim, no_exemption) <= 50);
    assert_fifo_within(&sim, 50, 10);
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

/// Posts `n` messages on `channel`, each from its own client, `gap_ms` apart so that their
/// arrival order is known (the content is the arrival index); every one must succeed.
async fn post_in_arrival_order(http: &Http, channel: u64, n: u32, gap_ms: u64) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            http.post_message(channel, &format!("{i}")).await.status
        }));
        common::pause(gap_ms).await;
    }
    for task in tasks {
        assert_eq!(task.await.expect("client task"), 200);
    }
}

/// FIFO: the `n` posts of [`post_in_arrival_order`] reached the simulator in arrival order, give
/// or take `slack` places (requests of one window are in flight together, so neighbours may
/// swap, never further apart).
fn assert_fifo_within(sim: &discord_sim::SimHandle, n: usize, slack: i64) {
    let order: Vec<i64> = sim
        .rest_calls()
        .iter()
        .filter(|c| c.method == "POST")
        .map(|c| {
            c.body["content"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .expect("a posted index")
        })
        .collect();
    assert_eq!(order.len(), n);
    for (position, sent) in order.iter().enumerate() {
        let position = i64::try_from(position).expect("a small position");
        assert!(
            (position - sent).abs() < slack,
            "request {sent} reached Discord at position {position}: {order:?}"
        );
    }
}

/// 50 clients, each sending `per_client` requests over a mix of buckets, through `proxies`.
async fn mixed_load(sim: &discord_sim::SimHandle, proxies: &[Http], per_client: usize) {
    let channels = Arc::new(channels(sim));
    let guilds: Arc<Vec<u64>> = Arc::new(sim.world().guilds.keys().copied().collect());
    let mut tasks = Vec::new();
    for client in 0..50 {
        let http = proxies[client % proxies.len()].clone();
        let channels = Arc::clone(&channels);
        let guilds = Arc::clone(&guilds);
        tasks.push(tokio::spawn(async move {
            for n in 0..per_client {
                let channel = channels[(client + n) % channels.len()];
                let guild = guilds[(client + n) % guilds.len()];
                let reply = match (client + n) % 3 {
                    0 => http.post_message(channel, "load").await,
                    1 => {
                        let path = format!("/api/v10/channels/{channel}/messages?limit=1");
                        http.send(Method::GET, &path, None, &[]).await
                    }
                    _ => {
                        let path = format!("/api/v10/guilds/{guild}/channels");
                        http.send(Method::GET, &path, None, &[]).await
                    }
                };
                assert_eq!(reply.status, 200, "{:?}", reply.body);
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
}

#[tokio::test]
async fn fifty_clients_on_mixed_buckets_never_trip_a_limit() {
    let sim = sim(|c| {
        c.ratelimits = limits(vec![RouteLimit::new(
            "POST channels/:major/messages",
            5,
            Duration::from_secs(1),
            "postbucket",
        )]);
    })
    .await;
    let proxy = proxy(config(&sim)).await;
    mixed_load(&sim, &[Http::new(proxy.addr())], 3).await;
    assert_eq!(sim_429(&sim, "user"), 0);
    assert_eq!(sim_429(&sim, "global"), 0);
    let peak = max_per_rolling_second(&sim, no_exemption);
    assert!(peak <= 50, "{peak} requests in one second");
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_instances_sharing_redis_stay_within_the_limits_together() {
    let sim = sim(|c| {
        c.ratelimits = limits(vec![RouteLimit::new(
            "POST channels/:major/messages",
            5,
            Duration::from_secs(1),
            "postbucket",
        )]);
    })
    .await;
    let first = config(&sim);
    let mut second = first.clone();
    second.redis_prefix = first.redis_prefix.clone();
    let a = proxy(first).await;
    let b = proxy(second).await;
    assert!(a.is_ready() && b.is_ready(), "both reach Redis");
    mixed_load(&sim, &[Http::new(a.addr()), Http::new(b.addr())], 3).await;
    assert_eq!(sim_429(&sim, "user"), 0);
    assert_eq!(sim_429(&sim, "global"), 0);
    let peak = max_per_rolling_second(&sim, no_exemption);
    assert!(peak <= 50, "{peak} requests in one second");
    a.shutdown().await;
    b.shutdown().await;
    sim.shutdown().await.unwrap();
}

/// `n` concurrent requests, alternately POST and GET on `channel`'s messages; all must succeed.
async fn burst(http: &Http, sim: &discord_sim::SimHandle, channel: u64, n: usize) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                http.post_message(channel, "m").await.status
            } else {
                let path = format!("/api/v10/channels/{channel}/messages?limit=1");
                http.send(Method::GET, &path, None, &[]).await.status
            }
        }));
    }
    for task in tasks {
        let status = task.await.expect("client task");
        if status != 200 {
            for c in sim.rest_calls() {
                eprintln!("{} {} {} {}", c.at_ms, c.method, c.path, c.status);
            }
        }
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn routes_sharing_a_bucket_hash_share_its_limit_and_regroup_when_it_changes() {
    let sim = sim(|c| {
        // GET and POST messages share one bucket (the rule matches both groups).
        c.ratelimits = limits(vec![RouteLimit::new(
            "channels/:major/messages",
            4,
            Duration::from_millis(500),
            "sharedhash",
        )]);
    })
    .await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    burst(&http, &sim, channel, 16).await;
    assert_eq!(sim_429(&sim, "user"), 0, "GET and POST counted together");
    // Discord moves the routes to separate buckets.
    sim.set_ratelimits(limits(vec![
        RouteLimit::new(
            "GET channels/:major/messages",
            4,
            Duration::from_millis(500),
            "gethash",
        ),
        RouteLimit::new(
            "POST channels/:major/messages",
            4,
            Duration::from_millis(500),
            "posthash",
        ),
    ]));
    burst(&http, &sim, channel, 16).await;
    assert_eq!(sim_429(&sim, "user"), 0);
    let metrics = common::metrics(&proxy).await;
    assert!(
        metrics.contains("aegis_rest_bucket_changes_total 2"),
        "both routes moved: {metrics}"
    );
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_shared_scope_429_closes_the_bucket_without_counting_as_invalid() {
    let sim = sim(|_| {}).await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    let path = format!("/api/v10/channels/{channel}/messages?limit=1");
    assert_eq!(http.send(Method::GET, &path, None, &[]).await.status, 200);
    sim.limit_resource(&format!("channels/{channel}"), Duration::from_millis(800));
    let limited = http.send(Method::GET, &path, None, &[]).await;
    assert_eq!(limited.status, 429, "Discord's shared 429 is passed on");
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(http.send(Method::GET, &path, None, &[]).await.status, 200);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "the bucket waited for Retry-After"
    );
    assert_eq!(
        sim_429(&sim, "shared"),
        1,
        "no request hammered the resource"
    );
    let metrics = common::metrics(&proxy).await;
    assert!(metrics.contains("aegis_rest_discord_429_total{kind=\"shared\"} 1"));
    assert!(
        metrics.contains("aegis_rest_invalid_requests_window 0"),
        "shared 429s are not invalid requests"
    );
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

/// The direct client of the simulator that a second, non-Aegis user of the token would be.
fn outside_client(sim: &discord_sim::SimHandle) -> Http {
    let addr = sim
        .http_url()
        .trim_start_matches("http://")
        .parse()
        .expect("simulator address");
    Http::new(addr)
}

#[tokio::test]
async fn answers_that_repeat_the_reservation_skip_redis_and_others_are_learned() {
    let sim = sim(|c| {
        c.ratelimits = limits(vec![RouteLimit::new(
            "GET channels/:major/messages",
            10,
            Duration::from_secs(2),
            "skiphash",
        )]);
    })
    .await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    let path = format!("/api/v10/channels/{channel}/messages?limit=1");
    for _ in 0..4 {
        assert_eq!(http.send(Method::GET, &path, None, &[]).await.status, 200);
    }
    let metrics = common::metrics(&proxy).await;
    assert!(
        metrics.contains("aegis_rest_redis_completions_skipped_total 3"),
        "the first answer teaches the bucket, the next three repeat what Redis holds: {metrics}"
    );
    // Another client of the same token drains the bucket behind the proxy's back: the next
    // answer says fewer remain than Redis counted, so it is written back, and the proxy waits
    // for the window instead of sending into a 429.
    let auth = format!("Bot {}", sim.token());
    let outside = outside_client(&sim);
    for _ in 0..5 {
        let reply = outside
            .send(Method::GET, &path, None, &[("authorization", &auth)])
            .await;
        assert_eq!(reply.status, 200);
    }
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(http.send(Method::GET, &path, None, &[]).await.status, 200);
    }
    assert_eq!(
        sim_429(&sim, "user"),
        0,
        "no request went into the drained bucket"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the last request waited for the window to reset"
    );
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_burst_on_one_route_is_reserved_in_batches_and_keeps_its_order() {
    let sim = sim(|c| {
        c.ratelimits = limits(vec![RouteLimit::new(
            "POST channels/:major/messages",
            16,
            Duration::from_secs(1),
            "batchhash",
        )]);
    })
    .await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    // The first request teaches the bucket; the others queue for its windows of sixteen. Once a
    // window's end is known (its first answer is back) and over 250 ms away, the queue's head
    // reserves for itself and those behind it at once.
    post_in_arrival_order(&http, channel, 31, 1).await;
    assert_eq!(sim_429(&sim, "user"), 0);
    let metrics = common::metrics(&proxy).await;
    let batched: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("aegis_rest_redis_batched_reservations_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the batched counter");
    assert!(
        batched >= 8,
        "queued requests took reservations their head asked Redis for: {batched}"
    );
    assert_fifo_within(&sim, 31, 16);
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}
