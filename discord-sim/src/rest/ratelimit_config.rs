//! Rate-limit settings: bucket sizes per route, the global limit and the invalid-request limit.

use std::time::Duration;

/// One route rule: routes whose group contains `pattern` get `limit` requests per `window`,
/// counted in bucket `bucket` (routes with the same bucket share it).
#[derive(Debug, Clone)]
pub struct RouteLimit {
    /// Substring of the route group (`"POST channels/:major/messages"`).
    pub pattern: String,
    /// Requests per window.
    pub limit: u32,
    /// Window length.
    pub window: Duration,
    /// `X-RateLimit-Bucket` value.
    pub bucket: String,
}

impl RouteLimit {
    /// A rule.
    pub fn new(pattern: &str, limit: u32, window: Duration, bucket: &str) -> Self {
        Self {
            pattern: pattern.to_owned(),
            limit,
            window,
            bucket: bucket.to_owned(),
        }
    }
}

/// Rate-limit settings (Discord does not document bucket sizes; these defaults are realistic).
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Whether any limit applies (benchmarks turn this off).
    pub enabled: bool,
    /// Requests per second per token, interaction routes exempt (50 on Discord).
    pub global_per_second: u32,
    /// Route rules, first match wins.
    pub routes: Vec<RouteLimit>,
    /// Limit of routes no rule matches.
    pub default_limit: u32,
    /// Window of routes no rule matches.
    pub default_window: Duration,
    /// 401/403/non-shared 429 responses allowed per `invalid_window` (10,000 per 10 minutes).
    pub invalid_threshold: u32,
    /// Window of the invalid-request limit.
    pub invalid_window: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            enabled: true,
            global_per_second: 50,
            routes: vec![
                RouteLimit::new("POST channels/:major/messages", 5, s(5), "a1b2c3d4e5f60001"),
                RouteLimit::new(
                    "DELETE channels/:major/messages/:id#new",
                    5,
                    s(1),
                    "a1b2c3d4e5f60002",
                ),
                RouteLimit::new(
                    "DELETE channels/:major/messages/:id#old",
                    3,
                    s(1),
                    "a1b2c3d4e5f60003",
                ),
                RouteLimit::new(
                    "DELETE channels/:major/messages/:id",
                    5,
                    s(1),
                    "a1b2c3d4e5f60004",
                ),
                RouteLimit::new(
                    "guilds/:major/members/:id/roles/:id",
                    10,
                    s(10),
                    "a1b2c3d4e5f60005",
                ),
                RouteLimit::new("guilds/:major/bans/:id", 5, s(5), "a1b2c3d4e5f60006"),
                RouteLimit::new(
                    "PATCH guilds/:major/members/:id",
                    10,
                    s(10),
                    "a1b2c3d4e5f60007",
                ),
                RouteLimit::new(
                    "DELETE guilds/:major/members/:id",
                    5,
                    s(5),
                    "a1b2c3d4e5f60008",
                ),
                RouteLimit::new("webhooks/:major", 5, s(2), "a1b2c3d4e5f60009"),
            ],
            default_limit: 50,
            default_window: s(1),
            invalid_threshold: 10_000,
            invalid_window: s(600),
        }
    }
}
