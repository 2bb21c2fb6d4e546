//! One request through the proxy: checks, rate limits, forwarding, learning from the answer.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderValue};
use hyper::{Request, Response, Uri};
use tokio::time::Instant;

use crate::Config;
use crate::guard::{Guard, token_id};
use crate::limiter::{Limiter, Outcome, Permit};
use crate::metrics::Metrics;
use crate::reply::{Body, Refusal, refuse};
use crate::route::Route;
use crate::upstream::{RateLimitHeaders, Scope, Upstream};

/// Header a client may set to bound how long its request waits for rate limits.
pub(crate) const DEADLINE_HEADER: &str = "x-aegis-deadline-ms";

/// Headers never forwarded (hop-by-hop, or meant for the proxy).
const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    DEADLINE_HEADER,
];

/// Everything a request needs.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) limiter: Arc<Limiter>,
    pub(crate) guard: Guard,
    pub(crate) metrics: Metrics,
    pub(crate) upstream: Upstream,
    /// `Bot <token>` from the configuration, and its id; replaced by a reload.
    pub(crate) auth: RwLock<Option<(HeaderValue, String)>>,
}

impl App {
    /// Serves one request; never fails (errors become local JSON answers).
    ///
    /// The work runs in its own task: a client that hangs up does not cancel a request already
    /// reserved or sent, so the rate-limit bookkeeping always completes.
    pub(crate) async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<Body> {
        let method = request.method().clone();
        let route = Route::parse(&method, request.uri().path(), self.config.application_id);
        let label = route.label().to_owned();
        let app = Arc::clone(&self);
        let response = match tokio::spawn(async move { app.forward(request, route).await }).await {
            Ok(response) => response,
            Err(err) => {
                tracing::error!(error = %err, "request task failed");
                self.refuse(Refusal::Upstream, "internal error while forwarding", None)
            }
        };
        self.metrics
            .request(&label, method.as_str(), response.status().as_u16());
        response
    }

    /// A reload: reads the token file again (when there is one) and forgets every 401 and
    /// webhook-404 mark, so a fixed token or webhook is used again without a restart.
    pub(crate) fn reload(&self) {
        let mut token_changed = false;
        if let Some(path) = &self.config.token_file {
            match crate::config::read_token_file(path) {
                Ok(token) => match authorization(&token) {
                    Some(auth) => {
                        let derived = crate::config::application_id_from_token(&token);
                        if derived.is_some() && derived != self.config.application_id {
                            tracing::warn!(
                                "reload: the new token belongs to another application; its interaction follow-ups are recognised after a restart (or set AEGIS_REST_APPLICATION_ID)"
                            );
                        }
                        let mut current = self.auth.write().unwrap_or_else(PoisonError::into_inner);
                        token_changed = current.as_ref().map(|(_, id)| id) != Some(&auth.1);
                        *current = Some(auth);
                    }
                    None => tracing::error!(
                        path = %path.display(),
                        "reload: the token file holds characters a header cannot carry; keeping the current token"
                    ),
                },
                Err(err) => tracing::error!(
                    path = %path.display(),
                    error = %err,
                    "reload: cannot read the token file; keeping the current token"
                ),
            }
        }
        let (tokens, webhooks) = self.guard.forgive();
        self.metrics.reloads.inc();
        tracing::info!(
            token_changed,
            tokens_forgiven = tokens,
            webhooks_forgiven = webhooks,
            "reloaded"
        );
    }

    fn refuse(&self, refusal: Refusal, message: &str, retry: Option<Duration>) -> Response<Body> {
        self.metrics.refuse(refusal.code());
        refuse(refusal, message, retry)
    }

    async fn forward(&self, request: Request<Incoming>, route: Route) -> Response<Body> {
        let route = &route;
        let start = Instant::now();
        let (mut parts, body) = request.into_parts();
        let deadline = start
            + parts
                .headers
                .get(DEADLINE_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(self.config.default_deadline, Duration::from_millis);
        // Whose limits: the request's own token, else the configured one (added here).
        let token = match parts.headers.get(AUTHORIZATION) {
            Some(value) => token_id(value.to_str().unwrap_or("")),
            None => match &*self.auth.read().unwrap_or_else(PoisonError::into_inner) {
                Some((value, id)) => {
                    parts.headers.insert(AUTHORIZATION, value.clone());
                    id.clone()
                }
                None => "anonymous".to_owned(),
            },
        };
        if self.guard.token_poisoned(&token) {
            return self.refuse(
                Refusal::TokenInvalid,
                "Discord rejected this token (401); nothing is forwarded with it until rest-proxy \
                 restarts or reloads (SIGHUP)",
                None,
            );
        }
        if let Some(webhook) = &route.webhook
            && self.guard.webhook_poisoned(webhook)
        {
            return self.refuse(
                Refusal::WebhookGone,
                "Discord answered 404 for this webhook; it is not used again",
                None,
            );
        }
        let invalid = self.guard.invalid();
        if invalid >= self.config.invalid_request_limit {
            return self.refuse(
                Refusal::InvalidRequestGuard,
                &format!(
                    "{invalid} invalid requests (401, 403, 429) in the last 10 minutes reached the \
                     limit of {}; refusing to avoid a Discord ban",
                    self.config.invalid_request_limit
                ),
                Some(Duration::from_secs(10)),
            );
        }
        let body = match Limited::new(body, self.config.max_body_bytes)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<http_body_util::LengthLimitError>() => {
                return self.refuse(
                    Refusal::BodyTooLarge,
                    &format!(
                        "the body is larger than {} bytes",
                        self.config.max_body_bytes
                    ),
                    None,
                );
            }
            Err(err) => {
                return self.refuse(
                    Refusal::BadRequest,
                    &format!("cannot read the body: {err}"),
                    None,
                );
            }
        };
        let Some(uri) = self.upstream_uri(&parts.uri) else {
            return self.refuse(Refusal::BadRequest, "the request path is not valid", None);
        };
        let route_key = route.route_key(&parts.method);
        let permit = match self
            .limiter
            .acquire(
                &token,
                &route_key,
                &route.major,
                !route.interaction,
                deadline,
            )
            .await
        {
            Ok(permit) => permit,
            Err(exceeded) => {
                return self.refuse(
                    Refusal::Deadline,
                    &format!(
                        "rate limits would delay this request past its deadline (waited {} ms); \
                         it was not sent",
                        exceeded.waited.as_millis()
                    ),
                    exceeded.retry_after,
                );
            }
        };
        self.metrics
            .queue_seconds
            .observe(permit.queued.as_secs_f64());
        if permit.fallback {
            self.metrics.fallback.inc();
        }
        let mut upstream = Request::new(Full::new(body));
        *upstream.method_mut() = parts.method.clone();
        *upstream.uri_mut() = uri;
        let headers = upstream.headers_mut();
        for (name, value) in &parts.headers {
            if !DROPPED.contains(&name.as_str()) {
                headers.append(name.clone(), value.clone());
            }
        }
        let sent = Instant::now();
        let result = tokio::time::timeout(
            self.config.upstream_timeout,
            self.upstream.request(upstream),
        )
        .await;
        self.metrics
            .upstream_seconds
            .observe(sent.elapsed().as_secs_f64());
        let mut response = match result {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                self.limiter
                    .finish(&token, &route.major, &permit, None, Outcome::Release)
                    .await;
                return self.refuse(
                    Refusal::Upstream,
                    &format!("cannot reach Discord: {err}"),
                    None,
                );
            }
            Err(_) => {
                self.limiter
                    .finish(&token, &route.major, &permit, None, Outcome::Release)
                    .await;
                return self.refuse(Refusal::Upstream, "Discord did not answer in time", None);
            }
        };
        let status = response.status().as_u16();
        let info = RateLimitHeaders::parse(status, response.headers());
        // Recorded before the client has the answer: the next request of the route must see
        // it. (An answer that repeats what Redis holds costs no round trip: see `Snapshot`.)
        self.learn(&token, route, &route_key, &permit, status, info)
            .await;
        // Hop-by-hop headers describe Discord's connection, not the client's.
        for name in ["connection", "keep-alive", "proxy-connection"] {
            response.headers_mut().remove(name);
        }
        if status == 404 && route.webhook.is_some() {
            return self.webhook_not_found(route, response).await;
        }
        response.map(Either::Left)
    }

    fn upstream_uri(&self, uri: &Uri) -> Option<Uri> {
        let base = &self.config.discord_url;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        Uri::builder()
            .scheme(base.scheme_str()?)
            .authority(base.authority()?.as_str())
            .path_and_query(path)
            .build()
            .ok()
    }

    /// Updates buckets, pauses and guards from Discord's answer.
    async fn learn(
        &self,
        token: &str,
        route: &Route,
        route_key: &str,
        permit: &Permit,
        status: u16,
        info: RateLimitHeaders,
    ) {
        if let (Some(Scope::Global), Some(retry)) = (info.scope, info.retry_after) {
            self.limiter.pause(token, retry).await;
        }
        let outcome = outcome_of(status, &info);
        let learned = info.bucket.as_deref().map(|hash| (route_key, hash));
        if self
            .limiter
            .finish(token, &route.major, permit, learned, outcome)
            .await
            && let Some(hash) = &info.bucket
            && permit.bucket.starts_with("b:")
        {
            self.metrics.bucket_changes.inc();
            tracing::info!(route = %route.template, bucket = %hash, "route moved to another bucket");
        }
        if let Some(scope) = info.scope {
            self.metrics
                .rate_limited
                .get_or_create(&crate::metrics::KindLabels {
                    kind: scope.label().to_owned(),
                })
                .inc();
            tracing::warn!(route = %route.template, scope = scope.label(), "Discord answered 429");
        }
        let invalid =
            status == 401 || status == 403 || (status == 429 && info.scope != Some(Scope::Shared));
        if invalid {
            let count = self.limiter.record_invalid().await;
            self.guard.set_invalid(count);
            self.metrics.invalid_window.set(i64::from(count));
        }
        if status == 401 {
            if route.has_route_token() {
                // An expired interaction token or a bad webhook token says nothing of the bot
                // token; a webhook rejecting its own token is not used again.
                if let Some(webhook) = &route.webhook {
                    self.guard.poison_webhook(webhook);
                }
            } else if self.guard.poison_token(token) {
                tracing::error!(
                    "Discord answered 401: the token is invalid; refusing its requests until restart or reload (SIGHUP)"
                );
            }
        }
    }

    /// A 404 on a webhook: stop using it when Discord says the webhook is unknown (10015) or
    /// the body does not say (a 404 for a message of a live webhook is 10008 and does not).
    async fn webhook_not_found(
        &self,
        route: &Route,
        response: Response<Incoming>,
    ) -> Response<Body> {
        let (parts, body) = response.into_parts();
        let bytes = Limited::new(body, 64 << 10)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let code = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("code").and_then(serde_json::Value::as_u64));
        if matches!(code, None | Some(10015))
            && let Some(webhook) = &route.webhook
            && self.guard.poison_webhook(webhook)
        {
            tracing::warn!(route = %route.template, "webhook answered 404; not used again");
        }
        Response::from_parts(parts, Either::Right(Full::new(bytes)))
    }
}

/// What Discord's answer says about the bucket the request was reserved on.
fn outcome_of(status: u16, info: &RateLimitHeaders) -> Outcome {
    match (info.scope, info.retry_after) {
        (Some(Scope::Global), Some(_)) => Outcome::Release,
        (Some(_), Some(retry)) => Outcome::Limited(retry),
        _ => match (info.limit, info.remaining, info.reset_after) {
            (Some(limit), Some(remaining), Some(reset_after)) => Outcome::Headers {
                limit,
                remaining,
                reset_after,
            },
            _ if (200..300).contains(&status) && info.bucket.is_none() => Outcome::Unlimited,
            _ => Outcome::Release,
        },
    }
}

/// `Bot <token>` (unless the token already says `Bot `/`Bearer `) and its id.
pub(crate) fn authorization(token: &str) -> Option<(HeaderValue, String)> {
    let value = if token.starts_with("Bot ") || token.starts_with("Bearer ") {
        token.to_owned()
    } else {
        format!("Bot {token}")
    };
    let header = HeaderValue::from_str(&value).ok()?;
    Some((header, token_id(&value)))
}
