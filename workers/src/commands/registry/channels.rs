//! The channel commands: `/purge`, `/slowmode`, `/lock`, `/unlock`.

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionType, CommandOptionValue,
};
use twilight_model::channel::ChannelType;
use twilight_model::guild::Permissions;

use super::super::purge::MAX_PURGE;
use super::{command, option};

/// The `channel` option: text-like channels, the current one when left out.
fn channel() -> CommandOption {
    let mut channel = option(
        "channel",
        "The channel (this one if left out)",
        CommandOptionType::Channel,
        false,
        None,
    );
    channel.channel_types = Some(vec![
        ChannelType::GuildText,
        ChannelType::GuildAnnouncement,
        ChannelType::GuildVoice,
        ChannelType::GuildForum,
    ]);
    channel
}

pub(super) fn definitions(reason: CommandOption) -> Vec<Command> {
    let mut count = option(
        "count",
        "How many messages (1-500)",
        CommandOptionType::Integer,
        true,
        None,
    );
    count.min_value = Some(CommandOptionValue::Integer(1));
    count.max_value = Some(CommandOptionValue::Integer(MAX_PURGE));
    vec![
        command(
            "purge",
            "Delete the last messages in this channel, of everyone or one user",
            Permissions::MANAGE_MESSAGES,
            vec![
                count,
                option(
                    "user",
                    "Only this user's messages",
                    CommandOptionType::User,
                    false,
                    None,
                ),
                reason.clone(),
            ],
        ),
        command(
            "slowmode",
            "Set a channel's slowmode",
            Permissions::MANAGE_CHANNELS,
            vec![
                option(
                    "duration",
                    "Between messages, like 30s, 5m or 2h (at most 6h), or off",
                    CommandOptionType::String,
                    true,
                    Some(16),
                ),
                channel(),
                reason.clone(),
            ],
        ),
        command(
            "lock",
            "Stop everyone from sending messages in a channel",
            Permissions::MANAGE_CHANNELS,
            vec![channel(), reason.clone()],
        ),
        command(
            "unlock",
            "Undo /lock: the channel's permissions as they were",
            Permissions::MANAGE_CHANNELS,
            vec![channel(), reason],
        ),
    ]
}
