//! `GET /api/v10/gateway/bot`: the WebSocket URL, recommended shards and session start limit.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{AUTHORIZATION, USER_AGENT};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use twilight_model::gateway::connection_info::BotConnectionInfo;

/// Why `GET /gateway/bot` gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum GatewayInfoError {
    /// The URL could not be built from the configured base.
    #[error("invalid Discord API URL {url:?}")]
    Url {
        /// The URL tried.
        url: String,
    },
    /// The request failed before a response.
    #[error("GET {url} failed: {source}")]
    Request {
        /// The URL tried.
        url: String,
        /// The client's error.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// Discord (or rest-proxy) answered with an error status.
    #[error("GET {url} answered {status}: {body}")]
    Status {
        /// The URL tried.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The response body (Discord's JSON error), shortened.
        body: String,
    },
    /// The body is not a gateway/bot object.
    #[error("GET {url} returned an unexpected body: {source}")]
    Body {
        /// The URL tried.
        url: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The body could not be read.
    #[error("reading the response of GET {url} failed: {source}")]
    Read {
        /// The URL tried.
        url: String,
        /// The transport error.
        #[source]
        source: hyper::Error,
    },
}

/// Fetches the bot's gateway information from `api_url` (Discord, rest-proxy or the simulator).
pub async fn fetch_gateway_info(
    api_url: &str,
    token: &str,
) -> Result<BotConnectionInfo, GatewayInfoError> {
    let url = format!("{}/api/v10/gateway/bot", api_url.trim_end_matches('/'));
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| GatewayInfoError::Url { url: url.clone() })?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(https);
    let request = hyper::Request::get(uri)
        .header(AUTHORIZATION, format!("Bot {token}"))
        .header(
            USER_AGENT,
            concat!("DiscordBot (aegis, ", env!("CARGO_PKG_VERSION"), ")"),
        )
        .body(Empty::new())
        .map_err(|_| GatewayInfoError::Url { url: url.clone() })?;
    let response = client
        .request(request)
        .await
        .map_err(|source| GatewayInfoError::Request {
            url: url.clone(),
            source,
        })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|source| GatewayInfoError::Read {
            url: url.clone(),
            source,
        })?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(GatewayInfoError::Status {
            url,
            status: status.as_u16(),
            body: text.chars().take(300).collect(),
        });
    }
    serde_json::from_slice(&body).map_err(|source| GatewayInfoError::Body { url, source })
}
