//! `/purge`, `/slowmode`, `/lock` and `/unlock` through the whole pipeline.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Stack, content};

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn purge_bulk_deletes_recent_messages_and_deletes_old_ones_one_by_one() {
    let stack = Stack::start().await;
    let (_, channel, owner, target, other) = stack.cast();
    let seed = |author, age, text: &str| {
        stack
            .sim
            .seed_message(channel, author, text, age)
            .expect("message seeded")
    };
    let old: Vec<u64> = (0..2)
        .map(|i| seed(target, 20 * DAY, &format!("old {i}")))
        .collect();
    let others: Vec<u64> = (0..3)
        .map(|i| seed(other, Duration::from_secs(90), &format!("other {i}")))
        .collect();
    let fresh: Vec<u64> = (0..5)
        .map(|i| seed(target, Duration::from_secs(60), &format!("fresh {i}")))
        .collect();

    let options = vec![
        json!({"name": "count", "type": 4, "value": 7}),
        json!({"name": "user", "type": 6, "value": target.to_string()}),
        json!({"name": "reason", "type": 3, "value": "spam wave"}),
    ];
    let id = stack.run("purge", channel, owner, options);
    let answer = stack.callback(id).await;
    assert_eq!(
        content(&answer),
        format!("7 messages by <@{target}> purged in <#{channel}>."),
        "{answer}"
    );
    assert_eq!(answer["data"]["flags"], json!(64), "ephemeral");

    let bulk = stack.calls("POST", &format!("/channels/{channel}/messages/bulk-delete"));
    assert_eq!(bulk.len(), 1, "one bulk delete for the recent ones");
    let mut bulk_ids: Vec<u64> = bulk[0].body["messages"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(|v| v.as_str()?.parse().ok())
        .collect();
    bulk_ids.sort_unstable();
    assert_eq!(bulk_ids, fresh);
    let singles = stack.calls("DELETE", &format!("/channels/{channel}/messages/"));
    assert_eq!(singles.len(), 2, "the two old ones, one at a time");
    let history = stack.sim.world().messages[&channel].clone();
    assert!(
        others.iter().all(|id| history.contains_key(id)),
        "other users' messages stay"
    );
    assert!(old.iter().chain(&fresh).all(|id| !history.contains_key(id)));
    assert_eq!(
        stack
            .count(&format!(
                "SELECT count(*) FROM cases WHERE kind = 'purge' AND target_id = {target} AND reason LIKE '7 messages%spam wave'"
            ))
            .await,
        1
    );

    // A member without Manage Messages is refused and nothing is deleted.
    let (_, _, _, plain, _) = stack.cast();
    let options = vec![json!({"name": "count", "type": 4, "value": 3})];
    let id = stack.run("purge", channel, plain, options);
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("Manage Messages"), "{answer}");
    let history = stack.sim.world().messages[&channel].clone();
    assert!(others.iter().all(|id| history.contains_key(id)));
    assert_eq!(
        stack
            .calls("POST", &format!("/channels/{channel}/messages/bulk-delete"))
            .len(),
        1
    );
    stack.stop().await;
}

#[tokio::test]
async fn slowmode_sets_the_channel_and_lock_then_unlock_restores_its_overwrite() {
    let stack = Stack::start().await;
    let (guild, channel, owner, _, _) = stack.cast();
    let id = stack.run(
        "slowmode",
        channel,
        owner,
        vec![json!({"name": "duration", "type": 3, "value": "30s"})],
    );
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("slowmode 30s"), "{answer}");
    let world_channel = |c: u64| stack.sim.world().guilds[&guild].channels[&c].clone();
    assert_eq!(world_channel(channel).rate_limit_per_user, 30);
    let id = stack.run(
        "slowmode",
        channel,
        owner,
        vec![json!({"name": "duration", "type": 3, "value": "7h"})],
    );
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("at most 6h"), "{answer}");

    // The channel starts with an @everyone overwrite of its own (allowing reactions), which
    // /unlock must put back as it was.
    stack.sim.with_world(|w| {
        let c = w
            .guilds
            .get_mut(&guild)
            .and_then(|g| g.channels.get_mut(&channel))
            .expect("channel");
        c.overwrites.retain(|o| o.id != guild);
        c.overwrites.push(discord_sim::world::Overwrite {
            id: guild,
            kind: 0,
            allow: 1 << 6,
            deny: 0,
        });
    });
    let before = world_channel(channel).overwrites;
    let everyone = |c: &discord_sim::world::Channel| {
        c.overwrites
            .iter()
            .find(|o| o.id == guild)
            .cloned()
            .expect("@everyone overwrite")
    };
    let id = stack.run("lock", channel, owner, Vec::new());
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("locked"), "{answer}");
    let locked = everyone(&world_channel(channel));
    let send_messages = 1 << 11;
    assert_eq!(locked.deny & send_messages, send_messages, "{locked:?}");
    assert_eq!(locked.allow & (1 << 6), 0, "reactions no longer allowed");

    let id = stack.run("lock", channel, owner, Vec::new());
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("already locked"), "{answer}");

    let id = stack.run("unlock", channel, owner, Vec::new());
    let answer = stack.callback(id).await;
    assert!(content(&answer).contains("unlocked"), "{answer}");
    assert_eq!(world_channel(channel).overwrites, before, "restored");
    assert_eq!(
        stack
            .count("SELECT count(*) FROM cases WHERE kind IN ('slowmode', 'lock', 'unlock')")
            .await,
        3
    );
    stack.stop().await;
}
