//! The JSON transcript, version 1 (see the crate README for the format).
//!
//! Snowflakes are strings, as in Discord's JSON. Messages name people, channels and roles by id
//! only; each is described once in [`Entities`], so replacing one entry anonymises a person
//! throughout (mentions in `content` stay `<@id>`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The version written in every transcript.
pub const FORMAT_VERSION: u32 = 1;

/// What a ticket transcript says about the ticket (the `ticket` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptMeta {
    /// The guild.
    #[serde(with = "id")]
    pub guild_id: u64,
    /// Its name when the ticket closed.
    pub guild_name: String,
    /// The ticket channel (or thread).
    #[serde(with = "id")]
    pub channel_id: u64,
    /// Its name.
    pub channel_name: String,
    /// The ticket's number in the guild.
    pub ticket_number: i32,
    /// Who opened it.
    #[serde(with = "id")]
    pub opener_id: u64,
    /// Who closed it.
    #[serde(with = "id")]
    pub closed_by: u64,
    /// Why, if a reason was given.
    pub close_reason: Option<String>,
    /// When it was opened, Unix milliseconds.
    pub opened_at_ms: i64,
    /// When it was closed, Unix milliseconds.
    pub closed_at_ms: i64,
}

/// A whole transcript, as read back (the writer streams it and never holds one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The ticket.
    pub ticket: TranscriptMeta,
    /// Every message, oldest first.
    pub messages: Vec<Message>,
    /// Who and what the messages refer to.
    pub entities: Entities,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Message id.
    pub id: String,
    /// Discord's message type (0 default, 19 reply, ...).
    #[serde(rename = "type", default)]
    pub kind: u8,
    /// The author's user id (described in [`Entities::users`]).
    pub author: String,
    /// The text, as sent (mentions are `<@id>`, `<@&id>`, `<#id>`).
    pub content: String,
    /// When it was sent (ISO 8601, as Discord writes it).
    pub timestamp: String,
    /// When it was last edited.
    pub edited_timestamp: Option<String>,
    /// Its files.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Its embeds, as Discord sent them.
    #[serde(default)]
    pub embeds: Vec<serde_json::Value>,
    /// The message it replies to or forwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// User ids it mentions (Discord's `mentions`).
    #[serde(default)]
    pub mentions: Vec<String>,
    /// Role ids it mentions.
    #[serde(default)]
    pub mention_roles: Vec<String>,
    /// Whether it mentions `@everyone`/`@here`.
    #[serde(default)]
    pub mention_everyone: bool,
}

/// A message's file: copied into the store (`stored_key`), or left at Discord (`url`, with
/// `skipped` saying why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Attachment id.
    pub id: String,
    /// File name, as uploaded.
    pub filename: String,
    /// Size in bytes, as Discord reports it.
    pub size: u64,
    /// MIME type, if Discord knows it.
    pub content_type: Option<String>,
    /// Pixel width of an image or video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u64>,
    /// Pixel height of an image or video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// The key of the stored copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_key: Option<String>,
    /// Discord's URL, when it was not copied (it expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Why it was not copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<Skipped>,
}

/// Why an attachment was not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skipped {
    /// Over the size cap.
    TooLarge,
    /// Discord's CDN did not deliver it (gone, refused, too slow).
    DownloadFailed,
}

/// A reply's or forward's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// The referenced message.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Its channel.
    #[serde(default)]
    pub channel_id: Option<String>,
}

/// Users, channels and roles by id: the one place that names them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entities {
    /// Authors, mentioned users, the opener and the closer.
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    /// The ticket channel and mentioned channels.
    #[serde(default)]
    pub channels: BTreeMap<String, Channel>,
    /// Mentioned roles.
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
}

/// A user as Discord described them when the ticket closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Unique username.
    pub username: String,
    /// Display name.
    pub global_name: Option<String>,
    /// Avatar hash (not fetched: the HTML shows initials).
    pub avatar: Option<String>,
    /// Whether a bot.
    #[serde(default)]
    pub bot: bool,
}

impl User {
    /// The name shown: the display name, else the username.
    pub fn display_name(&self) -> &str {
        self.global_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.username)
    }
}

/// A channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    /// Its name.
    pub name: String,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its name.
    pub name: String,
    /// Its colour (`0` for none).
    #[serde(default)]
    pub color: u32,
}

/// A `u64` written as a string (snowflakes), read from a string or a number.
mod id {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Id {
            Text(String),
            Number(u64),
        }
        match Id::deserialize(d)? {
            Id::Number(n) => Ok(n),
            Id::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}
