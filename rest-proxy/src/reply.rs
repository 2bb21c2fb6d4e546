//! Responses rest-proxy writes itself (nothing sent to Discord), in Discord's error shape.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde_json::json;

/// The body of every response: Discord's, streamed, or a local one.
pub(crate) type Body = Either<Incoming, Full<Bytes>>;

/// Header naming why rest-proxy answered locally.
pub(crate) const AEGIS_ERROR: &str = "x-aegis-error";

/// Why a request was answered locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// It would have waited past its deadline for a rate limit.
    Deadline,
    /// Discord answered 401 for this token: nothing more is forwarded until restart.
    TokenInvalid,
    /// Discord answered 404 for this webhook: nothing more is forwarded to it.
    WebhookGone,
    /// The invalid-request window is at the configured threshold.
    InvalidRequestGuard,
    /// The body is larger than `AEGIS_REST_MAX_BODY_BYTES`.
    BodyTooLarge,
    /// The request could not be read or forwarded as given.
    BadRequest,
    /// Discord could not be reached or did not answer in time.
    Upstream,
}

impl Refusal {
    /// The `x-aegis-error` value and metric label.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Deadline => "deadline",
            Self::TokenInvalid => "token_invalid",
            Self::WebhookGone => "webhook_gone",
            Self::InvalidRequestGuard => "invalid_request_guard",
            Self::BodyTooLarge => "body_too_large",
            Self::BadRequest => "bad_request",
            Self::Upstream => "upstream_unavailable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::Deadline | Self::InvalidRequestGuard => StatusCode::SERVICE_UNAVAILABLE,
            Self::TokenInvalid => StatusCode::UNAUTHORIZED,
            Self::WebhookGone => StatusCode::NOT_FOUND,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Upstream => StatusCode::BAD_GATEWAY,
        }
    }
}

/// A local JSON answer: `{"message", "code": 0, "aegis_error", "retry_after"?}` with an
/// `x-aegis-error` header, so clients can tell it from Discord's.
pub(crate) fn refuse(
    refusal: Refusal,
    message: &str,
    retry_after: Option<Duration>,
) -> Response<Body> {
    let mut body = json!({
        "message": format!("rest-proxy: {message}"),
        "code": 0,
        "aegis_error": refusal.code(),
    });
    if let Some(retry) = retry_after {
        body["retry_after"] = json!(retry.as_secs_f64());
    }
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body.to_string()))));
    *response.status_mut() = refusal.status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(AEGIS_ERROR, HeaderValue::from_static(refusal.code()));
    if let Some(retry) = retry_after
        && let Ok(v) = HeaderValue::from_str(&retry.as_secs_f64().ceil().to_string())
    {
        headers.insert(RETRY_AFTER, v);
    }
    response
}
