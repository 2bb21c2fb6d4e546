//! HTTP rate limits as Discord applies them: per-route buckets keyed by top-level resource,
//! the global per-token limit over a rolling second (interaction endpoints exempt), shared-scope 429s and the
//! invalid-request limit (Cloudflare ban).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use hyper::{Method, Response, StatusCode};
use serde_json::json;

use crate::http::HttpResponse;
use crate::snowflake::{now_ms, timestamp_ms};
use crate::state::Shared;

pub use super::ratelimit_config::{RateLimitConfig, RouteLimit};

#[derive(Debug)]
struct Window {
    count: u32,
    reset_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<(String, String), Window>,
    /// Send times of the last second per token (a rolling window, the strict reading of
    /// Discord's "50 requests per second").
    global: HashMap<String, VecDeque<Instant>>,
    invalid: VecDeque<Instant>,
    shared_until: HashMap<String, Instant>,
}

/// The limiter.
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    state: Mutex<State>,
    config: std::sync::RwLock<std::sync::Arc<RateLimitConfig>>,
}

/// Headers of an allowed request.
#[derive(Debug)]
pub(crate) struct Headers {
    limit: u32,
    remaining: u32,
    reset_after: f64,
    bucket: String,
}

/// Why a request was refused.
#[derive(Debug)]
pub(crate) enum Limited {
    Route {
        headers: Headers,
        retry_after: f64,
        shared: bool,
    },
    Global {
        retry_after: f64,
    },
    Cloudflare,
}

fn header(resp: &mut HttpResponse, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

impl Headers {
    pub(crate) fn apply(&self, resp: &mut HttpResponse) {
        if self.bucket.is_empty() {
            return;
        }
        let reset = now_ms() as f64 / 1000.0 + self.reset_after;
        header(resp, "x-ratelimit-limit", self.limit.to_string());
        header(resp, "x-ratelimit-remaining", self.remaining.to_string());
        header(resp, "x-ratelimit-reset", format!("{reset:.3}"));
        header(
            resp,
            "x-ratelimit-reset-after",
            format!("{:.3}", self.reset_after),
        );
        header(resp, "x-ratelimit-bucket", self.bucket.clone());
        // The docs list the scope only on 429s, but Discord also sends `user` on successful
        // responses and twilight-http 0.18 only learns buckets from responses carrying it.
        header(resp, "x-ratelimit-scope", "user".to_owned());
    }
}

fn limited_body(message: &str, retry_after: f64, global: bool) -> HttpResponse {
    let mut resp = crate::http::json_response(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"message": message, "retry_after": (retry_after * 1000.0).round() / 1000.0, "global": global}),
    );
    if let Ok(v) = HeaderValue::from_str(&(retry_after.ceil() as u64).max(1).to_string()) {
        resp.headers_mut().insert(RETRY_AFTER, v);
    }
    resp
}

impl Limited {
    pub(crate) fn response(&self) -> HttpResponse {
        match self {
            Self::Route {
                headers,
                retry_after,
                shared,
            } => {
                let msg = if *shared {
                    "The resource is being rate limited."
                } else {
                    "You are being rate limited."
                };
                let mut resp = limited_body(msg, *retry_after, false);
                headers.apply(&mut resp);
                header(
                    &mut resp,
                    "x-ratelimit-scope",
                    if *shared { "shared" } else { "user" }.to_owned(),
                );
                resp
            }
            Self::Global { retry_after } => {
                let mut resp = limited_body("You are being rate limited.", *retry_after, true);
                header(&mut resp, "x-ratelimit-global", "true".to_owned());
                header(&mut resp, "x-ratelimit-scope", "global".to_owned());
                resp
            }
            Self::Cloudflare => {
                let mut resp = Response::new(Full::new(Bytes::from_static(b"error code: 1015")));
                *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                resp.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=UTF-8"),
                );
                resp
            }
        }
    }

    fn scope(&self) -> &'static str {
        match self {
            Self::Route { shared: true, .. } => "shared",
            Self::Route { .. } => "user",
            Self::Global { .. } => "global",
            Self::Cloudflare => "cloudflare",
        }
    }
}

/// `(group, top-level resource, exempt from the global limit)` of a request. Exempt are
/// Discord's interaction endpoints only: the callback, and the follow-up webhook of the
/// application (`/webhooks/{application_id}/{interaction token}`); any other webhook counts
/// against the global limit of its caller (the IP address when it sends no token).
pub(crate) fn classify(
    method: &Method,
    seg: &[&str],
    application_id: u64,
) -> (String, String, bool) {
    let (resource, major_len) = match seg {
        ["channels" | "guilds", id, ..] => (format!("{}/{id}", seg[0]), 2),
        ["webhooks", id, token, ..] => (format!("webhooks/{id}/{token}"), 3),
        ["interactions", id, token, ..] => (format!("interactions/{id}/{token}"), 3),
        _ => (String::new(), 0),
    };
    let mut parts: Vec<&str> = Vec::with_capacity(seg.len());
    for (i, s) in seg.iter().enumerate() {
        if major_len > 0 && i == 1 {
            parts.push(":major");
        } else if i > 1 && i < major_len {
            // The rest of the major parameter (a webhook token).
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            parts.push(":id");
        } else {
            parts.push(s);
        }
    }
    let group = format!("{method} {}", parts.join("/"));
    // Message deletes are bucketed by message age (under 10 s, over 14 days).
    let group = match (method, seg) {
        (&Method::DELETE, ["channels", _, "messages", m]) => match m.parse::<u64>() {
            Ok(id) => {
                let age = now_ms().saturating_sub(timestamp_ms(id));
                if age < 10_000 {
                    format!("{group}#new")
                } else if age > 14 * 24 * 3600 * 1000 {
                    format!("{group}#old")
                } else {
                    group
                }
            }
            Err(_) => group,
        },
        _ => group,
    };
    let exempt = match seg {
        ["interactions", _, _, "callback"] => true,
        ["webhooks", id, _, ..] => id.parse::<u64>().ok() == Some(application_id),
        _ => false,
    };
    (group, resource, exempt)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RateLimits {
    pub(crate) fn new(config: RateLimitConfig) -> Self {
        Self {
            state: Mutex::default(),
            config: std::sync::RwLock::new(std::sync::Arc::new(config)),
        }
    }

    fn config(&self) -> std::sync::Arc<RateLimitConfig> {
        std::sync::Arc::clone(
            &self
                .config
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub(crate) fn set_config(&self, config: RateLimitConfig) {
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(config);
        *lock(&self.state) = State::default();
    }

    /// Makes every request on `resource` (e.g. `channels/123`) get a shared-scope 429 for `for_`.
    pub(crate) fn limit_resource(&self, resource: &str, for_: Duration) {
        lock(&self.state)
            .shared_until
            .insert(resource.to_owned(), Instant::now() + for_);
    }

    /// Checks (and counts) a request.
    pub(crate) fn check(
        &self,
        method: &Method,
        seg: &[&str],
        token: Option<&str>,
        shared: &Shared,
    ) -> Result<Headers, Limited> {
        let config = std::sync::Arc::clone(&self.config());
        let none = Headers {
            limit: 0,
            remaining: 0,
            reset_after: 0.0,
            bucket: String::new(),
        };
        if !config.enabled {
            return Ok(none);
        }
        // Read before the limiter's lock is taken: never both at once.
        let application_id = shared.world_read().application_id;
        let now = Instant::now();
        let mut state = lock(&self.state);
        while state
            .invalid
            .front()
            .is_some_and(|t| now.duration_since(*t) >= config.invalid_window)
        {
            state.invalid.pop_front();
        }
        if state.invalid.len() >= config.invalid_threshold as usize {
            shared.counters.rest_429("cloudflare");
            return Err(Limited::Cloudflare);
        }
        let (group, resource, exempt) = classify(method, seg, application_id);
        let result = self.check_locked(
            &mut state,
            &config,
            &group,
            &resource,
            exempt,
            token.unwrap_or(""),
            now,
        );
        if let Err(l) = &result {
            shared.counters.rest_429(l.scope());
            if !matches!(l, Limited::Route { shared: true, .. }) {
                state.invalid.push_back(now);
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn check_locked(
        &self,
        state: &mut State,
        config: &RateLimitConfig,
        group: &str,
        resource: &str,
        exempt: bool,
        token: &str,
        now: Instant,
    ) -> Result<Headers, Limited> {
        if !exempt && config.global_per_second > 0 {
            let sent = state.global.entry(token.to_owned()).or_default();
            while sent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
            {
                sent.pop_front();
            }
            if sent.len() >= config.global_per_second as usize {
                let oldest = sent.front().copied().unwrap_or(now);
                return Err(Limited::Global {
                    retry_after: (oldest + Duration::from_secs(1))
                        .saturating_duration_since(now)
                        .as_secs_f64(),
                });
            }
            sent.push_back(now);
        }
        let rule = config.routes.iter().find(|r| group.contains(&r.pattern));
        let (limit, window, bucket) = match rule {
            Some(r) => (r.limit, r.window, r.bucket.clone()),
            None => (
                config.default_limit,
                config.default_window,
                format!("{:016x}", fnv(group)),
            ),
        };
        let w = state
            .buckets
            .entry((bucket.clone(), resource.to_owned()))
            .or_insert(Window {
                count: 0,
                reset_at: now + window,
            });
        if now >= w.reset_at {
            *w = Window {
                count: 0,
                reset_at: now + window,
            };
        }
        let reset_after = w.reset_at.duration_since(now).as_secs_f64();
        if let Some(until) = state
            .shared_until
            .get(resource)
            .copied()
            .filter(|u| *u > now)
        {
            let headers = Headers {
                limit,
                remaining: limit.saturating_sub(w.count),
                reset_after,
                bucket,
            };
            return Err(Limited::Route {
                headers,
                retry_after: until.duration_since(now).as_secs_f64(),
                shared: true,
            });
        }
        if w.count >= limit {
            let headers = Headers {
                limit,
                remaining: 0,
                reset_after,
                bucket,
            };
            return Err(Limited::Route {
                headers,
                retry_after: reset_after,
                shared: false,
            });
        }
        w.count += 1;
        Ok(Headers {
            limit,
            remaining: limit - w.count,
            reset_after,
            bucket,
        })
    }

    /// Counts 401 and 403 responses towards the invalid-request limit.
    pub(crate) fn record_status(&self, status: StatusCode) {
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            && self.config().enabled
        {
            lock(&self.state).invalid.push_back(Instant::now());
        }
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_the_major_parameter_only() {
        let (g, r, exempt) = classify(&Method::POST, &["channels", "123", "messages"], 7);
        assert_eq!(
            (g.as_str(), r.as_str(), exempt),
            ("POST channels/:major/messages", "channels/123", false)
        );
        let (g, r, _) = classify(
            &Method::PUT,
            &["guilds", "1", "members", "2", "roles", "3"],
            7,
        );
        assert_eq!(
            (g.as_str(), r.as_str()),
            ("PUT guilds/:major/members/:id/roles/:id", "guilds/1")
        );
        let (g, r, exempt) = classify(&Method::POST, &["webhooks", "1", "tok"], 7);
        assert_eq!(
            (g.as_str(), r.as_str(), exempt),
            ("POST webhooks/:major", "webhooks/1/tok", false),
            "another application's webhook counts against the global limit"
        );
        let (_, _, exempt) = classify(
            &Method::PATCH,
            &["webhooks", "7", "tok", "messages", "1"],
            7,
        );
        assert!(
            exempt,
            "the application's follow-ups are interaction endpoints"
        );
        let (_, _, exempt) = classify(&Method::POST, &["interactions", "1", "tok", "callback"], 7);
        assert!(exempt);
    }
}
