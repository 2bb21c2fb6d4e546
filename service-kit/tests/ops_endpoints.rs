//! The operations listener answers /metrics, /healthz and /readyz, and stops on shutdown.

use std::sync::Arc;
use std::time::Duration;

use aegis_service::{CancellationToken, OpsServer, Readiness, service_registry};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use tokio::net::TcpStream;

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let stream = TcpStream::connect(addr)
        .await
        .expect("ops listener accepts");
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .expect("valid request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

async fn start(readiness: Readiness) -> (OpsServer, CancellationToken, Counter) {
    let mut registry = service_registry("test");
    let requests = Counter::default();
    registry.register(
        "test_requests",
        "Requests seen by the test",
        requests.clone(),
    );
    let shutdown = CancellationToken::new();
    let server = OpsServer::bind(
        ([127, 0, 0, 1], 0).into(),
        Arc::new(registry),
        readiness,
        shutdown.clone(),
    )
    .await
    .expect("binds a free port");
    (server, shutdown, requests)
}

#[tokio::test]
async fn metrics_are_served_as_openmetrics_with_build_info() {
    let (server, _shutdown, requests) = start(Readiness::new()).await;
    requests.inc_by(3);
    let (status, content_type, body) = get(server.local_addr(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(
        body.contains(r#"aegis_build_info{service="test",version="#),
        "{body}"
    );
    assert!(body.contains("aegis_test_requests_total 3"), "{body}");
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
}

#[tokio::test]
async fn healthz_is_ok_and_unknown_paths_are_404() {
    let (server, _shutdown, _) = start(Readiness::new()).await;
    assert_eq!(get(server.local_addr(), "/healthz").await.0, 200);
    assert_eq!(get(server.local_addr(), "/nope").await.0, 404);
}

#[tokio::test]
async fn readyz_follows_components_and_draining() {
    let readiness = Readiness::new();
    readiness.register("nats");
    let (server, _shutdown, _) = start(readiness.clone()).await;

    let (status, _, body) = get(server.local_addr(), "/readyz").await;
    assert_eq!((status, body.as_str()), (503, "not ready: nats\n"));

    readiness.set("nats", true);
    assert_eq!(get(server.local_addr(), "/readyz").await.0, 200);

    readiness.drain();
    let (status, _, body) = get(server.local_addr(), "/readyz").await;
    assert_eq!((status, body.as_str()), (503, "not ready: draining\n"));
}

#[tokio::test]
async fn a_service_status_route_is_served_as_json() {
    let shutdown = CancellationToken::new();
    let route = aegis_service::StatusRoute::json("/shards", || r#"[{"shard":0}]"#.to_owned());
    let server = OpsServer::bind_with_routes(
        ([127, 0, 0, 1], 0).into(),
        Arc::new(service_registry("test")),
        Readiness::new(),
        vec![route],
        shutdown.clone(),
    )
    .await
    .expect("binds");
    let (status, content_type, body) = get(server.local_addr(), "/shards").await;
    assert_eq!(
        (status, content_type.as_str(), body.as_str()),
        (200, "application/json", r#"[{"shard":0}]"#)
    );
}

#[tokio::test]
async fn cancelling_shutdown_stops_the_listener() {
    let (server, shutdown, _) = start(Readiness::new()).await;
    let addr = server.local_addr();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server.stopped())
        .await
        .expect("listener stops within 5 s");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "port still accepting after shutdown"
    );
}
