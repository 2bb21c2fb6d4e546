//! Refusals that need a particular guild: the role hierarchy (the invoker's and the bot's), a user
//! who is not a member, option values out of bounds. Each is ephemeral, says why, and changes
//! nothing on Discord or in the database.

mod support;

use serde_json::json;
use support::{Options, Stack, content};

#[tokio::test]
async fn hierarchy_unknown_members_and_bad_values_are_refused_with_the_reason() {
    // Twelve members: two moderators (same role), the owner, plain members.
    let stack = Stack::with(Options {
        members: 12,
        ..Options::default()
    })
    .await;
    let (guild, channel, owner, plain, _) = stack.cast();
    let moderator_role = stack.role("Moderator");
    let admin_role = stack.role("Admin");
    let moderators: Vec<u64> = stack.sim.world().guilds[&guild]
        .members
        .values()
        .filter(|m| m.roles.contains(&moderator_role))
        .map(|m| m.user_id)
        .collect();
    assert_eq!(moderators.len(), 2, "the seeded guild has two moderators");
    // A plain member promoted to Admin sits above the bot.
    stack.sim.with_world(|w| {
        if let Some(m) = w
            .guilds
            .get_mut(&guild)
            .and_then(|g| g.members.get_mut(&plain))
        {
            m.roles.push(admin_role);
        }
    });
    let (_, _, _, _, other) = stack.cast();
    let outsider = stack
        .sim
        .world()
        .users
        .keys()
        .copied()
        .find(|u| !stack.sim.world().guilds[&guild].members.contains_key(u))
        .expect("a user outside the guild");

    let reason = |text: &str| json!({"name": "reason", "type": 3, "value": text});
    let duration = |text: &str| json!({"name": "duration", "type": 3, "value": text});
    let refusals = [
        (
            "warn",
            moderators[0],
            moderators[1],
            vec![reason("peer")],
            "has a role at or above your highest role",
        ),
        (
            "kick",
            owner,
            plain,
            vec![],
            "has a role at or above my highest role",
        ),
        (
            "kick",
            owner,
            outsider,
            vec![],
            "not a member of this server",
        ),
        (
            "ban",
            owner,
            other,
            vec![duration("soon")],
            "is not a duration",
        ),
        ("timeout", owner, other, vec![], "Say for how long"),
        (
            "ban",
            owner,
            other,
            vec![json!({"name": "delete_days", "type": 4, "value": 9})],
            "0 to 7 days",
        ),
    ];
    for (command, invoker, target, options, expected) in refusals {
        let id = stack.command(command, channel, invoker, target, options);
        let answer = stack.callback(id).await;
        assert!(
            content(&answer).contains(expected),
            "/{command}: expected {expected:?} in {answer}"
        );
        assert_eq!(answer["data"]["flags"], json!(64), "{answer}");
    }
    assert_eq!(stack.count("SELECT count(*) FROM cases").await, 0);
    let acted = stack
        .sim
        .rest_calls()
        .into_iter()
        .filter(|c| c.method != "GET" && c.path.contains("/guilds/"))
        .count();
    assert_eq!(acted, 0, "nothing reached Discord");
    stack.stop().await;
}
