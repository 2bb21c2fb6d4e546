//! The HTTP server: one port for REST (`/api/...`), the control API (`/_sim/...`), the
//! attachment CDN (`/attachments/...`) and the gateway (any other path with `Upgrade: websocket`, normally `/?v=10&encoding=json`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::gateway::compress::Mode;
use crate::http::{HttpResponse, json_error};
use crate::state::Shared;

/// Accepts connections until shutdown.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let shutdown = shared.shutdown.clone();
            let service = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(route(req, shared).await) }
            });
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::select! {
                () = shutdown.cancelled() => {}
                res = conn => if let Err(e) = res {
                    tracing::debug!(error = %e, "HTTP connection ended with an error");
                },
            }
        });
    }
}

async fn route(req: Request<Incoming>, shared: Arc<Shared>) -> HttpResponse {
    let path = req.uri().path().to_owned();
    let is_upgrade = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if path.starts_with("/_sim/") || path == "/_sim" {
        crate::control_http::handle(req, &shared).await
    } else if path.starts_with("/api/") || path == "/oauth2/authorize" {
        crate::rest::handle(req, &shared).await
    } else if path.starts_with("/attachments/") && !is_upgrade {
        crate::cdn::serve(req.method(), &path, &shared.cdn)
    } else if is_upgrade {
        upgrade(req, shared)
    } else {
        json_error(StatusCode::NOT_FOUND, 0, "404: Not Found")
    }
}

/// Query parameters of a gateway URL.
fn gateway_params(query: &str) -> Result<(Mode, bool), &'static str> {
    let mut mode = Mode::None;
    let mut version_ok = true;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "v" => version_ok = v == "10",
            "encoding" if v != "json" => return Err("only encoding=json is simulated"),
            "compress" => {
                mode = match v {
                    "zlib-stream" => Mode::Zlib,
                    "zstd-stream" => Mode::Zstd,
                    _ => return Err("compress must be zlib-stream or zstd-stream"),
                }
            }
            _ => {}
        }
    }
    Ok((mode, version_ok))
}

fn upgrade(mut req: Request<Incoming>, shared: Arc<Shared>) -> HttpResponse {
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY) else {
        return json_error(StatusCode::BAD_REQUEST, 0, "missing Sec-WebSocket-Key");
    };
    let accept = derive_accept_key(key.as_bytes());
    let (mode, version_ok) = match gateway_params(req.uri().query().unwrap_or("")) {
        Ok(p) => p,
        Err(msg) => return json_error(StatusCode::BAD_REQUEST, 0, msg),
    };
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let resume_url = shared.gateway_url(host.as_deref());
    tokio::spawn(async move {
        match hyper::upgrade::on(&mut req).await {
            Ok(upgraded) => {
                let mut ws_config = WebSocketConfig::default();
                ws_config.max_message_size = Some(1 << 20);
                ws_config.max_frame_size = Some(1 << 20);
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config),
                )
                .await;
                crate::gateway::serve(ws, shared, mode, resume_url, version_ok).await;
            }
            Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(
        UPGRADE,
        hyper::header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        CONNECTION,
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_query_parameters() {
        assert_eq!(gateway_params("v=10&encoding=json"), Ok((Mode::None, true)));
        assert_eq!(
            gateway_params("v=10&encoding=json&compress=zstd-stream"),
            Ok((Mode::Zstd, true))
        );
        assert_eq!(
            gateway_params("v=9&compress=zlib-stream"),
            Ok((Mode::Zlib, false))
        );
        assert!(gateway_params("encoding=etf").is_err());
    }
}
