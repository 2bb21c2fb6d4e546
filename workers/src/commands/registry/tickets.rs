//! `/ticket`: setup (Manage Server, checked by the worker) and work in a ticket.

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionType, CommandOptionValue,
};
use twilight_model::channel::ChannelType;
use twilight_model::guild::Permissions;

use super::{command, option};

fn sub(name: &str, description: &str, options: Vec<CommandOption>) -> CommandOption {
    let mut sub = option(
        name,
        description,
        CommandOptionType::SubCommand,
        false,
        None,
    );
    sub.required = None;
    sub.options = Some(options);
    sub
}

fn text(name: &str, description: &str, required: bool, max: u16) -> CommandOption {
    option(
        name,
        description,
        CommandOptionType::String,
        required,
        Some(max),
    )
}

pub(super) fn definition() -> Command {
    let user = |what: &str| option("user", what, CommandOptionType::User, true, None);
    let mut parent = option(
        "parent",
        "The category channel tickets go in",
        CommandOptionType::Channel,
        false,
        None,
    );
    parent.channel_types = Some(vec![ChannelType::GuildCategory]);
    let mut log = option(
        "log_channel",
        "Where closes and transcripts are logged",
        CommandOptionType::Channel,
        false,
        None,
    );
    log.channel_types = Some(vec![ChannelType::GuildText]);
    let mut limit = option(
        "limit",
        "Open tickets per member (1-25, default 1)",
        CommandOptionType::Integer,
        false,
        None,
    );
    limit.min_value = Some(CommandOptionValue::Integer(1));
    limit.max_value = Some(CommandOptionValue::Integer(25));
    let mut remove = option(
        "remove",
        "Lift the bar instead",
        CommandOptionType::Boolean,
        false,
        None,
    );
    remove.required = Some(false);
    // Everyone may use it: openers close their tickets; setup checks Manage Server itself.
    let mut ticket = command(
        "ticket",
        "Support tickets",
        Permissions::empty(),
        vec![
            sub(
                "category",
                "Create or change a kind of ticket (Manage Server)",
                vec![
                    text("name", "Its name on the panel", true, 50),
                    option(
                        "staff_role",
                        "The role that handles these tickets",
                        CommandOptionType::Role,
                        true,
                        None,
                    ),
                    parent,
                    text(
                        "questions",
                        "Form questions, separated by | (up to 5)",
                        false,
                        300,
                    ),
                    limit,
                    log,
                    text(
                        "auto_close",
                        "Close after this long without messages, like 48h (off: never)",
                        false,
                        16,
                    ),
                    option(
                        "private_thread",
                        "Open tickets as private threads in the panel's channel",
                        CommandOptionType::Boolean,
                        false,
                        None,
                    ),
                    text(
                        "reopen_window",
                        "How long a closed ticket can be reopened, like 10m (default: off)",
                        false,
                        16,
                    ),
                    text(
                        "name_pattern",
                        "Channel name, with {number} and {user} (default ticket-{number})",
                        false,
                        90,
                    ),
                ],
            ),
            sub(
                "blacklist",
                "Bar a member from opening tickets (Manage Server)",
                vec![user("The member"), remove],
            ),
            sub(
                "panel",
                "Post the panel members open tickets from (Manage Server)",
                vec![
                    text("title", "The panel's title", false, 256),
                    text("description", "The panel's text", false, 2000),
                ],
            ),
            sub(
                "close",
                "Close this ticket",
                vec![text("reason", "Why", false, 512)],
            ),
            sub("claim", "Take this ticket on", Vec::new()),
            sub(
                "closerequest",
                "Ask the opener to confirm closing this ticket",
                vec![text("reason", "Why", false, 512)],
            ),
            sub(
                "add",
                "Let a member into this ticket",
                vec![user("The member")],
            ),
            sub(
                "remove",
                "Take a member out of this ticket",
                vec![user("The member")],
            ),
        ],
    );
    ticket.default_member_permissions = None;
    ticket
}
