//! Forwarding through rest-proxy to discord-sim: methods, query strings, JSON and multipart
//! bodies, audit-log reasons, the added Authorization, unknown routes, deadlines, bad input.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Http, RateLimitConfig, RouteLimit, channels, config, proxy, sim};
use http_body_util::Full;
use hyper::{Method, Request};
use serde_json::json;

#[tokio::test]
async fn json_query_reason_and_authorization_are_forwarded() {
    let sim = sim(|_| {}).await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];

    // No Authorization from the client: the proxy adds the bot token.
    let posted = http.post_message(channel, "hello").await;
    assert_eq!(posted.status, 200, "{:?}", posted.body);
    assert_eq!(posted.body["content"], "hello");
    assert!(posted.headers.contains_key("x-ratelimit-bucket"));

    let history = http
        .send(
            Method::GET,
            &format!("/api/v10/channels/{channel}/messages?limit=1"),
            None,
            &[],
        )
        .await;
    assert_eq!(history.status, 200);
    assert_eq!(history.body.as_array().map(Vec::len), Some(1));

    let renamed = http
        .send(
            Method::PATCH,
            &format!("/api/v10/channels/{channel}"),
            Some(json!({"name": "renamed"})),
            &[("x-audit-log-reason", "tidy%20up")],
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);

    let calls = sim.rest_calls();
    assert!(
        calls
            .iter()
            .any(|c| c.path.ends_with("/messages?limit=1") && c.method == "GET")
    );
    let patch = calls
        .iter()
        .find(|c| c.method == "PATCH")
        .expect("PATCH logged");
    assert_eq!(patch.reason.as_deref(), Some("tidy up"));
    assert_eq!(patch.body["name"], "renamed");
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn multipart_attachments_are_forwarded() {
    let sim = sim(|_| {}).await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    let boundary = "aegisboundary";
    // Parts without their own Content-Type: discord-sim's multipart parser reads only the
    // Content-Disposition line (reported to its owner).
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n\
         {{\"content\":\"with file\"}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.txt\"\r\n\r\n\
         0123456789\r\n--{boundary}--\r\n"
    );
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!(
            "http://{}/api/v10/channels/{channel}/messages",
            proxy.addr()
        ))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let reply = http.raw(request).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let call = sim
        .rest_calls()
        .into_iter()
        .find(|c| c.method == "POST")
        .expect("POST logged");
    assert_eq!(
        call.body["content"], "with file",
        "{call:?} {:?}",
        reply.body
    );
    assert_eq!(call.body["attachments"][0]["filename"], "a.txt");
    assert_eq!(call.body["attachments"][0]["size"], 10);
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_and_other_api_versions_are_forwarded() {
    let sim = sim(|_| {}).await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let unknown = http
        .send(Method::GET, "/api/v10/no-such-thing/123/x", None, &[])
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.aegis_error(), None, "Discord's answer, not ours");
    let me = http.send(Method::GET, "/api/users/@me", None, &[]).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    let paths: Vec<String> = sim.rest_calls().into_iter().map(|c| c.path).collect();
    assert!(paths.contains(&"/api/v10/no-such-thing/123/x".to_owned()));
    assert!(paths.contains(&"/api/users/@me".to_owned()));
    let metrics = common::metrics(&proxy).await;
    assert!(
        metrics.contains("route=\"unknown\""),
        "unknown routes share one label"
    );
    assert!(metrics.contains("aegis_rest_requests_total"));
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_request_that_would_miss_its_deadline_is_answered_locally() {
    let sim = sim(|c| {
        c.ratelimits = RateLimitConfig {
            routes: vec![RouteLimit::new(
                "POST channels/:major/messages",
                2,
                Duration::from_secs(5),
                "slowbucket",
            )],
            ..RateLimitConfig::default()
        };
    })
    .await;
    let proxy = proxy(config(&sim)).await;
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    for i in 0..2 {
        assert_eq!(
            http.post_message(channel, &format!("m{i}")).await.status,
            200
        );
    }
    let late = http
        .send(
            Method::POST,
            &format!("/api/v10/channels/{channel}/messages"),
            Some(json!({"content": "late"})),
            &[("x-aegis-deadline-ms", "200")],
        )
        .await;
    assert_eq!(late.status, 503);
    assert_eq!(late.aegis_error(), Some("deadline"));
    assert!(late.body["retry_after"].as_f64().is_some_and(|r| r > 1.0));
    assert!(late.body["message"].as_str().unwrap().contains("deadline"));
    let posts = sim
        .rest_calls()
        .iter()
        .filter(|c| c.method == "POST")
        .count();
    assert_eq!(posts, 2, "nothing was sent for the late request");
    assert_eq!(common::sim_429(&sim, "user"), 0);
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_is_answered_without_crashing() {
    let sim = sim(|_| {}).await;
    let mut config = config(&sim);
    config.max_body_bytes = 1024;
    let proxy = proxy(config).await;
    let http = Http::new(proxy.addr());
    let channel = channels(&sim)[0];
    let big = http
        .send(
            Method::POST,
            &format!("/api/v10/channels/{channel}/messages"),
            Some(json!({"content": "x".repeat(4096)})),
            &[],
        )
        .await;
    assert_eq!(big.status, 413);
    assert_eq!(big.aegis_error(), Some("body_too_large"));
    let odd = http
        .send(
            Method::DELETE,
            "/api/v10/channels//messages/%FF/../x",
            None,
            &[],
        )
        .await;
    assert!(odd.status >= 400);
    let garbage_json = http
        .raw(
            Request::builder()
                .method(Method::POST)
                .uri(format!(
                    "http://{}/api/v10/channels/{channel}/messages",
                    proxy.addr()
                ))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(b"{not json")))
                .unwrap(),
        )
        .await;
    assert_eq!(garbage_json.status, 400, "Discord's answer to bad JSON");
    // Still serving.
    assert_eq!(http.post_message(channel, "still up").await.status, 200);
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}
