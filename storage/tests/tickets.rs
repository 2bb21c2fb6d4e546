//! Tickets against a real PostgreSQL: the open limit under concurrent clicks, numbering, claim,
//! close and staff metrics.

use aegis_storage::testing::TestDatabase;
use aegis_storage::{
    Categories, Claimed, NewCategory, NewTicket, Opened, Question, TicketStatus, Tickets,
};

fn category(guild_id: u64, limit: i32) -> NewCategory {
    NewCategory {
        guild_id,
        name: "Support".into(),
        staff_roles: vec![55],
        parent_channel_id: None,
        name_pattern: "ticket-{number}".into(),
        questions: vec![Question {
            label: "What happened?".into(),
            required: true,
            max_length: 1_000,
        }],
        open_limit: limit,
        log_channel_id: None,
        auto_close_secs: None,
        reopen_secs: 0,
        private_threads: false,
    }
}

#[tokio::test]
async fn the_open_limit_holds_under_concurrent_clicks_and_numbers_do_not_repeat() {
    let db = TestDatabase::create().await.expect("test database");
    let database = db.connect(8).await.expect("pool");
    let pool = database.pool().clone();
    let support = Categories::new(pool.clone())
        .upsert(&category(1, 2))
        .await
        .expect("category");
    let clicks = (0..20).map(|i| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut conn = pool.get().await.expect("connection");
            let tx = conn.transaction().await.expect("transaction");
            let new = NewTicket {
                guild_id: 1,
                category_id: support.id,
                opener_id: 42,
                answers: serde_json::json!([]),
                dedupe_key: format!("interaction:{i}"),
            };
            let opened = Tickets::open_in(&tx, &new, support.open_limit)
                .await
                .expect("open");
            tx.commit().await.expect("commit");
            opened
        })
    });
    let mut numbers = Vec::new();
    for click in clicks.collect::<Vec<_>>() {
        match click.await.expect("task") {
            Opened::New(ticket) => numbers.push(ticket.number),
            Opened::AtLimit(live) => assert_eq!(live, 2),
        }
    }
    numbers.sort_unstable();
    assert_eq!(numbers, vec![1, 2], "two tickets, numbered 1 and 2");
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn claim_once_close_once_and_staff_response_time_is_kept() {
    let db = TestDatabase::create().await.expect("test database");
    let database = db.connect(2).await.expect("pool");
    let pool = database.pool().clone();
    let support = Categories::new(pool.clone())
        .upsert(&category(1, 1))
        .await
        .expect("category");
    let tickets = Tickets::new(pool.clone());
    let mut conn = pool.get().await.expect("connection");
    let tx = conn.transaction().await.expect("transaction");
    let new = NewTicket {
        guild_id: 1,
        category_id: support.id,
        opener_id: 42,
        answers: serde_json::json!([{"question": "What happened?", "answer": "spam"}]),
        dedupe_key: "interaction:1".into(),
    };
    let Opened::New(ticket) = Tickets::open_in(&tx, &new, 1).await.expect("open") else {
        panic!("opened");
    };
    Tickets::set_channel_in(&tx, ticket.id, 900)
        .await
        .expect("channel");
    tx.commit().await.expect("commit");

    // The opener talking is activity, not a staff response; staff's first message is.
    let seen = tickets
        .record_message(900, 42, false)
        .await
        .expect("activity");
    assert!(seen.is_some_and(|t| t.first_staff_response_at.is_none()));
    let seen = tickets
        .record_message(900, 7, true)
        .await
        .expect("activity");
    let first = seen
        .and_then(|t| t.first_staff_response_at)
        .expect("first response");
    let again = tickets
        .record_message(900, 8, true)
        .await
        .expect("activity");
    assert_eq!(again.and_then(|t| t.first_staff_response_at), Some(first));

    assert_eq!(
        tickets.claim(ticket.id, 7).await.expect("claim"),
        Claimed::Now
    );
    assert_eq!(
        tickets.claim(ticket.id, 8).await.expect("claim"),
        Claimed::Already(7)
    );
    assert!(
        Tickets::begin_close_in(&*conn, ticket.id, 7, Some("solved"))
            .await
            .expect("close")
    );
    assert!(
        !Tickets::begin_close_in(&*conn, ticket.id, 8, None)
            .await
            .expect("close")
    );
    assert_eq!(
        tickets.claim(ticket.id, 8).await.expect("claim"),
        Claimed::NotOpen
    );
    tickets
        .set_transcript(ticket.id, "a.json.gz", "a.html.gz")
        .await
        .expect("keys");
    assert!(
        Tickets::finish_close_in(&*conn, ticket.id, false)
            .await
            .expect("finish")
    );
    let closed = tickets
        .by_channel(900)
        .await
        .expect("read")
        .expect("ticket");
    assert_eq!(closed.status, TicketStatus::Closed);
    assert_eq!(closed.close_reason.as_deref(), Some("solved"));
    assert_eq!(closed.transcript_json_key.as_deref(), Some("a.json.gz"));
    assert!(
        tickets
            .record_message(900, 42, false)
            .await
            .expect("activity")
            .is_none()
    );
    drop(conn);
    db.drop_database().await.expect("drop");
}
