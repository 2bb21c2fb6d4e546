//! Slash commands through the whole pipeline: discord-sim injects INTERACTION_CREATE ->
//! gateway-proxy -> JetStream -> worker -> rest-proxy -> discord-sim, with the case in PostgreSQL.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::headers;
use serde_json::{Value, json};
use support::{Stack, wait_for};

#[tokio::test]
async fn warn_records_a_case_answers_and_a_redelivery_changes_nothing() {
    let stack = Stack::start().await;
    let (_guild, channel, owner, target, _) = stack.cast();
    let id = stack.warn(channel, owner, target, "spam links");
    let callback = stack.callback(id).await;
    let content = callback["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(content.starts_with("**Case #1**"), "{callback}");
    assert_eq!(
        callback["data"]["flags"],
        Value::Null,
        "a success is public: {callback}"
    );
    assert_eq!(
        stack
            .count(&format!(
                "SELECT count(*) FROM cases WHERE kind = 'warn' AND source = 'command' AND target_id = {target} AND moderator_id = {owner} AND reason = 'spam links'"
            ))
            .await,
        1
    );

    // JetStream delivers the same interaction again (a new message id, as after a redelivery).
    let js = async_nats::jetstream::new(async_nats::connect(&stack.nats.url).await.expect("NATS"));
    let mut stream = js
        .get_stream(stack.nats.topology.interactions_stream())
        .await
        .expect("stream");
    let first = stream.info().await.expect("info").state.first_sequence;
    let original = stream
        .get_raw_message(first)
        .await
        .expect("the interaction");
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert(headers::MESSAGE_ID, "redelivered");
    js.publish_with_headers(
        stack.nats.topology.subjects().interactions(),
        hdrs,
        original.payload,
    )
    .await
    .expect("publish")
    .await
    .expect("stored");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        stack.count("SELECT count(*) FROM cases").await,
        1,
        "no second case"
    );
    assert_eq!(
        stack
            .count("SELECT count(*) FROM processed_interactions")
            .await,
        1
    );
    stack.stop().await;
}

#[tokio::test]
async fn refusals_are_ephemeral_say_why_and_record_nothing() {
    let stack = Stack::start().await;
    let (_guild, channel, owner, plain, other) = stack.cast();
    let cases: [(u64, u64, String, &str); 4] = [
        (
            plain,
            other,
            "rude".into(),
            "You need the Timeout Members permission",
        ),
        (
            owner,
            owner,
            "self".into(),
            "You cannot use this on yourself",
        ),
        (
            owner,
            stack.sim.world().bot.id,
            "bot".into(),
            "You cannot use this on me",
        ),
        (owner, plain, "x".repeat(513), "the limit is 512"),
    ];
    for (invoker, target, reason, expected) in cases {
        let id = stack.warn(channel, invoker, target, &reason);
        let callback = stack.callback(id).await;
        let content = callback["data"]["content"].as_str().unwrap_or_default();
        assert!(
            content.contains(expected),
            "expected {expected:?} in {callback}"
        );
        assert_eq!(
            callback["data"]["flags"],
            json!(64),
            "refusals are ephemeral: {callback}"
        );
    }
    assert_eq!(stack.count("SELECT count(*) FROM cases").await, 0);
    stack.stop().await;
}

#[tokio::test]
async fn the_guild_is_read_once_and_read_again_after_a_role_change() {
    let stack = Stack::start().await;
    let (guild, channel, _owner, plain, other) = stack.cast();
    let world = stack.sim.world();
    let seeded = &world.guilds[&guild];
    let moderator_role = seeded
        .roles
        .values()
        .find(|r| r.name == "Moderator")
        .expect("a Moderator role")
        .clone();
    let moderator = seeded
        .members
        .values()
        .find(|m| m.roles == vec![moderator_role.id])
        .expect("a moderator")
        .user_id;
    let guild_reads = || {
        stack
            .sim
            .rest_calls()
            .iter()
            .filter(|c| c.method == "GET" && c.path.ends_with(&format!("/guilds/{guild}")))
            .count()
    };
    let answer = |callback: Value| {
        callback["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    for target in [plain, other] {
        let id = stack.warn(channel, moderator, target, "cached");
        let content = answer(stack.callback(id).await);
        assert!(content.starts_with("**Case #"), "{content}");
    }
    assert_eq!(guild_reads(), 1, "the second command uses the cached guild");

    // The Moderator role drops to the bottom: a moderator no longer outranks anyone.
    let mut lowered = moderator_role.clone();
    lowered.position = 0;
    stack.sim.with_world(|w| {
        if let Some(g) = w.guilds.get_mut(&guild) {
            g.roles.insert(lowered.id, lowered.clone());
        }
    });
    stack.sim.dispatch(
        "GUILD_ROLE_UPDATE",
        Some(guild),
        &json!({"guild_id": guild.to_string(), "role": lowered.to_json()}),
    );
    let redis = redis::Client::open("redis://127.0.0.1:6379").expect("Redis URL");
    let redis = redis
        .get_multiplexed_async_connection()
        .await
        .expect("Redis");
    let key = format!("{}:guild:{guild}:facts", stack.redis_prefix);
    wait_for("the cached guild to be dropped", || {
        let mut redis = redis.clone();
        let key = key.clone();
        async move {
            let exists: i64 = redis::cmd("EXISTS")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .expect("EXISTS");
            exists == 0
        }
    })
    .await;
    let id = stack.warn(channel, moderator, plain, "after the change");
    let content = answer(stack.callback(id).await);
    assert!(
        content.contains("at or above your highest role"),
        "{content}"
    );
    assert_eq!(guild_reads(), 2);
    stack.stop().await;
}

#[tokio::test]
async fn kick_removes_the_member_with_the_audit_reason_and_records_a_case() {
    let stack = Stack::start().await;
    let (guild, channel, owner, target, _) = stack.cast();
    let reason = json!({"name": "reason", "type": 3, "value": "raiding"});
    let id = stack.command("kick", channel, owner, target, vec![reason]);
    let callback = stack.callback(id).await;
    assert!(
        callback["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("kicked"),
        "{callback}"
    );
    let kicked = stack
        .sim
        .rest_calls()
        .into_iter()
        .find(|c| {
            c.method == "DELETE"
                && c.path
                    .ends_with(&format!("/guilds/{guild}/members/{target}"))
        })
        .expect("the kick reached Discord");
    assert_eq!(kicked.status, 204);
    assert_eq!(
        kicked.reason.as_deref(),
        Some(format!("By {owner}: raiding").as_str())
    );
    assert!(
        !stack.sim.world().guilds[&guild]
            .members
            .contains_key(&target)
    );
    assert_eq!(
        stack
            .count("SELECT count(*) FROM cases WHERE kind = 'kick' AND source = 'command'")
            .await,
        1
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_temp_ban_is_lifted_by_the_scheduler_and_an_unban_cancels_the_other() {
    let stack = Stack::start().await;
    let (guild, channel, owner, first, second) = stack.cast();
    // Two temp-bans: one runs out (its timer moved to now), one is lifted by hand first.
    for target in [first, second] {
        let duration = json!({"name": "duration", "type": 3, "value": "1h"});
        let id = stack.command("ban", channel, owner, target, vec![duration]);
        let callback = stack.callback(id).await;
        assert!(
            callback["data"]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("banned until"),
            "{callback}"
        );
    }
    assert_eq!(
        stack
            .count("SELECT count(*) FROM cases WHERE kind = 'tempban' AND expires_at IS NOT NULL")
            .await,
        2
    );
    assert_eq!(
        stack
            .count(
                "SELECT count(*) FROM scheduled_actions WHERE kind = 'unban' AND status = 'pending'"
            )
            .await,
        2
    );

    let id = stack.command("unban", channel, owner, second, Vec::new());
    stack.callback(id).await;
    let cancelled = format!(
        "SELECT count(*) FROM scheduled_actions WHERE dedupe_key = 'unban:{guild}:{second}' AND status = 'cancelled'"
    );
    assert_eq!(stack.count(&cancelled).await, 1);

    let (client, connection) = tokio_postgres::connect(&stack.db.url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL");
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE scheduled_actions SET due_at = now() WHERE status = 'pending'",
            &[],
        )
        .await
        .expect("due now");
    stack
        .wait_count(
            "the scheduled unban",
            "SELECT count(*) FROM cases WHERE kind = 'unban' AND source = 'scheduled'",
            1,
        )
        .await;
    let unbans: Vec<String> = stack
        .sim
        .rest_calls()
        .into_iter()
        .filter(|c| c.method == "DELETE" && c.path.contains(&format!("/guilds/{guild}/bans/")))
        .map(|c| c.path)
        .collect();
    assert_eq!(
        unbans.len(),
        2,
        "one unban by hand, one by the timer: {unbans:?}"
    );
    assert_eq!(
        stack
            .count(
                "SELECT count(*) FROM scheduled_actions WHERE kind = 'unban' AND status = 'done'"
            )
            .await,
        1
    );
    stack.stop().await;
}

#[tokio::test]
async fn timeout_sets_discords_timeout_within_its_28_days_and_untimeout_lifts_it() {
    let stack = Stack::start().await;
    let (guild, channel, owner, target, _) = stack.cast();
    let too_long = json!({"name": "duration", "type": 3, "value": "30d"});
    let id = stack.command("timeout", channel, owner, target, vec![too_long]);
    let callback = stack.callback(id).await;
    assert!(
        callback["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 28 days"),
        "{callback}"
    );

    let duration = json!({"name": "duration", "type": 3, "value": "10m"});
    let id = stack.command("timeout", channel, owner, target, vec![duration]);
    let callback = stack.callback(id).await;
    assert!(
        callback["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out until"),
        "{callback}"
    );
    let until = stack.sim.world().guilds[&guild].members[&target].communication_disabled_until_ms;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    assert!(
        until.is_some_and(|ms| ms > now_ms + 9 * 60_000 && ms < now_ms + 11 * 60_000),
        "{until:?}"
    );
    assert_eq!(
        stack
            .count("SELECT count(*) FROM cases WHERE kind = 'timeout' AND expires_at IS NOT NULL")
            .await,
        1
    );

    let id = stack.command("untimeout", channel, owner, target, Vec::new());
    stack.callback(id).await;
    assert_eq!(
        stack.sim.world().guilds[&guild].members[&target].communication_disabled_until_ms,
        None
    );
    assert_eq!(
        stack
            .count("SELECT count(*) FROM cases WHERE kind = 'untimeout'")
            .await,
        1
    );
    stack.stop().await;
}

#[tokio::test]
async fn cases_pages_turn_with_buttons_and_case_subcommands_edit_history() {
    let stack = Stack::start().await;
    let (guild, channel, owner, target, _) = stack.cast();
    let pool = stack.db.connect(2).await.expect("pool").pool().clone();
    let cases = aegis_storage::Cases::new(pool);
    for i in 0..12 {
        let case = aegis_storage::NewCase {
            guild_id: guild,
            kind: aegis_storage::CaseKind::Warn,
            target_id: target,
            moderator_id: owner,
            reason: Some(format!("reason {i}")),
            source: aegis_storage::CaseSource::Command,
            expires_at: None,
            dedupe_key: format!("seed:{i}"),
        };
        cases.create(&case).await.expect("case");
    }
    let id = stack.command("cases", channel, owner, target, Vec::new());
    let first = stack.callback(id).await;
    let content = first["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        content.contains("**#12**") && content.contains("**#3**") && !content.contains("**#2**"),
        "{first}"
    );
    assert_eq!(first["data"]["flags"], json!(64));
    let buttons = &first["data"]["components"][0]["components"];
    assert_eq!(buttons[1]["custom_id"], json!(format!("cases:{target}:1")));
    assert_eq!(
        buttons[0]["disabled"],
        json!(true),
        "no page before the first"
    );
    assert_ne!(
        buttons[1]["disabled"],
        json!(true),
        "Next is enabled: {first}"
    );

    // The moderator presses Next.
    let press = json!({"custom_id": format!("cases:{target}:1"), "component_type": 2});
    let (id, _) = stack
        .sim
        .inject_interaction(3, channel, owner, press)
        .expect("button press");
    let second = stack.callback(id).await;
    assert_eq!(
        second["type"],
        json!(7),
        "the page is an update of the same message: {second}"
    );
    let content = second["data"]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("**#2**") && content.contains("**#1**") && !content.contains("**#3**"),
        "{second}"
    );

    let sub = |name: &str, extra: Vec<Value>| {
        let mut options = vec![json!({"name": "number", "type": 4, "value": 1})];
        options.extend(extra);
        json!({"id": "2", "name": "case", "type": 1, "options": [{"name": name, "type": 1, "options": options}]})
    };
    let (id, _) = stack
        .sim
        .inject_interaction(
            2,
            channel,
            owner,
            sub(
                "reason",
                vec![json!({"name": "reason", "type": 3, "value": "corrected"})],
            ),
        )
        .expect("case reason");
    stack.callback(id).await;
    let (id, _) = stack
        .sim
        .inject_interaction(2, channel, owner, sub("show", Vec::new()))
        .expect("case show");
    let shown = stack.callback(id).await;
    assert!(
        shown["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("corrected"),
        "{shown}"
    );
    let (id, _) = stack
        .sim
        .inject_interaction(2, channel, owner, sub("hide", Vec::new()))
        .expect("case hide");
    stack.callback(id).await;
    assert_eq!(
        stack
            .count("SELECT count(*) FROM cases WHERE case_number = 1 AND hidden")
            .await,
        1
    );
    stack.stop().await;
}

#[tokio::test]
async fn softban_bans_with_message_deletion_then_unbans() {
    let stack = Stack::start().await;
    let (guild, channel, owner, target, _) = stack.cast();
    let id = stack.command("softban", channel, owner, target, Vec::new());
    let callback = stack.callback(id).await;
    assert!(
        callback["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("softbanned"),
        "{callback}"
    );
    let calls: Vec<(String, serde_json::Value)> = stack
        .sim
        .rest_calls()
        .into_iter()
        .filter(|c| c.path.contains(&format!("/guilds/{guild}/bans/{target}")))
        .map(|c| (c.method, c.body))
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].0, "PUT");
    assert_eq!(calls[0].1["delete_message_seconds"], json!(86_400));
    assert_eq!(calls[1].0, "DELETE");
    assert_eq!(
        stack
            .count("SELECT count(*) FROM cases WHERE kind = 'softban'")
            .await,
        1
    );
    stack.stop().await;
}

#[tokio::test]
async fn config_needs_manage_server_and_saves_validated_settings() {
    let stack = Stack::start().await;
    let (guild, channel, owner, plain, _) = stack.cast();
    let config =
        |options: Value| json!({"id": "3", "name": "config", "type": 1, "options": options});
    let (id, _) = stack
        .sim
        .inject_interaction(2, channel, plain, config(json!([])))
        .expect("config");
    let refused = stack.callback(id).await;
    assert!(
        refused["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Manage Server"),
        "{refused}"
    );

    let options = json!([
        {"name": "mod_log_channel", "type": 7, "value": channel.to_string()},
        {"name": "dm_on_action", "type": 5, "value": true},
        {"name": "warn_expiry_days", "type": 4, "value": 30},
    ]);
    let (id, _) = stack
        .sim
        .inject_interaction(2, channel, owner, config(options))
        .expect("config");
    let saved = stack.callback(id).await;
    assert!(
        saved["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Saved."),
        "{saved}"
    );
    let stored = format!(
        "SELECT count(*) FROM guilds WHERE guild_id = {guild} AND settings->>'mod_log_channel' = '{channel}' \
         AND settings->>'dm_on_action' = 'true' AND settings->>'warn_expiry_days' = '30'"
    );
    assert_eq!(stack.count(&stored).await, 1);

    // With an expiry set, a warning schedules its own end.
    let id = stack.warn(channel, owner, plain, "counts for 30 days");
    stack.callback(id).await;
    let timer = "SELECT count(*) FROM scheduled_actions WHERE kind = 'warn_expiry' AND status = 'pending' \
                 AND due_at > now() + interval '29 days' AND due_at < now() + interval '31 days'";
    assert_eq!(stack.count(timer).await, 1);
    stack.stop().await;
}
