//! HTTP helpers: JSON responses and Discord's error bodies.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

/// Response type of every handler.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// Largest request body read (Discord's own limit for JSON bodies is far below this).
const MAX_BODY: usize = 8 << 20;

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// An empty `204 No Content`.
pub(crate) fn no_content() -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// Discord's error body `{"message", "code"}`.
pub(crate) fn json_error(status: StatusCode, code: u32, message: &str) -> HttpResponse {
    json_response(status, &json!({"message": message, "code": code}))
}

/// Reads a request body up to [`MAX_BODY`]; `None` when unreadable or too large.
pub(crate) async fn read_body(body: Incoming) -> Option<Bytes> {
    Limited::new(body, MAX_BODY)
        .collect()
        .await
        .ok()
        .map(http_body_util::Collected::to_bytes)
}
