//! Cases against a real PostgreSQL: numbering under concurrency, idempotency, history, search.

use std::collections::BTreeSet;

use aegis_storage::testing::TestDatabase;
use aegis_storage::{CaseKind, CaseSource, Cases, NewCase, claim_interaction};

fn warn(guild_id: u64, key: &str, reason: &str) -> NewCase {
    NewCase {
        guild_id,
        kind: CaseKind::Warn,
        target_id: 42,
        moderator_id: 7,
        reason: Some(reason.to_owned()),
        source: CaseSource::Command,
        expires_at: None,
        dedupe_key: key.to_owned(),
    }
}

#[tokio::test]
async fn migrations_are_safe_when_many_processes_start_at_once() {
    let db = TestDatabase::create().await.expect("test database");
    let starts = (0..8).map(|_| {
        let url = db.url.clone();
        tokio::spawn(async move { aegis_storage::Database::connect(&url, 2).await.map(|_| ()) })
    });
    for start in starts.collect::<Vec<_>>() {
        start
            .await
            .expect("task")
            .expect("every process migrates or finds it done");
    }
    let database = db.connect(1).await.expect("connect");
    let conn = database.pool().get().await.expect("connection");
    let applied: i64 = conn
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .expect("history")
        .get(0);
    assert_eq!(applied, 3, "V1 to V3 applied exactly once");
    drop(conn);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn two_hundred_concurrent_cases_from_two_pools_are_numbered_1_to_200() {
    let db = TestDatabase::create().await.expect("test database");
    let (a, b) = (
        db.connect(8).await.expect("pool a"),
        db.connect(8).await.expect("pool b"),
    );
    let (a, b) = (Cases::new(a.pool().clone()), Cases::new(b.pool().clone()));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let cases = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            cases.create(&warn(1, &format!("i{i}"), "spam")).await
        }));
        // Another guild at the same time keeps its own numbering.
        if i < 20 {
            let cases = a.clone();
            tasks.push(tokio::spawn(async move {
                cases.create(&warn(2, &format!("o{i}"), "x")).await
            }));
        }
    }
    let mut numbers: BTreeSet<(u64, i32)> = BTreeSet::new();
    for task in tasks {
        let (case, new) = task.await.expect("task").expect("case recorded");
        assert!(new);
        assert!(
            numbers.insert((case.guild_id, case.number)),
            "number {} repeated",
            case.number
        );
    }
    let guild_1: Vec<i32> = numbers
        .iter()
        .filter(|(g, _)| *g == 1)
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(guild_1, (1..=200).collect::<Vec<_>>());
    let guild_2: Vec<i32> = numbers
        .iter()
        .filter(|(g, _)| *g == 2)
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(guild_2, (1..=20).collect::<Vec<_>>());
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn the_same_action_recorded_concurrently_is_one_case_and_leaves_no_gap() {
    let db = TestDatabase::create().await.expect("test database");
    let cases = Cases::new(db.connect(8).await.expect("pool").pool().clone());
    let attempts = (0..10).map(|_| {
        let cases = cases.clone();
        tokio::spawn(async move { cases.create(&warn(1, "interaction:99", "same")).await })
    });
    let mut created = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        let (case, new) = attempt.await.expect("task").expect("recorded or found");
        assert_eq!(case.number, 1);
        created += usize::from(new);
    }
    assert_eq!(created, 1);
    let (next, _) = cases
        .create(&warn(1, "interaction:100", "next"))
        .await
        .expect("next case");
    assert_eq!(next.number, 2, "the duplicates gave their numbers back");
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn history_search_notes_and_edits() {
    let db = TestDatabase::create().await.expect("test database");
    let cases = Cases::new(db.connect(2).await.expect("pool").pool().clone());
    for (i, reason) in [
        "posting scam links",
        "spam in general",
        "scam links again",
        "rude",
    ]
    .iter()
    .enumerate()
    {
        cases
            .create(&warn(1, &format!("k{i}"), reason))
            .await
            .expect("case");
    }
    let page: Vec<i32> = cases
        .for_target(1, 42, 2, 0)
        .await
        .expect("page")
        .iter()
        .map(|c| c.number)
        .collect();
    assert_eq!(page, vec![4, 3]);
    let found: Vec<i32> = cases
        .search(1, "scam links", 10)
        .await
        .expect("search")
        .iter()
        .map(|c| c.number)
        .collect();
    assert_eq!(found, vec![3, 1]);

    assert!(cases.set_hidden(1, 4, true).await.expect("hide"));
    let visible: Vec<i32> = cases
        .for_target(1, 42, 10, 0)
        .await
        .expect("list")
        .iter()
        .map(|c| c.number)
        .collect();
    assert_eq!(visible, vec![3, 2, 1]);

    assert!(
        cases
            .set_reason(1, 2, "spam in #general")
            .await
            .expect("reason")
    );
    assert_eq!(
        cases
            .get(1, 2)
            .await
            .expect("get")
            .and_then(|c| c.reason)
            .as_deref(),
        Some("spam in #general")
    );
    assert!(
        cases
            .add_note(1, 2, 9, "talked to them")
            .await
            .expect("note")
    );
    assert_eq!(
        cases.notes(1, 2).await.expect("notes")[0].body,
        "talked to them"
    );
    assert!(
        !cases
            .add_note(1, 99, 9, "no such case")
            .await
            .expect("note on nothing")
    );

    assert!(cases.delete(1, 1).await.expect("delete"));
    assert_eq!(cases.get(1, 1).await.expect("get"), None);
    let (after, _) = cases
        .create(&warn(1, "k9", "after delete"))
        .await
        .expect("case");
    assert_eq!(after.number, 5, "deleted numbers are not reused");
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn an_interaction_is_claimed_once() {
    let db = TestDatabase::create().await.expect("test database");
    let database = db.connect(2).await.expect("pool");
    let conn = database.pool().get().await.expect("connection");
    assert!(claim_interaction(&*conn, 1_234).await.expect("first"));
    assert!(!claim_interaction(&*conn, 1_234).await.expect("again"));
    drop(conn);
    db.drop_database().await.expect("drop");
}
