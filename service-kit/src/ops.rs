//! The operations HTTP listener: `/metrics`, `/healthz`, `/readyz`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What `/readyz` answers: ready when every registered component says so and the process is not
/// draining.
///
/// A component registers itself not-ready ([`Readiness::register`]) and flips to ready once it can
/// do its job (connected to NATS, streams provisioned, ...). On shutdown the process calls
/// [`Readiness::drain`] first, so load balancers and Nomad stop routing to it before it stops.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    state: Arc<Mutex<ReadinessState>>,
}

#[derive(Debug, Default)]
struct ReadinessState {
    components: BTreeMap<String, bool>,
    draining: bool,
}

impl Readiness {
    /// A readiness with no components: ready until something registers.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut ReadinessState) -> T) -> T {
        // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Adds a component, not ready yet.
    pub fn register(&self, component: &str) {
        self.with(|s| s.components.insert(component.to_owned(), false));
    }

    /// Marks a component ready or not (registering it if needed).
    pub fn set(&self, component: &str, ready: bool) {
        self.with(|s| s.components.insert(component.to_owned(), ready));
    }

    /// From now on the process reports not ready, whatever its components say.
    pub fn drain(&self) {
        self.with(|s| s.draining = true);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.not_ready().is_empty()
    }

    /// What keeps the process from being ready: component names, or `draining`.
    pub fn not_ready(&self) -> Vec<String> {
        self.with(|s| {
            let mut waiting: Vec<String> = s
                .components
                .iter()
                .filter(|(_, ready)| !**ready)
                .map(|(c, _)| c.clone())
                .collect();
            if s.draining {
                waiting.push("draining".to_owned());
            }
            waiting
        })
    }
}

/// A metrics registry with Aegis's prefix and an `aegis_build_info{service, version}` metric.
pub fn service_registry(service: &str) -> Registry {
    let mut registry = Registry::with_prefix("aegis");
    let info = Info::new(vec![
        ("service".to_owned(), service.to_owned()),
        ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
    ]);
    registry.register("build", "Which service and version this process runs", info);
    registry
}

/// The operations listener could not bind its address (taken, or not allowed).
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for ops endpoints on {addr}: {source}")]
pub struct OpsBindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

/// The running operations listener.
#[derive(Debug)]
pub struct OpsServer {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

/// A service's own status page on the ops listener (gateway-proxy's `/shards`): a path and a
/// function producing its JSON body on each request.
#[derive(Clone)]
pub struct StatusRoute {
    path: String,
    render: Arc<dyn Fn() -> String + Send + Sync>,
}

impl StatusRoute {
    /// Serves `render()` as `application/json` at `path`.
    pub fn json(
        path: impl Into<String>,
        render: impl Fn() -> String + Send + Sync + 'static,
    ) -> Self {
        Self {
            path: path.into(),
            render: Arc::new(render),
        }
    }
}

impl std::fmt::Debug for StatusRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusRoute")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Shared {
    registry: Arc<Registry>,
    readiness: Readiness,
    routes: Vec<StatusRoute>,
}

impl OpsServer {
    /// Binds `addr` (port 0 picks a free port) and serves until `shutdown` is cancelled, then
    /// finishes the requests in flight (for up to 5 s) and stops.
    ///
    /// - `GET /metrics`: every metric of `registry`, OpenMetrics text.
    /// - `GET /healthz`: 200 while the process runs.
    /// - `GET /readyz`: 200 when `readiness` is ready, else 503 listing what is not.
    pub async fn bind(
        addr: SocketAddr,
        registry: Arc<Registry>,
        readiness: Readiness,
        shutdown: CancellationToken,
    ) -> Result<Self, OpsBindError> {
        Self::bind_with_routes(addr, registry, readiness, Vec::new(), shutdown).await
    }

    /// [`bind`](Self::bind), plus the service's own status pages.
    pub async fn bind_with_routes(
        addr: SocketAddr,
        registry: Arc<Registry>,
        readiness: Readiness,
        routes: Vec<StatusRoute>,
        shutdown: CancellationToken,
    ) -> Result<Self, OpsBindError> {
        let bind_error = |source| OpsBindError { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let shared = Arc::new(Shared {
            registry,
            readiness,
            routes,
        });
        let task = tokio::spawn(accept_loop(listener, shared, shutdown));
        tracing::info!(%local_addr, "ops endpoints listening (/metrics, /healthz, /readyz)");
        Ok(Self { local_addr, task })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until the listener has stopped (after `shutdown` was cancelled).
    pub async fn stopped(self) {
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "ops listener task failed");
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, _peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %err, "ops listener cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let shared = Arc::clone(&shared);
        let service = service_fn(move |request| {
            let shared = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(respond(&shared, &request)) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "ops connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("ops connections still open after 5 s; closing them");
    }
}

fn respond(shared: &Shared, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is supported\n".to_owned(),
        );
    }
    match request.uri().path() {
        "/metrics" => {
            let mut body = String::new();
            match encode(&mut body, &shared.registry) {
                Ok(()) => {
                    let mut response = text(StatusCode::OK, body);
                    response.headers_mut().insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    );
                    response
                }
                Err(err) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot encode metrics: {err}\n"),
                ),
            }
        }
        "/healthz" => text(StatusCode::OK, "ok\n".to_owned()),
        "/readyz" => {
            let waiting = shared.readiness.not_ready();
            if waiting.is_empty() {
                text(StatusCode::OK, "ready\n".to_owned())
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {}\n", waiting.join(", ")),
                )
            }
        }
        path => match shared.routes.iter().find(|route| route.path == path) {
            Some(route) => {
                let mut response = text(StatusCode::OK, (route.render)());
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            None => text(
                StatusCode::NOT_FOUND,
                "not found: try /metrics, /healthz or /readyz\n".to_owned(),
            ),
        },
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
