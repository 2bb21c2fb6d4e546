//! OAuth2 for the dashboard: authorization code grant, refresh, and bearer-token `/users/@me`
//! and `/users/@me/guilds`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Ctx, Reply, ok};
use crate::world::permissions as p;

/// Access tokens live this long (`expires_in`), as in Discord's examples.
const TOKEN_LIFETIME: Duration = Duration::from_secs(604_800);
/// Authorization codes must be exchanged within this time.
const CODE_LIFETIME: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct Grant {
    user_id: u64,
    scope: String,
    redirect_uri: String,
    at: Instant,
}

/// Codes, access tokens and refresh tokens.
#[derive(Debug, Default)]
pub(crate) struct OAuth {
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, Grant>>,
    refresh: Mutex<HashMap<String, Grant>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl OAuth {
    /// `(user id, scope)` of a live access token.
    pub(crate) fn bearer(&self, token: &str) -> Option<(u64, String)> {
        lock(&self.tokens)
            .get(token)
            .filter(|g| g.at.elapsed() < TOKEN_LIFETIME)
            .map(|g| (g.user_id, g.scope.clone()))
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> ApiError {
    let mut e = ApiError::new(status, 0, description);
    e.errors = Some(json!({"error": error, "error_description": description}));
    e
}

fn token(shared: &crate::state::Shared, user: u64) -> String {
    let id = shared.ids.next();
    format!(
        "{:016x}{:016x}",
        id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        id ^ user
    )
}

fn decode_base64(s: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push(u8::try_from((bits >> n) & 0xff).ok()?);
        }
    }
    String::from_utf8(out).ok()
}

/// `GET /oauth2/authorize`: consents at once for `sim_user_id` (default: the first guild's
/// owner) and redirects with a `code`.
pub(super) fn authorize(ctx: &Ctx<'_>) -> ApiResult {
    let shared = ctx.shared;
    let world = shared.world_read();
    let q = &ctx.query;
    if q.get("client_id").and_then(|c| c.parse::<u64>().ok()) != Some(world.application_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            0,
            "Unknown client_id",
        ));
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            0,
            "response_type must be code",
        ));
    }
    let (Some(redirect_uri), Some(scope)) = (q.get("redirect_uri"), q.get("scope")) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            0,
            "redirect_uri and scope are required",
        ));
    };
    let user_id = match q.get("sim_user_id").and_then(|u| u.parse::<u64>().ok()) {
        Some(u) if world.users.contains_key(&u) => u,
        Some(_) => return Err(ApiError::unknown_user()),
        None => world
            .guilds
            .values()
            .next()
            .map_or(world.bot.id, |g| g.owner_id),
    };
    drop(world);
    let code = token(shared, user_id);
    lock(&shared.oauth.codes).insert(
        code.clone(),
        Grant {
            user_id,
            scope: scope.clone(),
            redirect_uri: redirect_uri.clone(),
            at: Instant::now(),
        },
    );
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect_uri}{sep}code={code}");
    if let Some(state) = q.get("state") {
        location.push_str(&format!("&state={}", super::percent_encode(state)));
    }
    Ok(Reply::Redirect(location))
}

/// `POST /oauth2/token` (form body; client credentials as Basic auth or form fields).
pub(super) fn exchange(ctx: &Ctx<'_>, basic: Option<&str>) -> ApiResult {
    let shared = ctx.shared;
    let form = &ctx.body;
    let field = |k: &str| form.get(k).and_then(Value::as_str).map(str::to_owned);
    let (client_id, secret) = match basic
        .and_then(decode_base64)
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
    {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (field("client_id"), field("client_secret")),
    };
    let app = shared.world_read().application_id.to_string();
    if client_id.as_deref() != Some(app.as_str())
        || secret.as_deref() != Some(shared.config.oauth_client_secret.as_str())
    {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client",
        ));
    }
    let grant = match field("grant_type").as_deref() {
        Some("authorization_code") => {
            let code = field("code").unwrap_or_default();
            let grant = lock(&shared.oauth.codes).remove(&code);
            match grant {
                Some(g)
                    if g.at.elapsed() < CODE_LIFETIME
                        && field("redirect_uri").as_deref() == Some(g.redirect_uri.as_str()) =>
                {
                    g
                }
                _ => {
                    return Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid \"code\" in request.",
                    ));
                }
            }
        }
        Some("refresh_token") => {
            let refresh = field("refresh_token").unwrap_or_default();
            match lock(&shared.oauth.refresh).remove(&refresh) {
                Some(g) => g,
                None => {
                    return Err(oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid \"refresh_token\" in request.",
                    ));
                }
            }
        }
        _ => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            ));
        }
    };
    let (access, refresh) = (token(shared, grant.user_id), token(shared, grant.user_id));
    let body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "refresh_token": refresh,
        "scope": grant.scope,
    });
    let copy = |g: &Grant| Grant {
        user_id: g.user_id,
        scope: g.scope.clone(),
        redirect_uri: g.redirect_uri.clone(),
        at: Instant::now(),
    };
    lock(&shared.oauth.refresh).insert(refresh, copy(&grant));
    lock(&shared.oauth.tokens).insert(access, grant);
    ok(body)
}

/// Routes a bearer-authenticated request (`/users/@me`, `/users/@me/guilds`).
pub(super) fn bearer_route(ctx: &Ctx<'_>, seg: &[&str], user_id: u64, scope: &str) -> ApiResult {
    let has = |s: &str| scope.split(' ').any(|x| x == s);
    let world = ctx.shared.world_read();
    match (&ctx.method, seg) {
        (&Method::GET, ["users", "@me"]) if has("identify") => {
            let user = world
                .users
                .get(&user_id)
                .ok_or_else(ApiError::unknown_user)?;
            let mut me = user.to_json();
            me["mfa_enabled"] = json!(false);
            me["locale"] = json!("en-US");
            if has("email") {
                me["email"] = json!(format!("{}@users.sim", user.username));
                me["verified"] = json!(true);
            }
            ok(me)
        }
        (&Method::GET, ["users", "@me", "guilds"]) if has("guilds") => {
            let guilds: Vec<Value> = world
                .guilds
                .values()
                .filter(|g| g.members.contains_key(&user_id))
                .map(|g| {
                    json!({
                        "id": g.id.to_string(), "name": g.name, "icon": null, "banner": null,
                        "owner": g.owner_id == user_id, "permissions": p::base(g, user_id).to_string(), "features": [],
                    })
                })
                .collect();
            ok(Value::Array(guilds))
        }
        _ => Err(ApiError::unauthorized()),
    }
}
