//! The objects of the simulated world and their Discord JSON shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::snowflake::{iso8601, timestamp_ms};

/// A Discord user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// User id.
    pub id: u64,
    /// Unique username.
    pub username: String,
    /// Display name, if set.
    pub global_name: Option<String>,
    /// Whether this is a bot account.
    pub bot: bool,
}

impl User {
    /// The user object JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id.to_string(),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": null,
            "public_flags": 0,
            "flags": 0,
            "banner": null,
            "accent_color": null,
            "avatar_decoration_data": null,
            "collectibles": null,
            "primary_guild": null,
        });
        if self.bot {
            v["bot"] = Value::Bool(true);
        }
        v
    }
}

/// A role in a guild.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    /// Role id (the guild id for `@everyone`).
    pub id: u64,
    /// Name.
    pub name: String,
    /// Position in the hierarchy; `@everyone` is 0.
    pub position: i64,
    /// Permission bits.
    pub permissions: u64,
    /// Whether an integration (the bot) manages the role.
    pub managed: bool,
    /// Bot this role belongs to, for a managed bot role.
    pub bot_id: Option<u64>,
    /// Colour as an integer.
    pub color: u32,
}

impl Role {
    /// The role object JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id.to_string(),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": null, "tertiary_color": null},
            "hoist": false,
            "icon": null,
            "unicode_emoji": null,
            "position": self.position,
            "permissions": self.permissions.to_string(),
            "managed": self.managed,
            "mentionable": false,
            "flags": 0,
        });
        if let Some(bot) = self.bot_id {
            v["tags"] = json!({"bot_id": bot.to_string()});
        }
        v
    }
}

/// A permission overwrite on a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overwrite {
    /// Role or user id.
    pub id: u64,
    /// 0 for a role, 1 for a member.
    pub kind: u8,
    /// Allowed bits.
    pub allow: u64,
    /// Denied bits.
    pub deny: u64,
}

impl Overwrite {
    /// The overwrite object JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "type": self.kind,
            "allow": self.allow.to_string(),
            "deny": self.deny.to_string(),
        })
    }
}

/// Channel types the simulator knows.
pub mod channel_type {
    /// GUILD_TEXT.
    pub const GUILD_TEXT: u8 = 0;
    /// DM.
    pub const DM: u8 = 1;
    /// GUILD_CATEGORY.
    pub const GUILD_CATEGORY: u8 = 4;
    /// PUBLIC_THREAD.
    pub const PUBLIC_THREAD: u8 = 11;
    /// PRIVATE_THREAD.
    pub const PRIVATE_THREAD: u8 = 12;
}

/// A channel: guild text, category, thread or DM.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Channel {
    /// Channel id.
    pub id: u64,
    /// Channel type (see [`channel_type`]).
    pub kind: u8,
    /// Guild, `None` for a DM.
    pub guild_id: Option<u64>,
    /// Name (empty for DMs).
    pub name: String,
    /// Sorting position.
    pub position: i64,
    /// Topic.
    pub topic: Option<String>,
    /// Parent category (or the parent channel of a thread).
    pub parent_id: Option<u64>,
    /// Permission overwrites.
    pub overwrites: Vec<Overwrite>,
    /// Slowmode seconds.
    pub rate_limit_per_user: u32,
    /// Whether NSFW.
    pub nsfw: bool,
    /// Id of the last message sent.
    pub last_message_id: Option<u64>,
    /// The other user of a DM.
    pub recipient: Option<User>,
    /// Owner of a thread.
    pub owner_id: Option<u64>,
    /// Whether a thread is archived.
    pub archived: bool,
    /// A thread's members (user ids); empty for other channels.
    #[serde(default)]
    pub thread_members: Vec<u64>,
}

impl Channel {
    /// The channel object JSON.
    pub fn to_json(&self) -> Value {
        let last = self.last_message_id.map(|id| id.to_string());
        if self.kind == channel_type::DM {
            let recipients: Vec<Value> = self.recipient.iter().map(User::to_json).collect();
            return json!({
                "id": self.id.to_string(),
                "type": self.kind,
                "last_message_id": last,
                "flags": 0,
                "recipients": recipients,
            });
        }
        let mut v = json!({
            "id": self.id.to_string(),
            "type": self.kind,
            "guild_id": self.guild_id.map(|g| g.to_string()),
            "name": self.name,
            "parent_id": self.parent_id.map(|p| p.to_string()),
            "flags": 0,
        });
        if matches!(
            self.kind,
            channel_type::PUBLIC_THREAD | channel_type::PRIVATE_THREAD
        ) {
            v["owner_id"] = json!(self.owner_id.map(|o| o.to_string()));
            v["last_message_id"] = json!(last);
            v["rate_limit_per_user"] = json!(self.rate_limit_per_user);
            v["message_count"] = json!(0);
            v["member_count"] = json!(1);
            v["total_message_sent"] = json!(0);
            v["thread_metadata"] = json!({
                "archived": self.archived,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso8601(timestamp_ms(self.id)),
                "locked": false,
            });
            return v;
        }
        v["position"] = json!(self.position);
        v["permission_overwrites"] =
            Value::Array(self.overwrites.iter().map(Overwrite::to_json).collect());
        if self.kind == channel_type::GUILD_TEXT {
            v["topic"] = json!(self.topic);
            v["nsfw"] = json!(self.nsfw);
            v["last_message_id"] = json!(last);
            v["rate_limit_per_user"] = json!(self.rate_limit_per_user);
        }
        v
    }
}

/// Online status of a member, for presences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Online.
    Online,
    /// Idle.
    Idle,
    /// Offline.
    Offline,
}

impl Status {
    /// The status string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Idle => "idle",
            Self::Offline => "offline",
        }
    }
}

/// A member of a guild.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    /// The member's user id (the user lives in [`super::World::users`]).
    pub user_id: u64,
    /// Guild nickname.
    pub nick: Option<String>,
    /// Role ids (without `@everyone`).
    pub roles: Vec<u64>,
    /// Join time, Unix ms.
    pub joined_at_ms: u64,
    /// Timeout end, Unix ms.
    pub communication_disabled_until_ms: Option<u64>,
    /// Server-muted.
    pub mute: bool,
    /// Server-deafened.
    pub deaf: bool,
    /// Presence status.
    pub status: Status,
}

impl Member {
    /// The guild member object JSON, embedding `user`.
    pub fn to_json(&self, user: &User) -> Value {
        json!({
            "user": user.to_json(),
            "nick": self.nick,
            "avatar": null,
            "banner": null,
            "roles": self.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
            "joined_at": iso8601(self.joined_at_ms),
            "premium_since": null,
            "deaf": self.deaf,
            "mute": self.mute,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": self.communication_disabled_until_ms.map(iso8601),
        })
    }
}

/// A guild and everything in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Guild {
    /// Guild id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Owner's user id.
    pub owner_id: u64,
    /// When the bot joined, Unix ms.
    pub joined_at_ms: u64,
    /// System channel.
    pub system_channel_id: Option<u64>,
    /// Roles by id.
    pub roles: BTreeMap<u64, Role>,
    /// Channels (not threads) by id.
    pub channels: BTreeMap<u64, Channel>,
    /// Active threads by id.
    pub threads: BTreeMap<u64, Channel>,
    /// Members by user id.
    pub members: BTreeMap<u64, Member>,
}

impl Guild {
    /// The guild object JSON (as `GET /guilds/{id}` returns it, without counts).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "name": self.name,
            "icon": null,
            "splash": null,
            "discovery_splash": null,
            "owner_id": self.owner_id.to_string(),
            "afk_channel_id": null,
            "afk_timeout": 300,
            "widget_enabled": false,
            "widget_channel_id": null,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": self.roles.values().map(Role::to_json).collect::<Vec<_>>(),
            "emojis": [],
            "features": [],
            "mfa_level": 0,
            "application_id": null,
            "system_channel_id": self.system_channel_id.map(|c| c.to_string()),
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "max_presences": null,
            "max_members": 500_000,
            "vanity_url_code": null,
            "description": null,
            "banner": null,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": null,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw": false,
            "nsfw_level": 0,
            "stickers": [],
            "premium_progress_bar_enabled": false,
            "safety_alerts_channel_id": null,
            "incidents_data": null,
            "home_header": null,
            "region": "deprecated",
        })
    }

    /// The unavailable guild object JSON (READY's `guilds`).
    pub fn unavailable_json(&self) -> Value {
        json!({"id": self.id.to_string(), "unavailable": true})
    }
}
