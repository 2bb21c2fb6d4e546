//! Permission bits (see `topics--permissions.mdx`) and the base/overwrite computation.

use super::model::{Guild, Overwrite};

/// CREATE_INSTANT_INVITE.
pub const CREATE_INSTANT_INVITE: u64 = 1 << 0;
/// KICK_MEMBERS.
pub const KICK_MEMBERS: u64 = 1 << 1;
/// BAN_MEMBERS.
pub const BAN_MEMBERS: u64 = 1 << 2;
/// ADMINISTRATOR.
pub const ADMINISTRATOR: u64 = 1 << 3;
/// MANAGE_CHANNELS.
pub const MANAGE_CHANNELS: u64 = 1 << 4;
/// MANAGE_GUILD.
pub const MANAGE_GUILD: u64 = 1 << 5;
/// ADD_REACTIONS.
pub const ADD_REACTIONS: u64 = 1 << 6;
/// VIEW_AUDIT_LOG.
pub const VIEW_AUDIT_LOG: u64 = 1 << 7;
/// VIEW_CHANNEL.
pub const VIEW_CHANNEL: u64 = 1 << 10;
/// SEND_MESSAGES.
pub const SEND_MESSAGES: u64 = 1 << 11;
/// MANAGE_MESSAGES.
pub const MANAGE_MESSAGES: u64 = 1 << 13;
/// EMBED_LINKS.
pub const EMBED_LINKS: u64 = 1 << 14;
/// ATTACH_FILES.
pub const ATTACH_FILES: u64 = 1 << 15;
/// READ_MESSAGE_HISTORY.
pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
/// MENTION_EVERYONE.
pub const MENTION_EVERYONE: u64 = 1 << 17;
/// MANAGE_NICKNAMES.
pub const MANAGE_NICKNAMES: u64 = 1 << 27;
/// MANAGE_ROLES.
pub const MANAGE_ROLES: u64 = 1 << 28;
/// MANAGE_WEBHOOKS.
pub const MANAGE_WEBHOOKS: u64 = 1 << 29;
/// MANAGE_THREADS.
pub const MANAGE_THREADS: u64 = 1 << 34;
/// CREATE_PUBLIC_THREADS.
pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
/// CREATE_PRIVATE_THREADS.
pub const CREATE_PRIVATE_THREADS: u64 = 1 << 36;
/// SEND_MESSAGES_IN_THREADS.
pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
/// MODERATE_MEMBERS.
pub const MODERATE_MEMBERS: u64 = 1 << 40;

/// What `@everyone` gets in a seeded guild.
pub const EVERYONE_DEFAULT: u64 = CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS;

/// Every bit, what ADMINISTRATOR or ownership grants.
pub const ALL: u64 = (1 << 51) - 1;

/// A member's guild-level permissions (owner and ADMINISTRATOR get everything).
pub fn base(guild: &Guild, user_id: u64) -> u64 {
    if guild.owner_id == user_id {
        return ALL;
    }
    let Some(member) = guild.members.get(&user_id) else {
        return 0;
    };
    let mut perms = guild.roles.get(&guild.id).map_or(0, |r| r.permissions);
    for role in member.roles.iter().filter_map(|r| guild.roles.get(r)) {
        perms |= role.permissions;
    }
    if perms & ADMINISTRATOR != 0 {
        return ALL;
    }
    perms
}

/// A member's permissions in a channel with `overwrites`, per Discord's algorithm.
pub fn in_channel(guild: &Guild, user_id: u64, overwrites: &[Overwrite]) -> u64 {
    let mut perms = base(guild, user_id);
    if perms == ALL {
        return ALL;
    }
    let Some(member) = guild.members.get(&user_id) else {
        return 0;
    };
    if let Some(o) = overwrites.iter().find(|o| o.kind == 0 && o.id == guild.id) {
        perms = (perms & !o.deny) | o.allow;
    }
    let (mut allow, mut deny) = (0, 0);
    for o in overwrites
        .iter()
        .filter(|o| o.kind == 0 && member.roles.contains(&o.id))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    perms = (perms & !deny) | allow;
    if let Some(o) = overwrites.iter().find(|o| o.kind == 1 && o.id == user_id) {
        perms = (perms & !o.deny) | o.allow;
    }
    perms
}

/// Position of a member's highest role (0 when only `@everyone`); the owner is above everyone.
pub fn top_position(guild: &Guild, user_id: u64) -> i64 {
    if guild.owner_id == user_id {
        return i64::MAX;
    }
    guild.members.get(&user_id).map_or(0, |m| {
        m.roles
            .iter()
            .filter_map(|r| guild.roles.get(r))
            .map(|r| r.position)
            .max()
            .unwrap_or(0)
    })
}
