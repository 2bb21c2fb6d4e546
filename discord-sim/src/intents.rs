//! Gateway intents: which bits exist, which are privileged and which events need which intent.

/// `GUILDS (1 << 0)`.
pub const GUILDS: u64 = 1 << 0;
/// `GUILD_MEMBERS (1 << 1)`, privileged.
pub const GUILD_MEMBERS: u64 = 1 << 1;
/// `GUILD_MODERATION (1 << 2)`.
pub const GUILD_MODERATION: u64 = 1 << 2;
/// `GUILD_PRESENCES (1 << 8)`, privileged.
pub const GUILD_PRESENCES: u64 = 1 << 8;
/// `GUILD_MESSAGES (1 << 9)`.
pub const GUILD_MESSAGES: u64 = 1 << 9;
/// `DIRECT_MESSAGES (1 << 12)`.
pub const DIRECT_MESSAGES: u64 = 1 << 12;
/// `MESSAGE_CONTENT (1 << 15)`, privileged.
pub const MESSAGE_CONTENT: u64 = 1 << 15;

/// Every intent bit Discord documents; any other bit in IDENTIFY closes with 4013.
pub const ALL: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 10)
    | (1 << 11)
    | (1 << 12)
    | (1 << 13)
    | (1 << 14)
    | (1 << 15)
    | (1 << 16)
    | (1 << 20)
    | (1 << 21)
    | (1 << 24)
    | (1 << 25);

/// The privileged intents (GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT).
pub const PRIVILEGED: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;

/// The intents of which at least one is needed to receive `event`, `None` when the event is not
/// tied to an intent (always sent). `in_guild` tells guild from direct-message events apart.
pub(crate) fn required(event: &str, in_guild: bool) -> Option<u64> {
    let bits = match event {
        "GUILD_CREATE"
        | "GUILD_UPDATE"
        | "GUILD_DELETE"
        | "GUILD_ROLE_CREATE"
        | "GUILD_ROLE_UPDATE"
        | "GUILD_ROLE_DELETE"
        | "CHANNEL_CREATE"
        | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE"
        | "THREAD_CREATE"
        | "THREAD_UPDATE"
        | "THREAD_DELETE"
        | "THREAD_LIST_SYNC"
        | "THREAD_MEMBER_UPDATE"
        | "STAGE_INSTANCE_CREATE"
        | "STAGE_INSTANCE_UPDATE"
        | "STAGE_INSTANCE_DELETE"
        | "VOICE_CHANNEL_STATUS_UPDATE"
        | "VOICE_CHANNEL_START_TIME_UPDATE" => GUILDS,
        "CHANNEL_PINS_UPDATE" => {
            if in_guild {
                GUILDS
            } else {
                DIRECT_MESSAGES
            }
        }
        "THREAD_MEMBERS_UPDATE" => GUILDS | GUILD_MEMBERS,
        "GUILD_MEMBER_ADD" | "GUILD_MEMBER_UPDATE" | "GUILD_MEMBER_REMOVE" => GUILD_MEMBERS,
        "GUILD_AUDIT_LOG_ENTRY_CREATE" | "GUILD_BAN_ADD" | "GUILD_BAN_REMOVE" => GUILD_MODERATION,
        "GUILD_EMOJIS_UPDATE"
        | "GUILD_STICKERS_UPDATE"
        | "GUILD_SOUNDBOARD_SOUND_CREATE"
        | "GUILD_SOUNDBOARD_SOUND_UPDATE"
        | "GUILD_SOUNDBOARD_SOUND_DELETE"
        | "GUILD_SOUNDBOARD_SOUNDS_UPDATE" => 1 << 3,
        "GUILD_INTEGRATIONS_UPDATE"
        | "INTEGRATION_CREATE"
        | "INTEGRATION_UPDATE"
        | "INTEGRATION_DELETE" => 1 << 4,
        "WEBHOOKS_UPDATE" => 1 << 5,
        "INVITE_CREATE" | "INVITE_DELETE" => 1 << 6,
        "VOICE_CHANNEL_EFFECT_SEND" | "VOICE_STATE_UPDATE" => 1 << 7,
        "PRESENCE_UPDATE" => GUILD_PRESENCES,
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" => {
            if in_guild {
                GUILD_MESSAGES
            } else {
                DIRECT_MESSAGES
            }
        }
        "MESSAGE_DELETE_BULK" => GUILD_MESSAGES,
        "MESSAGE_REACTION_ADD"
        | "MESSAGE_REACTION_REMOVE"
        | "MESSAGE_REACTION_REMOVE_ALL"
        | "MESSAGE_REACTION_REMOVE_EMOJI" => {
            if in_guild {
                1 << 10
            } else {
                1 << 13
            }
        }
        "TYPING_START" => {
            if in_guild {
                1 << 11
            } else {
                1 << 14
            }
        }
        "GUILD_SCHEDULED_EVENT_CREATE"
        | "GUILD_SCHEDULED_EVENT_UPDATE"
        | "GUILD_SCHEDULED_EVENT_DELETE"
        | "GUILD_SCHEDULED_EVENT_USER_ADD"
        | "GUILD_SCHEDULED_EVENT_USER_REMOVE" => 1 << 16,
        "AUTO_MODERATION_RULE_CREATE"
        | "AUTO_MODERATION_RULE_UPDATE"
        | "AUTO_MODERATION_RULE_DELETE" => 1 << 20,
        "AUTO_MODERATION_ACTION_EXECUTION" => 1 << 21,
        "MESSAGE_POLL_VOTE_ADD" | "MESSAGE_POLL_VOTE_REMOVE" => {
            if in_guild {
                1 << 24
            } else {
                1 << 25
            }
        }
        _ => return None,
    };
    Some(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_events_depend_on_guild_or_dm() {
        assert_eq!(required("MESSAGE_CREATE", true), Some(GUILD_MESSAGES));
        assert_eq!(required("MESSAGE_CREATE", false), Some(DIRECT_MESSAGES));
        assert_eq!(required("INTERACTION_CREATE", true), None);
        assert_eq!(ALL & PRIVILEGED, PRIVILEGED);
    }
}
