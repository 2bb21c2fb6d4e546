//! What follows an action: the DM to the target (before a ban removes them) and the mod-log embed
//! (a job, so it survives a worker dying after the case commits).

mod support;

use serde_json::json;
use support::{Stack, content, wait_for};

#[tokio::test]
async fn a_ban_dms_the_target_first_and_posts_its_case_to_the_mod_log() {
    let stack = Stack::start().await;
    let (guild, channel, owner, target, _) = stack.cast();
    let mod_log = stack.channel("mod-log");
    stack
        .configure(vec![
            json!({"name": "mod_log_channel", "type": 7, "value": mod_log.to_string()}),
            json!({"name": "dm_on_action", "type": 5, "value": true}),
        ])
        .await;
    let reason = json!({"name": "reason", "type": 3, "value": "scam links"});
    let id = stack.command("ban", channel, owner, target, vec![reason]);
    let answer = stack.callback(id).await;
    assert!(content(&answer).starts_with("**Case #1**"), "{answer}");
    assert!(!content(&answer).contains("could not DM"), "{answer}");

    let calls = stack.sim.rest_calls();
    let position = |method: &str, path: &str| {
        calls
            .iter()
            .position(|c| c.method == method && c.path.contains(path))
            .unwrap_or_else(|| panic!("no {method} {path} in {calls:#?}"))
    };
    let opened = position("POST", "/users/@me/channels");
    assert_eq!(
        calls[opened].body["recipient_id"],
        json!(target.to_string())
    );
    let dm = calls
        .iter()
        .find(|c| {
            c.method == "POST"
                && c.path.ends_with("/messages")
                && c.body["content"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("You were banned from"))
        })
        .expect("the DM");
    assert!(
        dm.body["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Reason: scam links")
    );
    let dm_at = calls
        .iter()
        .position(|c| std::ptr::eq(c, dm))
        .expect("its place");
    let banned = position("PUT", &format!("/guilds/{guild}/bans/{target}"));
    assert!(opened < dm_at && dm_at < banned, "the DM goes first");

    wait_for("the mod-log post", || async {
        !stack
            .calls("POST", &format!("/channels/{mod_log}/messages"))
            .is_empty()
    })
    .await;
    let posts = stack.calls("POST", &format!("/channels/{mod_log}/messages"));
    assert_eq!(posts.len(), 1);
    let embed = &posts[0].body["embeds"][0];
    assert_eq!(embed["title"], json!("Case #1 · ban"), "{embed}");
    assert_eq!(
        embed["fields"][0]["value"],
        json!(format!("<@{target}> ({target})"))
    );
    assert_eq!(embed["fields"][2]["value"], json!("scam links"));
    assert_eq!(
        stack
            .count(
                "SELECT count(*) FROM scheduled_actions WHERE kind = 'mod_log' AND status = 'done'"
            )
            .await,
        1
    );
    stack.stop().await;
}

#[tokio::test]
async fn without_a_mod_log_channel_or_dms_nothing_extra_is_sent() {
    let stack = Stack::start().await;
    let (_, channel, owner, target, _) = stack.cast();
    let id = stack.warn(channel, owner, target, "first warning");
    stack.callback(id).await;
    assert!(stack.calls("POST", "/users/@me/channels").is_empty());
    assert_eq!(
        stack
            .count("SELECT count(*) FROM scheduled_actions WHERE kind = 'mod_log'")
            .await,
        0
    );
    stack.stop().await;
}
