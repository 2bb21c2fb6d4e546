//! The member actions and what each needs, records and tells.

use aegis_storage::CaseKind;
use twilight_model::guild::Permissions;

/// A command of the member-moderation module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Warn,
    Note,
    Kick,
    Ban,
    Softban,
    Unban,
    Timeout,
    Untimeout,
    Mute,
    Unmute,
}

/// How `/mute` silences someone in this guild.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MuteBy {
    /// The guild's mute role, added and removed by Aegis.
    Role(u64),
    /// Discord's timeout (at most 28 days at a time; Aegis renews longer mutes).
    Timeout,
}

impl Action {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "warn" => Some(Self::Warn),
            "note" => Some(Self::Note),
            "kick" => Some(Self::Kick),
            "ban" => Some(Self::Ban),
            "unban" => Some(Self::Unban),
            "softban" => Some(Self::Softban),
            "timeout" => Some(Self::Timeout),
            "untimeout" => Some(Self::Untimeout),
            "mute" => Some(Self::Mute),
            "unmute" => Some(Self::Unmute),
            _ => None,
        }
    }

    /// The permission the invoker needs.
    pub(crate) fn needed(self) -> (Permissions, &'static str) {
        match self {
            Self::Warn
            | Self::Note
            | Self::Timeout
            | Self::Untimeout
            | Self::Mute
            | Self::Unmute => (Permissions::MODERATE_MEMBERS, "Timeout Members"),
            Self::Kick => (Permissions::KICK_MEMBERS, "Kick Members"),
            Self::Ban | Self::Softban | Self::Unban => (Permissions::BAN_MEMBERS, "Ban Members"),
        }
    }

    /// The permission the bot needs to carry it out (none for records only).
    pub(crate) fn bot_needs(self, mute: MuteBy) -> Option<(Permissions, &'static str)> {
        match (self, mute) {
            (Self::Warn | Self::Note, _) => None,
            (Self::Mute | Self::Unmute, MuteBy::Role(_)) => {
                Some((Permissions::MANAGE_ROLES, "Manage Roles"))
            }
            _ => Some(self.needed()),
        }
    }

    /// Whether the target must be in the guild (a ban or unban may name anyone).
    pub(crate) fn member_only(self) -> bool {
        !matches!(self, Self::Ban | Self::Unban)
    }

    pub(crate) fn past(self) -> &'static str {
        match self {
            Self::Warn => "warned",
            Self::Note => "noted",
            Self::Kick => "kicked",
            Self::Ban => "banned",
            Self::Unban => "unbanned",
            Self::Softban => "softbanned (messages deleted, free to rejoin)",
            Self::Timeout => "timed out",
            Self::Untimeout => "no longer timed out",
            Self::Mute => "muted",
            Self::Unmute => "unmuted",
        }
    }

    /// How the target is told by DM, when the guild asks for it: "You were {dm} **Guild**".
    /// Lifting actions and notes are not sent.
    pub(crate) fn dm(self) -> Option<&'static str> {
        match self {
            Self::Warn => Some("warned in"),
            Self::Kick => Some("kicked from"),
            Self::Ban => Some("banned from"),
            Self::Softban => Some("kicked (softban) from"),
            Self::Timeout => Some("timed out in"),
            Self::Mute => Some("muted in"),
            Self::Note | Self::Unban | Self::Untimeout | Self::Unmute => None,
        }
    }

    /// The case it records; `temporary` for a ban with a duration.
    pub(crate) fn case_kind(self, temporary: bool) -> CaseKind {
        match self {
            Self::Warn => CaseKind::Warn,
            Self::Note => CaseKind::Note,
            Self::Kick => CaseKind::Kick,
            Self::Ban if temporary => CaseKind::Tempban,
            Self::Ban => CaseKind::Ban,
            Self::Unban => CaseKind::Unban,
            Self::Softban => CaseKind::Softban,
            Self::Timeout => CaseKind::Timeout,
            Self::Untimeout => CaseKind::Untimeout,
            Self::Mute => CaseKind::Mute,
            Self::Unmute => CaseKind::Unmute,
        }
    }
}
