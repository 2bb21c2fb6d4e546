//! Route normalisation: from a request's method and path to the keys rate limits are tracked by.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::Method;

/// Discord's epoch (2015-01-01T00:00:00Z) in milliseconds, for snowflake timestamps.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Messages older than this are deleted through a separate bucket.
const OLD_MESSAGE_MS: u64 = 14 * 24 * 3600 * 1000;
/// Messages newer than this are deleted through a separate bucket.
const NEW_MESSAGE_MS: u64 = 10 * 1000;

/// Top-level path segments Discord documents; anything else is an unknown route (forwarded with a
/// conservative bucket, and counted under one metric label so labels stay bounded).
const KNOWN_ROOTS: &[&str] = &[
    "applications",
    "channels",
    "entitlements",
    "gateway",
    "guilds",
    "interactions",
    "invites",
    "lobbies",
    "oauth2",
    "partner-sdk",
    "skus",
    "soundboard-default-sounds",
    "stage-instances",
    "sticker-packs",
    "stickers",
    "users",
    "voice",
    "webhooks",
];

/// Interaction tokens are base64 of `interaction:...`.
const INTERACTION_TOKEN_PREFIX: &str = "aW50ZXJhY3Rpb246";

/// What the rate limiter needs to know about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The normalised path template, e.g. `/channels/{channel_id}/messages/{message_id}`; unknown
    /// routes keep their shape with ids replaced, and [`Route::label`] hides them from metrics.
    pub template: String,
    /// The top-level resource (`channel:1`, `guild:2`, `webhook:3:token`), empty when none.
    pub major: String,
    /// Extra grouping Discord applies inside one template (message-delete age groups).
    pub group: &'static str,
    /// Whether the route is exempt from the global limit (interaction callback and follow-ups).
    pub interaction: bool,
    /// The webhook (`id` or `id:token`) a webhook route addresses, outside interactions.
    pub webhook: Option<String>,
    /// Whether the first segment is a documented Discord resource.
    pub known: bool,
}

impl Route {
    /// Normalises `path` (with or without `/api`, `/api/v{n}`) requested with `method`.
    ///
    /// `application_id`, when known, marks `/webhooks/{application_id}/...` as interaction
    /// follow-ups even when the token does not look like an interaction token.
    pub fn parse(method: &Method, path: &str, application_id: Option<u64>) -> Self {
        let path = strip_api_prefix(path);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let root = segments.first().copied().unwrap_or("");
        let known = KNOWN_ROOTS.contains(&root);
        let mut template = String::with_capacity(path.len() + 16);
        let mut major = String::new();
        let mut group = "";
        let mut interaction = false;
        let mut webhook = None;
        let mut previous = "";
        for (index, segment) in segments.iter().enumerate() {
            let name = placeholder(root, index, previous, segment);
            template.push('/');
            template.push_str(name.unwrap_or(segment));
            if index == 1 {
                match root {
                    "channels" => major = format!("channel:{segment}"),
                    "guilds" => major = format!("guild:{segment}"),
                    "webhooks" | "interactions" => major = format!("webhook:{segment}"),
                    _ => {}
                }
            }
            if index == 2 && matches!(root, "webhooks" | "interactions") {
                major.push(':');
                major.push_str(segment);
            }
            previous = segment;
        }
        if root == "interactions" {
            interaction = segments.len() >= 4 && segments[3] == "callback";
        }
        if root == "webhooks" && segments.len() >= 2 {
            let token = segments.get(2).copied().unwrap_or("");
            let is_app =
                application_id.is_some_and(|app| segments[1].parse::<u64>().ok() == Some(app));
            interaction = is_app || token.starts_with(INTERACTION_TOKEN_PREFIX);
            if !interaction {
                webhook = Some(major.trim_start_matches("webhook:").to_owned());
            }
        }
        if *method == Method::DELETE
            && root == "channels"
            && segments.len() == 4
            && segments[2] == "messages"
        {
            group = delete_age_group(segments[3]);
        }
        if template.is_empty() {
            template.push('/');
        }
        Self {
            template,
            major,
            group,
            interaction,
            webhook,
            known,
        }
    }

    /// Whether the path carries its own token (webhook or interaction token), which Discord
    /// checks instead of the bot token.
    pub fn has_route_token(&self) -> bool {
        self.major.starts_with("webhook:") && self.major.matches(':').count() >= 2
    }

    /// The template for metric labels: unknown routes share one label.
    pub fn label(&self) -> &str {
        if self.known {
            &self.template
        } else {
            "unknown"
        }
    }

    /// The key of the conservative queue used before the bucket is learned: method, template,
    /// age group and top-level resource.
    pub fn route_key(&self, method: &Method) -> String {
        format!("{method} {}{}|{}", self.template, self.group, self.major)
    }
}

fn strip_api_prefix(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/api") else {
        return path;
    };
    if let Some(after) = rest.strip_prefix("/v") {
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        if digits > 0 {
            return &after[digits..];
        }
    }
    rest
}

/// The placeholder replacing `segment` in the template, or `None` to keep it.
fn placeholder(root: &str, index: usize, previous: &str, segment: &str) -> Option<&'static str> {
    let numeric = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    if index == 1 {
        return match root {
            "channels" => Some("{channel_id}"),
            "guilds" => Some("{guild_id}"),
            "webhooks" => Some("{webhook_id}"),
            "interactions" => Some("{interaction_id}"),
            _ if numeric => Some("{id}"),
            _ => None,
        };
    }
    if index == 2 && matches!(root, "webhooks" | "interactions") {
        return Some("{token}");
    }
    // Every reaction route of a message shares one bucket whatever the emoji.
    if previous == "reactions" {
        return Some("{emoji}");
    }
    if numeric {
        return Some(match previous {
            "messages" => "{message_id}",
            "members" | "users" | "bans" => "{user_id}",
            "roles" => "{role_id}",
            "emojis" => "{emoji_id}",
            "channels" => "{channel_id}",
            "threads" => "{thread_id}",
            _ => "{id}",
        });
    }
    // Emoji names (`name:id`, percent-encoded unicode) and other free-form values.
    if segment.contains('%') || segment.contains(':') || segment.len() > 40 {
        return Some("{value}");
    }
    None
}

/// Discord deletes messages newer than 10 s and older than 14 days through separate buckets.
fn delete_age_group(message_id: &str) -> &'static str {
    let Ok(id) = message_id.parse::<u64>() else {
        return "";
    };
    let created = (id >> 22) + DISCORD_EPOCH_MS;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let age = now.saturating_sub(created);
    if age < NEW_MESSAGE_MS {
        " (new)"
    } else if age > OLD_MESSAGE_MS {
        " (old)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use hyper::Method;

    use super::Route;

    #[test]
    fn ids_and_major_parameters() {
        let r = Route::parse(&Method::POST, "/api/v10/channels/123/messages", None);
        assert_eq!(r.template, "/channels/{channel_id}/messages");
        assert_eq!(r.major, "channel:123");
        assert!(!r.interaction && r.known);
        let r = Route::parse(&Method::GET, "/api/guilds/9/members/44", None);
        assert_eq!(r.template, "/guilds/{guild_id}/members/{user_id}");
        assert_eq!(r.major, "guild:9");
        let r = Route::parse(&Method::GET, "/api/v9/users/@me", None);
        assert_eq!(r.template, "/users/@me");
        assert_eq!(r.major, "");
    }

    #[test]
    fn reactions_share_a_template() {
        let a = Route::parse(
            &Method::PUT,
            "/api/v10/channels/1/messages/2/reactions/%F0%9F%91%8D/@me",
            None,
        );
        let b = Route::parse(
            &Method::PUT,
            "/api/v10/channels/1/messages/3/reactions/name:55/@me",
            None,
        );
        assert_eq!(a.template, b.template);
        assert_eq!(
            a.template,
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"
        );
    }

    #[test]
    fn webhooks_and_interactions() {
        let w = Route::parse(&Method::POST, "/api/v10/webhooks/5/secret", None);
        assert_eq!(w.template, "/webhooks/{webhook_id}/{token}");
        assert_eq!(w.major, "webhook:5:secret");
        assert_eq!(w.webhook.as_deref(), Some("5:secret"));
        assert!(!w.interaction);
        let cb = Route::parse(&Method::POST, "/api/v10/interactions/7/tok/callback", None);
        assert!(cb.interaction);
        assert_eq!(
            cb.template,
            "/interactions/{interaction_id}/{token}/callback"
        );
        let follow = Route::parse(
            &Method::POST,
            "/api/v10/webhooks/8/aW50ZXJhY3Rpb246abc",
            None,
        );
        assert!(follow.interaction && follow.webhook.is_none());
        assert!(follow.has_route_token() && w.has_route_token());
        let by_bot = Route::parse(&Method::GET, "/api/v10/webhooks/5", None);
        assert!(!by_bot.has_route_token());
        let by_app = Route::parse(
            &Method::PATCH,
            "/api/webhooks/8/x/messages/@original",
            Some(8),
        );
        assert!(by_app.interaction);
    }

    #[test]
    fn message_delete_age_groups() {
        // A snowflake from 2016: older than 14 days.
        let old = Route::parse(
            &Method::DELETE,
            "/api/v10/channels/1/messages/175928847299117063",
            None,
        );
        assert_eq!(old.group, " (old)");
        let get = Route::parse(
            &Method::GET,
            "/api/v10/channels/1/messages/175928847299117063",
            None,
        );
        assert_eq!(get.group, "");
        assert_ne!(
            old.route_key(&Method::DELETE),
            get.route_key(&Method::DELETE)
        );
    }

    #[test]
    fn unknown_routes_are_labelled_unknown() {
        let r = Route::parse(&Method::GET, "/api/v10/nonsense/123/x", None);
        assert!(!r.known);
        assert_eq!(r.label(), "unknown");
        assert_eq!(r.template, "/nonsense/{id}/x");
        let empty = Route::parse(&Method::GET, "", None);
        assert_eq!(empty.template, "/");
    }
}
