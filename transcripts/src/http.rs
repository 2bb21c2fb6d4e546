//! The one HTTP(S) client of the crate, on the workspace's hyper + hyper-rustls (ring): it
//! carries object_store's S3 requests (instead of the reqwest client object_store would bring)
//! and downloads attachments from Discord's CDN.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::header::CONTENT_LENGTH;
use hyper::{Request, StatusCode};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use object_store::client::{
    ClientOptions, HttpError, HttpErrorKind, HttpRequest, HttpRequestBody, HttpResponse,
    HttpResponseBody, HttpService,
};
use tokio::io::AsyncWriteExt;

/// How long a store request may wait for its response head.
const STORE_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A pooled HTTP/1.1 client, HTTP or HTTPS (webpki roots).
#[derive(Clone, Debug)]
pub(crate) struct Web {
    client: Client<HttpsConnector<HttpConnector>, HttpRequestBody>,
}

/// Why a request did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebError {
    /// TLS set-up failed.
    #[error("TLS set-up failed: {0}")]
    Tls(#[from] rustls::Error),
    /// The URL cannot be requested.
    #[error("bad URL {url:?}: {source}")]
    Url {
        url: String,
        #[source]
        source: hyper::http::Error,
    },
    /// Connecting or sending failed.
    #[error("request failed: {0}")]
    Request(#[from] hyper_util::client::legacy::Error),
    /// Reading the body failed.
    #[error("reading the body failed: {0}")]
    Body(#[from] hyper::Error),
    /// The server answered with an error status.
    #[error("answered {0}")]
    Status(StatusCode),
    /// The body is bigger than allowed.
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// Too slow.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Writing the downloaded file failed.
    #[error("writing {path} failed: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Web {
    /// Builds the client.
    pub(crate) fn new() -> Result<Self, WebError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self { client })
    }

    /// Downloads `url` into the file `dest`, refusing more than `max` bytes and taking at most
    /// `timeout`; returns the size.
    pub(crate) async fn download(
        &self,
        url: &str,
        dest: &Path,
        max: u64,
        timeout: Duration,
    ) -> Result<u64, WebError> {
        tokio::time::timeout(timeout, self.download_inner(url, dest, max))
            .await
            .map_err(|_| WebError::Timeout(timeout))?
    }

    async fn download_inner(&self, url: &str, dest: &Path, max: u64) -> Result<u64, WebError> {
        let request = Request::get(url)
            .body(HttpRequestBody::empty())
            .map_err(|source| WebError::Url {
                url: url.to_owned(),
                source,
            })?;
        let response = self.client.request(request).await?;
        if !response.status().is_success() {
            return Err(WebError::Status(response.status()));
        }
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > max) {
            return Err(WebError::TooLarge(max));
        }
        let file_error = |source| WebError::File {
            path: dest.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::create(dest).await.map_err(file_error)?;
        let mut body = response.into_body();
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue; // trailers
            };
            written += data.len() as u64;
            if written > max {
                return Err(WebError::TooLarge(max));
            }
            file.write_all(&data).await.map_err(file_error)?;
        }
        file.flush().await.map_err(file_error)?;
        Ok(written)
    }
}

/// A failure of the response head to arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("no response within {0:?}")]
struct HeadTimeout(Duration);

#[async_trait::async_trait]
impl HttpService for Web {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let response = tokio::time::timeout(STORE_REQUEST_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| {
                HttpError::new(HttpErrorKind::Timeout, HeadTimeout(STORE_REQUEST_TIMEOUT))
            })?
            .map_err(|e| {
                let kind = if e.is_connect() {
                    HttpErrorKind::Connect
                } else {
                    HttpErrorKind::Request
                };
                HttpError::new(kind, e)
            })?;
        let (parts, body) = response.into_parts();
        let body = body.map_err(|e| HttpError::new(HttpErrorKind::Interrupted, e));
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}

/// Hands [`Web`] to object_store's S3 client.
#[derive(Debug)]
pub(crate) struct Connector(pub(crate) Web);

impl object_store::client::HttpConnector for Connector {
    fn connect(
        &self,
        _options: &ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        Ok(object_store::client::HttpClient::new(self.0.clone()))
    }
}
