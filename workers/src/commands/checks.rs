//! Who may act on whom: Discord's permission and role-hierarchy rules, applied before any action.

use std::collections::HashMap;

use twilight_model::guild::Permissions;

/// Why an action is refused; shown to the invoker (ephemerally) as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// The invoker lacks the permission the command needs.
    #[error("You need the {0} permission for this.")]
    MissingPermission(&'static str),
    /// Nobody moderates themselves.
    #[error("You cannot use this on yourself.")]
    SelfTarget,
    /// The bot is not a target.
    #[error("You cannot use this on me.")]
    BotTarget,
    /// The server owner is above every moderation action.
    #[error("You cannot use this on the server owner.")]
    OwnerTarget,
    /// The target's highest role is not below the invoker's.
    #[error("{0} has a role at or above your highest role.")]
    NotBelowInvoker(String),
    /// The bot lacks the permission the action needs.
    #[error("I need the {0} permission for this.")]
    BotMissingPermission(&'static str),
    /// The target's highest role is not below the bot's.
    #[error("{0} has a role at or above my highest role.")]
    NotBelowBot(String),
    /// Discord refused the action.
    #[error("Discord refused: {0}")]
    Discord(String),
    /// The target is not a member of this server.
    #[error("That user is not a member of this server.")]
    NotAMember,
    /// An option value is out of bounds.
    #[error("{0}")]
    BadOption(String),
}

/// A member as the checks see them.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub(crate) id: u64,
    pub(crate) roles: Vec<u64>,
    /// Whether they are in the guild (a ban may target someone who is not; the hierarchy then
    /// does not apply).
    pub(crate) member: bool,
}

/// The guild facts the checks need.
#[derive(Debug, Clone)]
pub(crate) struct GuildFacts {
    pub(crate) owner_id: u64,
    /// Role id -> position.
    pub(crate) positions: HashMap<u64, i64>,
}

impl GuildFacts {
    /// The position of the highest of `roles` (0 for none: @everyone).
    pub(crate) fn top_position(&self, roles: &[u64]) -> i64 {
        roles
            .iter()
            .filter_map(|r| self.positions.get(r))
            .copied()
            .max()
            .unwrap_or(0)
    }
}

/// Checks that `invoker` (holding `invoker_permissions` in the channel) may take an action that
/// needs `needed` against `target`, in `guild`, where the bot is `bot_id`.
pub(crate) fn may_act(
    invoker: &Actor,
    invoker_permissions: Permissions,
    needed: (Permissions, &'static str),
    target: &Actor,
    bot_id: u64,
    guild: &GuildFacts,
) -> Result<(), Refusal> {
    let administrator = invoker_permissions.contains(Permissions::ADMINISTRATOR);
    if !administrator && !invoker_permissions.contains(needed.0) {
        return Err(Refusal::MissingPermission(needed.1));
    }
    if target.id == invoker.id {
        return Err(Refusal::SelfTarget);
    }
    if target.id == bot_id {
        return Err(Refusal::BotTarget);
    }
    if target.id == guild.owner_id {
        return Err(Refusal::OwnerTarget);
    }
    if target.member
        && invoker.id != guild.owner_id
        && guild.top_position(&target.roles) >= guild.top_position(&invoker.roles)
    {
        return Err(Refusal::NotBelowInvoker(format!("<@{}>", target.id)));
    }
    Ok(())
}

/// Checks that the bot, holding `app_permissions`, can take the action on `target`: Discord
/// would refuse otherwise, so Aegis says why before trying.
pub(crate) fn bot_may_act(
    app_permissions: Permissions,
    needed: (Permissions, &'static str),
    bot_roles: &[u64],
    target: &Actor,
    guild: &GuildFacts,
) -> Result<(), Refusal> {
    if !app_permissions.contains(Permissions::ADMINISTRATOR) && !app_permissions.contains(needed.0)
    {
        return Err(Refusal::BotMissingPermission(needed.1));
    }
    if target.member && guild.top_position(&target.roles) >= guild.top_position(bot_roles) {
        return Err(Refusal::NotBelowBot(format!("<@{}>", target.id)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use twilight_model::guild::Permissions;

    use super::{Actor, GuildFacts, Refusal, may_act};

    fn guild() -> GuildFacts {
        GuildFacts {
            owner_id: 1,
            positions: HashMap::from([(10, 1), (20, 2), (30, 3)]),
        }
    }

    fn actor(id: u64, roles: &[u64]) -> Actor {
        Actor {
            id,
            roles: roles.to_vec(),
            member: true,
        }
    }

    const NEED: (Permissions, &str) = (Permissions::MODERATE_MEMBERS, "Timeout Members");

    #[test]
    fn the_bot_needs_the_permission_and_a_higher_role() {
        use super::bot_may_act;
        let g = guild();
        let need = (Permissions::BAN_MEMBERS, "Ban Members");
        assert_eq!(
            bot_may_act(Permissions::BAN_MEMBERS, need, &[30], &actor(6, &[20]), &g),
            Ok(())
        );
        assert_eq!(
            bot_may_act(Permissions::KICK_MEMBERS, need, &[30], &actor(6, &[]), &g),
            Err(Refusal::BotMissingPermission("Ban Members"))
        );
        assert_eq!(
            bot_may_act(Permissions::BAN_MEMBERS, need, &[20], &actor(6, &[30]), &g),
            Err(Refusal::NotBelowBot("<@6>".into()))
        );
        let outsider = Actor {
            id: 7,
            roles: Vec::new(),
            member: false,
        };
        assert_eq!(
            bot_may_act(Permissions::BAN_MEMBERS, need, &[], &outsider, &g),
            Ok(())
        );
    }

    #[test]
    fn a_moderator_above_the_target_may_act() {
        let result = may_act(
            &actor(5, &[30]),
            Permissions::MODERATE_MEMBERS,
            NEED,
            &actor(6, &[10]),
            99,
            &guild(),
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        let g = guild();
        let mod_perms = Permissions::MODERATE_MEMBERS;
        assert_eq!(
            may_act(
                &actor(5, &[30]),
                Permissions::SEND_MESSAGES,
                NEED,
                &actor(6, &[]),
                99,
                &g
            ),
            Err(Refusal::MissingPermission("Timeout Members"))
        );
        assert_eq!(
            may_act(&actor(5, &[30]), mod_perms, NEED, &actor(5, &[]), 99, &g),
            Err(Refusal::SelfTarget)
        );
        assert_eq!(
            may_act(&actor(5, &[30]), mod_perms, NEED, &actor(99, &[]), 99, &g),
            Err(Refusal::BotTarget)
        );
        assert_eq!(
            may_act(&actor(5, &[30]), mod_perms, NEED, &actor(1, &[]), 99, &g),
            Err(Refusal::OwnerTarget)
        );
        assert_eq!(
            may_act(&actor(5, &[20]), mod_perms, NEED, &actor(6, &[20]), 99, &g),
            Err(Refusal::NotBelowInvoker("<@6>".into())),
            "equal roles are not below"
        );
    }

    #[test]
    fn the_owner_and_administrators_pass_their_checks() {
        let g = guild();
        assert_eq!(
            may_act(
                &actor(1, &[]),
                Permissions::empty() | Permissions::ADMINISTRATOR,
                NEED,
                &actor(6, &[30]),
                99,
                &g
            ),
            Ok(())
        );
        assert_eq!(
            may_act(
                &actor(5, &[30]),
                Permissions::ADMINISTRATOR,
                NEED,
                &actor(6, &[20]),
                99,
                &g
            ),
            Ok(())
        );
    }
}
