//! Commands under load and at the edges of time: per-user budgets, answers deferred before
//! Discord's 3 seconds, and two workers numbering 200 concurrent cases without a gap.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use aegis_workers::UserLimit;
use serde_json::json;
use support::{Options, Stack, content, metric, wait_for};

#[tokio::test]
async fn a_user_over_their_command_budget_is_told_to_wait_and_every_use_is_counted() {
    let stack = Stack::with(Options {
        user_limit: Some(UserLimit {
            count: 2,
            window: Duration::from_secs(60),
        }),
        ..Options::default()
    })
    .await;
    let (_, channel, owner, target, _) = stack.cast();
    let mut answers = Vec::new();
    for i in 0..3 {
        let id = stack.warn(channel, owner, target, &format!("warning {i}"));
        answers.push(stack.callback(id).await);
    }
    assert!(content(&answers[1]).starts_with("**Case #2**"));
    assert!(
        content(&answers[2]).contains("too quickly"),
        "{}",
        answers[2]
    );
    assert_eq!(answers[2]["data"]["flags"], json!(64));
    assert_eq!(stack.count("SELECT count(*) FROM cases").await, 2);
    assert_eq!(
        stack
            .count("SELECT count(*) FROM command_usage WHERE command = 'warn' AND interaction_id IS NOT NULL")
            .await,
        3,
        "refused uses count too"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_late_answer_edits_the_deferral_and_a_late_refusal_replaces_it_privately() {
    // Deferring at once makes every answer late.
    let stack = Stack::with(Options {
        defer_after: Duration::ZERO,
        ..Options::default()
    })
    .await;
    let (_, channel, owner, target, plain) = stack.cast();
    let id = stack.warn(channel, owner, target, "late");
    let deferral = stack.callback(id).await;
    assert_eq!(deferral["type"], json!(5), "{deferral}");
    wait_for("the edited answer", || async {
        stack
            .sim
            .interaction(id)
            .and_then(|l| l.original)
            .is_some_and(|m| {
                m["content"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("**Case #1**")
            })
    })
    .await;

    let id = stack.warn(channel, plain, target, "not allowed");
    let deferral = stack.callback(id).await;
    assert_eq!(deferral["type"], json!(5), "{deferral}");
    wait_for("the private refusal", || async {
        stack.sim.interaction(id).is_some_and(|l| {
            l.followups.iter().any(|m| {
                m["flags"].as_u64().unwrap_or(0) & 64 == 64
                    && m["content"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("Timeout Members")
            })
        })
    })
    .await;
    let log = stack.sim.interaction(id).expect("log");
    assert!(
        log.original.is_none(),
        "the public deferral is deleted: {log:?}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn two_workers_number_two_hundred_concurrent_warns_one_to_two_hundred() {
    let stack = Stack::with(Options {
        workers: 2,
        ..Options::default()
    })
    .await;
    let (_, channel, owner, target, other) = stack.cast();
    let ids: Vec<u64> = (0..200)
        .map(|i| {
            let who = if i % 2 == 0 { target } else { other };
            stack.warn(channel, owner, who, &format!("wave {i}"))
        })
        .collect();
    for id in &ids {
        stack.callback(*id).await;
    }
    // A callback may be a deferral (on a loaded machine) that the answer edits after the commit.
    wait_for("every case committed", || async {
        stack.count("SELECT count(*) FROM cases").await == 200
    })
    .await;
    let (client, connection) = tokio_postgres::connect(&stack.db.url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL");
    tokio::spawn(connection);
    let numbers: Vec<i32> = client
        .query("SELECT case_number FROM cases ORDER BY case_number", &[])
        .await
        .expect("cases")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        numbers,
        (1..=200).collect::<Vec<i32>>(),
        "no gap, no repeat"
    );
    let answer = |id: u64| {
        let log = stack.sim.interaction(id)?;
        let callback = log.callback?;
        if callback["type"] == json!(5) {
            return Some(log.original?["content"].as_str()?.to_owned());
        }
        Some(content(&callback))
    };
    wait_for("every answer", || async {
        ids.iter()
            .all(|id| answer(*id).is_some_and(|t| t.starts_with("**Case #")))
    })
    .await;
    let answered: BTreeSet<String> = ids
        .iter()
        .filter_map(|id| answer(*id))
        .filter_map(|text| {
            Some(
                text.strip_prefix("**Case #")?
                    .split("**")
                    .next()?
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(answered.len(), 200, "each answer names its own case");
    for worker in &stack.workers {
        let handled = metric(
            worker.ops_addr(),
            "aegis_worker_messages_total",
            &["source=\"interactions\"", "outcome=\"ok\""],
        )
        .await;
        assert!(handled > 0.0, "both workers took interactions");
    }
    stack.stop().await;
}
