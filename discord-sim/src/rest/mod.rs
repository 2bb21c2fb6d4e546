//! Discord's REST API (`/api/v10/...`): routing, authentication, the call log and errors.

mod bans;
mod channels;
mod commands;
mod error;
mod guilds;
pub(crate) mod interactions;
mod messages;
mod multipart;
mod oauth2;
pub(crate) use oauth2::OAuth;
pub(crate) mod ratelimit;
mod ratelimit_config;

pub use interactions::InteractionLog;
pub use ratelimit::{RateLimitConfig, RouteLimit};
mod users;

use std::collections::HashMap;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use serde_json::Value;

pub(crate) use error::ApiError;

use crate::http::{HttpResponse, read_body};
use crate::snowflake::now_ms;
use crate::state::Shared;

/// One REST call as the control API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct RestCall {
    /// HTTP method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Unix milliseconds when it was served.
    pub at_ms: u64,
    /// The decoded `X-Audit-Log-Reason`, if sent.
    pub reason: Option<String>,
    /// Request body (JSON, or `null`).
    pub body: Value,
}

/// A handler's successful answer.
pub(crate) enum Reply {
    /// JSON with a status.
    Json(StatusCode, Value),
    /// 204 No Content.
    NoContent,
    /// 302 Found to this location.
    Redirect(String),
}

/// Result of a handler.
pub(crate) type ApiResult = Result<Reply, ApiError>;

/// Everything a handler needs to know about the request.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) method: Method,
    pub(crate) query: HashMap<String, String>,
    pub(crate) body: Value,
    pub(crate) reason: Option<String>,
    pub(crate) host: Option<String>,
    /// The bytes of the files of a `multipart/form-data` body, in order.
    pub(crate) files: Vec<Bytes>,
    /// Gateway events the request causes, dispatched once the world lock is released.
    pub(crate) events: Vec<(&'static str, Option<u64>, Value)>,
}

impl Ctx<'_> {
    /// A numeric query parameter.
    pub(crate) fn query_u64(&self, key: &str) -> Option<u64> {
        self.query.get(key).and_then(|v| v.parse().ok())
    }
}

pub(crate) fn ok(v: Value) -> ApiResult {
    Ok(Reply::Json(StatusCode::OK, v))
}

/// Parses a path segment as a snowflake.
pub(crate) fn id(segment: &str) -> Option<u64> {
    segment.parse().ok()
}

/// Decodes `%XX` escapes (the `X-Audit-Log-Reason` header is URL-encoded); `plus_is_space`
/// for query strings.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && b[i] == b'+' {
            b' '
        } else {
            b[i]
        });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value.
pub(crate) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Serves one REST request.
pub(crate) async fn handle(req: Request<Incoming>, shared: &Shared) -> HttpResponse {
    crate::counters::Counters::bump(&shared.counters.rest_requests);
    let (parts, body) = req.into_parts();
    let full_path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let path = parts.uri.path();
    let path = path
        .strip_prefix("/api/v10")
        .or_else(|| path.strip_prefix("/api"))
        .unwrap_or(path)
        .trim_end_matches('/')
        .to_owned();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|h: &HeaderValue| h.to_str().ok())
    };
    let auth_header = header(AUTHORIZATION.as_str()).unwrap_or("").to_owned();
    let token = auth_header.strip_prefix("Bot ").map(str::to_owned);
    let bearer = auth_header
        .strip_prefix("Bearer ")
        .and_then(|t| shared.oauth.bearer(t));
    let basic = auth_header.strip_prefix("Basic ").map(str::to_owned);
    let authorized = token.as_deref() == Some(shared.config.token.as_str());
    let content_type = header(CONTENT_TYPE.as_str()).unwrap_or("").to_owned();
    let reason = header("x-audit-log-reason").map(|r| percent_decode(r, false));
    let host = header(HOST.as_str()).map(str::to_owned);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();

    let limit = shared
        .ratelimits
        .check(&parts.method, &segments, token.as_deref(), shared);
    let result: Result<Reply, ApiError>;
    let mut logged_body = Value::Null;
    if let Err(limited) = &limit {
        let resp = limited.response();
        shared.log_call(RestCall {
            method: parts.method.to_string(),
            path: full_path,
            status: resp.status().as_u16(),
            at_ms: now_ms(),
            reason,
            body: Value::Null,
        });
        return resp;
    }
    let bytes = read_body(body).await.unwrap_or_else(Bytes::new);
    let mut files = Vec::new();
    let parsed = if bytes.is_empty() {
        Ok(Value::Null)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        Ok(Value::Object(
            parse_query(Some(&String::from_utf8_lossy(&bytes)))
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ))
    } else if content_type.starts_with("multipart/form-data") {
        let (payload, data) = multipart::multipart_payload(&content_type, &bytes);
        files = data;
        Ok(payload)
    } else {
        serde_json::from_slice::<Value>(&bytes).map_err(|_| ApiError::invalid_json())
    };
    match parsed {
        Err(e) => result = Err(e),
        Ok(body) => {
            logged_body = body.clone();
            let mut ctx = Ctx {
                shared,
                method: parts.method.clone(),
                query: parse_query(parts.uri.query()),
                body,
                reason: reason.clone(),
                host,
                files,
                events: Vec::new(),
            };
            if segments == ["oauth2", "authorize"] && ctx.method == Method::GET {
                result = oauth2::authorize(&ctx);
            } else if segments == ["oauth2", "token"] && ctx.method == Method::POST {
                result = oauth2::exchange(&ctx, basic.as_deref());
            } else if let Some((user_id, scope)) = &bearer {
                result = oauth2::bearer_route(&ctx, &segments, *user_id, scope);
            } else if authorized
                || interactions::is_webhook_route(&segments)
                || segments.first() == Some(&"gateway") && segments.len() == 1
            {
                result = route(&mut ctx, &segments);
                for (event, guild, data) in std::mem::take(&mut ctx.events) {
                    shared.dispatch(event, guild, &data);
                }
            } else {
                result = Err(ApiError::unauthorized());
            }
        }
    }
    let mut resp = match result {
        Ok(Reply::Json(status, v)) => crate::http::json_response(status, &v),
        Ok(Reply::NoContent) => crate::http::no_content(),
        Ok(Reply::Redirect(location)) => {
            let mut resp = crate::http::no_content();
            *resp.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(hyper::header::LOCATION, v);
            }
            resp
        }
        Err(e) => crate::http::json_response(e.status, &e.body()),
    };
    if let Ok(headers) = &limit {
        headers.apply(&mut resp);
    }
    shared.ratelimits.record_status(resp.status());
    shared.log_call(RestCall {
        method: parts.method.to_string(),
        path: full_path,
        status: resp.status().as_u16(),
        at_ms: now_ms(),
        reason,
        body: logged_body,
    });
    resp
}

fn route(ctx: &mut Ctx<'_>, seg: &[&str]) -> ApiResult {
    match seg.first().copied() {
        Some("guilds") => guilds::route(ctx, &seg[1..]),
        Some("channels") => channels::route(ctx, &seg[1..]),
        Some("interactions" | "webhooks" | "applications") => interactions::route(ctx, seg),
        Some("users" | "gateway" | "oauth2") => users::route(ctx, seg),
        _ => Err(ApiError::not_found()),
    }
}
