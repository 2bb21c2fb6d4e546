//! `/mute` and `/unmute` through the whole pipeline, and the jobs that end or renew a mute.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use support::{Stack, content, wait_for};

/// `/config mute_role:<role>` as the owner.
async fn set_mute_role(stack: &Stack, role: u64) {
    let option = json!({"name": "mute_role", "type": 8, "value": role.to_string()});
    stack.configure(vec![option]).await;
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

#[tokio::test]
async fn a_role_mute_ends_by_its_timer_and_unmute_lifts_one_early() {
    let stack = Stack::start().await;
    let (guild, channel, owner, first, second) = stack.cast();
    let role = stack.role("Member");
    set_mute_role(&stack, role).await;
    let roles = |user: u64| {
        stack.sim.world().guilds[&guild].members[&user]
            .roles
            .clone()
    };

    // A two-second mute: the role now, its removal by the scheduler.
    let duration = json!({"name": "duration", "type": 3, "value": "2s"});
    let id = stack.command("mute", channel, owner, first, vec![duration]);
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("muted until"), "{answer}");
    assert!(roles(first).contains(&role));
    let added = stack.calls("PUT", &format!("/members/{first}/roles/{role}"));
    assert_eq!(added.len(), 1);
    assert_eq!(
        added[0].reason.as_deref(),
        Some(format!("By {owner}: no reason given").as_str())
    );
    stack
        .wait_count(
            "the mute's end",
            "SELECT count(*) FROM cases WHERE kind = 'unmute' AND source = 'scheduled'",
            1,
        )
        .await;
    assert!(!roles(first).contains(&role), "the role is removed");
    assert_eq!(
        stack
            .calls("DELETE", &format!("/members/{first}/roles/{role}"))
            .len(),
        1
    );

    // An open-ended mute, lifted by hand.
    let id = stack.command("mute", channel, owner, second, Vec::new());
    stack.callback(id).await;
    assert!(roles(second).contains(&role));
    let id = stack.command("unmute", channel, owner, second, Vec::new());
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("unmuted"), "{answer}");
    assert!(!roles(second).contains(&role));
    assert_eq!(
        stack
            .count("SELECT count(*) FROM cases WHERE kind = 'mute' AND source = 'command'")
            .await,
        2
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_timeout_mute_past_28_days_is_renewed_and_unmute_ends_the_renewals() {
    let stack = Stack::start().await;
    let (guild, channel, owner, target, _) = stack.cast();
    let until = || {
        stack.sim.world().guilds[&guild].members[&target]
            .communication_disabled_until_ms
            .unwrap_or(0)
    };
    let day_ms = 86_400_000;
    let duration = json!({"name": "duration", "type": 3, "value": "60d"});
    let id = stack.command("mute", channel, owner, target, vec![duration]);
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("muted until"), "{answer}");
    // Discord takes at most 28 days; the mute's 60 are kept by renewals.
    let first = until();
    assert!(
        first > now_ms() + 27 * day_ms && first <= now_ms() + 28 * day_ms,
        "{first}"
    );
    let pending = "SELECT count(*) FROM scheduled_actions WHERE kind = 'timeout_renew' AND status = 'pending' AND due_at > now() + interval '26 days'";
    assert_eq!(stack.count(pending).await, 1);

    // 27 days on (the timer moved to now), the timeout is set again and the next renewal follows.
    let patches = || stack.calls("PATCH", &format!("/members/{target}")).len();
    assert_eq!(patches(), 1);
    stack
        .execute("UPDATE scheduled_actions SET due_at = now() WHERE kind = 'timeout_renew'")
        .await;
    wait_for("the renewal", || async { patches() == 2 }).await;
    wait_for("the next renewal", || async {
        stack.count(pending).await == 1
    })
    .await;

    let id = stack.command("unmute", channel, owner, target, Vec::new());
    stack.callback(id).await;
    assert_eq!(until(), 0, "the timeout is lifted");
    assert_eq!(
        stack
            .count("SELECT count(*) FROM scheduled_actions WHERE kind = 'timeout_renew' AND status = 'cancelled'")
            .await,
        1
    );
    // A 28-day timeout, by contrast, replaces any renewal: Discord ends it.
    let duration = json!({"name": "duration", "type": 3, "value": "3d"});
    let id = stack.command("mute", channel, owner, target, vec![duration]);
    stack.callback(id).await;
    assert_eq!(
        stack
            .count("SELECT count(*) FROM scheduled_actions WHERE kind = 'timeout_renew' AND status = 'pending'")
            .await,
        0
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    stack.stop().await;
}

#[tokio::test]
async fn a_mute_role_above_the_bot_is_refused_with_the_reason() {
    let stack = Stack::start().await;
    let (_, channel, owner, target, _) = stack.cast();
    let admin = stack.role("Admin");
    set_mute_role(&stack, admin).await;
    let id = stack.command("mute", channel, owner, target, Vec::new());
    let answer = stack.callback(id).await;
    assert!(
        content(&answer).contains("at or above my highest role"),
        "{answer}"
    );
    assert_eq!(answer["data"]["flags"], json!(64));
    assert_eq!(stack.count("SELECT count(*) FROM cases").await, 0);
    stack.stop().await;
}

#[tokio::test]
async fn a_role_moved_above_the_bot_is_seen_at_once_though_the_guild_was_cached() {
    let stack = Stack::start().await;
    let (guild, channel, owner, first, second) = stack.cast();
    let role = stack.role("Member");
    set_mute_role(&stack, role).await;
    let id = stack.command("mute", channel, owner, first, Vec::new());
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("muted"), "{answer}");
    let key = format!("{}:guild:{guild}:facts", stack.redis_prefix);
    let mut redis = redis::Client::open("redis://127.0.0.1:6379")
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let cached: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("GET");
    assert!(cached.is_some(), "the guild's facts are cached");

    // An admin moves the mute role above the bot's; Discord tells every shard.
    let moved = stack.sim.with_world(|w| {
        let r = w
            .guilds
            .get_mut(&guild)
            .and_then(|g| g.roles.get_mut(&role))
            .expect("role");
        r.position = 10;
        r.to_json()
    });
    stack.sim.dispatch(
        "GUILD_ROLE_UPDATE",
        Some(guild),
        &json!({"guild_id": guild.to_string(), "role": moved}),
    );
    wait_for("the cached facts dropped", || {
        let (key, mut redis) = (key.clone(), redis.clone());
        async move {
            let cached: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .expect("GET");
            cached.is_none()
        }
    })
    .await;
    let id = stack.command("mute", channel, owner, second, Vec::new());
    let answer = stack.callback(id).await;
    assert!(
        content(&answer).contains("at or above my highest role"),
        "{answer}"
    );
    stack.stop().await;
}
