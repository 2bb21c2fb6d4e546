//! The pooled HTTP(S) client to Discord and what its responses say about rate limits.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::HeaderMap;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// The client type: keep-alive pool, HTTP/1.1, TLS through rustls (ring, webpki roots).
pub(crate) type Upstream = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why the TLS setup for Discord failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused the configuration.
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
    /// `AEGIS_REST_CA_FILE` could not be used.
    #[error("AEGIS_REST_CA_FILE {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// The PEM certificates of `path`, at least one.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|err| format!("cannot be read ({err})"))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("is not PEM ({err})"))?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate".to_owned());
    }
    Ok(certificates)
}

/// Builds the pooled client. TLS trusts the webpki roots (Mozilla's, compiled in), plus the
/// certificates of `ca_file` when given (a TLS-intercepting egress proxy, or the tests' own CA).
pub(crate) fn client(ca_file: Option<&Path>) -> Result<Upstream, TlsError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_keepalive(Some(Duration::from_secs(60)));
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match ca_file {
        None => HttpsConnectorBuilder::new().with_provider_and_webpki_roots(provider)?,
        Some(path) => {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let extra = read_ca_file(path).map_err(|reason| TlsError::CaFile {
                path: path.display().to_string(),
                reason,
            })?;
            for certificate in extra {
                roots.add(certificate)?;
            }
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let https = builder.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .pool_timer(TokioTimer::new())
        .build(https))
}

/// The scope of a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The bot's own per-route limit.
    User,
    /// The bot's global limit.
    Global,
    /// A per-resource limit shared with others: not counted as invalid.
    Shared,
}

impl Scope {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Global => "global",
            Self::Shared => "shared",
        }
    }
}

/// Rate-limit headers of a response.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RateLimitHeaders {
    pub(crate) bucket: Option<String>,
    pub(crate) limit: Option<u32>,
    pub(crate) remaining: Option<u32>,
    pub(crate) reset_after: Option<Duration>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) scope: Option<Scope>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn seconds(value: &str) -> Option<Duration> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

impl RateLimitHeaders {
    /// Reads Discord's `X-RateLimit-*` and `Retry-After` headers; a 429 without a scope is a
    /// user limit unless `X-RateLimit-Global` says otherwise.
    pub(crate) fn parse(status: u16, headers: &HeaderMap) -> Self {
        let reset_after = header(headers, "x-ratelimit-reset-after").and_then(seconds);
        let retry_header = header(headers, "retry-after").and_then(seconds);
        let global =
            header(headers, "x-ratelimit-global").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let scope = (status == 429).then(|| match header(headers, "x-ratelimit-scope") {
            _ if global => Scope::Global,
            Some(s) if s.eq_ignore_ascii_case("global") => Scope::Global,
            Some(s) if s.eq_ignore_ascii_case("shared") => Scope::Shared,
            _ => Scope::User,
        });
        // Retry-After is whole seconds rounded up; the reset-after header is more precise but may
        // describe a different (per-route) limit than a shared or global 429: take the longer.
        let retry_after = (status == 429).then(|| {
            retry_header
                .into_iter()
                .chain(reset_after)
                .max()
                .unwrap_or(Duration::from_secs(1))
        });
        Self {
            bucket: header(headers, "x-ratelimit-bucket")
                .filter(|b| !b.is_empty() && b.len() <= 64)
                .map(str::to_owned),
            limit: header(headers, "x-ratelimit-limit").and_then(|v| v.parse().ok()),
            remaining: header(headers, "x-ratelimit-remaining").and_then(|v| v.parse().ok()),
            reset_after,
            retry_after,
            scope,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper::HeaderMap;

    use super::{RateLimitHeaders, Scope};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn route_headers() {
        let h = RateLimitHeaders::parse(
            200,
            &headers(&[
                ("x-ratelimit-limit", "5"),
                ("x-ratelimit-remaining", "4"),
                ("x-ratelimit-reset-after", "1.25"),
                ("x-ratelimit-bucket", "abcd"),
            ]),
        );
        assert_eq!(h.limit, Some(5));
        assert_eq!(h.remaining, Some(4));
        assert_eq!(h.reset_after, Some(Duration::from_millis(1250)));
        assert_eq!(h.bucket.as_deref(), Some("abcd"));
        assert_eq!(h.scope, None);
    }

    #[test]
    fn scopes_of_429() {
        let g = RateLimitHeaders::parse(
            429,
            &headers(&[("retry-after", "2"), ("x-ratelimit-global", "true")]),
        );
        assert_eq!(g.scope, Some(Scope::Global));
        assert_eq!(g.retry_after, Some(Duration::from_secs(2)));
        let s = RateLimitHeaders::parse(
            429,
            &headers(&[("retry-after", "3"), ("x-ratelimit-scope", "shared")]),
        );
        assert_eq!(s.scope, Some(Scope::Shared));
        let u = RateLimitHeaders::parse(429, &HeaderMap::new());
        assert_eq!(u.scope, Some(Scope::User));
        assert_eq!(u.retry_after, Some(Duration::from_secs(1)));
    }
}
