//! Tickets through the whole pipeline: set up, panel, open with a form, the channel's exact
//! overwrites, the open limit under concurrent clicks, the blacklist, claim, close (the job that
//! deletes the channel and logs it), auto-close after its warning, ticket events.

mod support;

use std::collections::BTreeSet;
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::{Envelope, TicketEvent};
use aegis_transcripts::{ObjectStore, StoreConfig, Transcript};
use serde_json::{Value, json};
use support::{Options, Stack, content, metric, wait_for};

const VIEW_CHANNEL: u64 = 1 << 10;

/// Runs `/ticket {sub} ...options` by `invoker` in the guild's text channel; returns the answer.
async fn ticket(stack: &Stack, invoker: u64, sub: &str, options: Vec<Value>) -> Value {
    let (_, channel, _, _, _) = stack.cast();
    ticket_in(stack, channel, invoker, sub, options).await
}

/// Runs `/ticket {sub} ...options` by `invoker` in `channel`; returns the answer.
async fn ticket_in(
    stack: &Stack,
    channel: u64,
    invoker: u64,
    sub: &str,
    options: Vec<Value>,
) -> Value {
    let id = stack.run(
        "ticket",
        channel,
        invoker,
        vec![json!({"name": sub, "type": 1, "options": options})],
    );
    stack.callback(id).await
}

/// Sets up a category as the owner; returns its id.
async fn category(stack: &Stack, extra: Vec<Value>) -> i64 {
    let (_, _, owner, _, _) = stack.cast();
    let staff = stack.role("Moderator");
    let mut options = vec![
        json!({"name": "name", "type": 3, "value": "Support"}),
        json!({"name": "staff_role", "type": 8, "value": staff.to_string()}),
        json!({"name": "log_channel", "type": 7, "value": stack.channel("mod-log").to_string()}),
    ];
    options.extend(extra);
    let answer = ticket(stack, owner, "category", options).await;
    assert!(content(&answer).contains("saved"), "{answer}");
    stack.count("SELECT max(id) FROM ticket_categories").await
}

/// Opens a ticket of `category` as `opener` from the panel's button; (ticket id, its channel).
async fn open_ticket(stack: &Stack, opener: u64, category: i64) -> (i64, u64) {
    let answer = stack
        .callback(click(stack, opener, &format!("ticket:open:{category}")))
        .await;
    assert!(
        content(&answer).starts_with("Your ticket is open"),
        "{answer}"
    );
    let ticket_id = stack.count("SELECT max(id) FROM tickets").await;
    (ticket_id, channel_of(stack, ticket_id).await)
}

/// Clicks `custom_id` as `user`; returns the interaction id.
fn click(stack: &Stack, user: u64, custom_id: &str) -> u64 {
    let (_, channel, _, _, _) = stack.cast();
    let data = json!({"custom_id": custom_id, "component_type": 2});
    stack
        .sim
        .inject_interaction(3, channel, user, data)
        .expect("click")
        .0
}

fn moderator(stack: &Stack) -> u64 {
    let world = stack.sim.world();
    let guild = world.guilds.values().next().expect("guild");
    let role = stack.role("Moderator");
    guild
        .members
        .values()
        .find(|m| m.roles.contains(&role))
        .map(|m| m.user_id)
        .expect("a moderator")
}

/// The ticket channel of `ticket_id`, from the database.
async fn channel_of(stack: &Stack, ticket_id: i64) -> u64 {
    let id = stack
        .count(&format!(
            "SELECT coalesce(channel_id, 0) FROM tickets WHERE id = {ticket_id}"
        ))
        .await;
    u64::try_from(id).expect("channel id")
}

/// Every ticket event published so far, by kind.
async fn events(stack: &Stack) -> Vec<TicketEvent> {
    let js = async_nats::jetstream::new(async_nats::connect(&stack.nats.url).await.expect("NATS"));
    let Ok(mut stream) = js
        .get_stream(stack.nats.topology.ticket_events_stream())
        .await
    else {
        return Vec::new();
    };
    let state = stream.info().await.expect("info").state.clone();
    let mut events = Vec::new();
    for seq in state.first_sequence..=state.last_sequence {
        if let Ok(message) = stream.get_raw_message(seq).await {
            events.push(TicketEvent::decode(&message.payload).expect("a TicketEvent"));
        }
    }
    events
}

#[tokio::test]
async fn a_ticket_opens_from_the_panel_with_its_form_into_a_private_channel() {
    let stack = Stack::start().await;
    let (guild, channel, owner, opener, _) = stack.cast();
    let id = category(
        &stack,
        vec![json!({"name": "questions", "type": 3, "value": "What happened? | Which account?"})],
    )
    .await;

    let answer = ticket(&stack, owner, "panel", Vec::new()).await;
    assert_eq!(content(&answer), "Panel posted.");
    let panel = stack.calls("POST", &format!("/channels/{channel}/messages"));
    assert_eq!(
        panel[0].body["components"][0]["components"][0]["custom_id"],
        json!(format!("ticket:open:{id}"))
    );

    // The member clicks and gets the form.
    let modal = stack
        .callback(click(&stack, opener, &format!("ticket:open:{id}")))
        .await;
    assert_eq!(modal["type"], json!(9), "{modal}");
    assert_eq!(
        modal["data"]["custom_id"],
        json!(format!("ticket:form:{id}"))
    );
    assert_eq!(
        modal["data"]["components"].as_array().map(Vec::len),
        Some(2)
    );

    // An answer over the question's limit is refused; a good one opens the ticket.
    let submit = |first: &str| {
        json!({"custom_id": format!("ticket:form:{id}"), "components": [
            {"type": 18, "id": 1, "component": {"type": 4, "id": 2, "custom_id": "q0", "value": first}},
            {"type": 18, "id": 3, "component": {"type": 4, "id": 4, "custom_id": "q1", "value": "main"}}
        ]})
    };
    let (long, _) = stack
        .sim
        .inject_interaction(5, channel, opener, submit(&"x".repeat(1_001)))
        .expect("submit");
    let refused = stack.callback(long).await;
    assert!(content(&refused).contains("the limit is 1000"), "{refused}");
    let (good, _) = stack
        .sim
        .inject_interaction(5, channel, opener, submit("My <b>account</b> was taken"))
        .expect("submit");
    let opened = stack.callback(good).await;
    assert!(
        content(&opened).starts_with("Your ticket is open: <#"),
        "{opened}"
    );
    assert_eq!(opened["data"]["flags"], json!(64));

    let ticket_id = stack.count("SELECT max(id) FROM tickets").await;
    let room = channel_of(&stack, ticket_id).await;
    let world = stack.sim.world();
    let created = &world.guilds[&guild].channels[&room];
    assert_eq!(created.name, "ticket-0001");
    let bot = world.bot.id;
    let staff = stack.role("Moderator");
    let seen: BTreeSet<(u64, u8, bool)> = created
        .overwrites
        .iter()
        .map(|o| (o.id, o.kind, o.allow & VIEW_CHANNEL != 0))
        .collect();
    let expected: BTreeSet<(u64, u8, bool)> = [
        (guild, 0, false),
        (staff, 0, true),
        (opener, 1, true),
        (bot, 1, true),
    ]
    .into();
    assert_eq!(
        seen, expected,
        "exactly @everyone (denied), staff, opener, bot"
    );
    let everyone = created
        .overwrites
        .iter()
        .find(|o| o.id == guild)
        .expect("@everyone");
    assert_eq!(everyone.deny & VIEW_CHANNEL, VIEW_CHANNEL);

    let welcome = stack.calls("POST", &format!("/channels/{room}/messages"));
    assert_eq!(welcome.len(), 1);
    let embed = &welcome[0].body["embeds"][0];
    assert_eq!(
        embed["fields"][0]["value"],
        json!("My <b>account</b> was taken")
    );
    assert_eq!(
        welcome[0].body["components"][0]["components"][1]["custom_id"],
        json!(format!("ticket:claim:{ticket_id}"))
    );
    wait_for("the opened event", || async {
        events(&stack)
            .await
            .iter()
            .any(|e| e.kind == "opened" && e.ticket_id == ticket_id)
    })
    .await;
    stack.stop().await;
}

#[tokio::test]
async fn the_open_limit_holds_under_concurrent_clicks_and_the_blacklist_refuses() {
    let stack = Stack::start().await;
    let (guild, _, owner, opener, barred) = stack.cast();
    let id = category(&stack, Vec::new()).await;
    let clicks: Vec<u64> = (0..6)
        .map(|_| click(&stack, opener, &format!("ticket:open:{id}")))
        .collect();
    let mut opened = 0;
    for click in clicks {
        let answer = stack.callback(click).await;
        let text = content(&answer);
        if text.starts_with("Your ticket is open") {
            opened += 1;
        } else {
            assert!(text.contains("already have 1 open ticket"), "{answer}");
        }
    }
    assert_eq!(opened, 1);
    assert_eq!(stack.count("SELECT count(*) FROM tickets").await, 1);
    let ticket_channels = stack.sim.world().guilds[&guild]
        .channels
        .values()
        .filter(|c| c.name.starts_with("ticket-"))
        .count();
    assert_eq!(ticket_channels, 1, "one channel");

    let answer = ticket(
        &stack,
        owner,
        "blacklist",
        vec![json!({"name": "user", "type": 6, "value": barred.to_string()})],
    )
    .await;
    assert!(
        content(&answer).contains("can no longer open tickets"),
        "{answer}"
    );
    let refused = stack
        .callback(click(&stack, barred, &format!("ticket:open:{id}")))
        .await;
    assert!(
        content(&refused).contains("cannot open tickets"),
        "{refused}"
    );
    assert_eq!(refused["data"]["flags"], json!(64));
    stack.stop().await;
}

#[tokio::test]
async fn claim_then_close_deletes_the_channel_logs_it_and_keeps_staff_times() {
    let stack = Stack::start().await;
    let (guild, _, owner, opener, stranger) = stack.cast();
    let staff = moderator(&stack);
    let id = category(&stack, Vec::new()).await;
    let (ticket_id, room) = open_ticket(&stack, opener, id).await;

    // Staff writes (a MESSAGE_CREATE from Discord): the first response time is kept.
    stack.sim.dispatch(
        "MESSAGE_CREATE",
        Some(guild),
        &json!({
            "id": "1", "channel_id": room.to_string(), "guild_id": guild.to_string(),
            "author": {"id": staff.to_string(), "username": "mod", "discriminator": "0", "avatar": null},
            "member": {"roles": [stack.role("Moderator").to_string()]},
            "content": "How can I help?", "timestamp": "2026-01-01T00:00:00.000000+00:00",
            "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0
        }),
    );
    stack
        .wait_count(
            "the staff response time",
            "SELECT count(*) FROM tickets WHERE first_staff_response_at IS NOT NULL",
            1,
        )
        .await;

    let mut said: Vec<u64> = ["hello", "<script>alert(1)</script>"]
        .iter()
        .map(|text| {
            stack
                .sim
                .seed_message(room, opener, text, Duration::ZERO)
                .expect("seeded")
        })
        .collect();
    let screenshot = discord_sim::SeedAttachment {
        filename: "proof.png".into(),
        content_type: Some("image/png".into()),
        data: vec![7_u8; 4_096].into(),
    };
    said.push(
        stack
            .sim
            .seed_message_with_attachment(room, opener, "see attached", Duration::ZERO, screenshot)
            .expect("seeded"),
    );
    let claimed = stack
        .callback(click(&stack, staff, &format!("ticket:claim:{ticket_id}")))
        .await;
    assert!(
        content(&claimed).contains("claimed this ticket"),
        "{claimed}"
    );
    let again = stack
        .callback(click(&stack, owner, &format!("ticket:claim:{ticket_id}")))
        .await;
    assert!(content(&again).contains("already claimed"), "{again}");
    let denied = stack
        .callback(click(
            &stack,
            stranger,
            &format!("ticket:close:{ticket_id}"),
        ))
        .await;
    assert!(
        content(&denied).contains("Only this ticket's staff"),
        "{denied}"
    );

    // The opener closes: asked to confirm, then closed.
    let ask = stack
        .callback(click(&stack, opener, &format!("ticket:close:{ticket_id}")))
        .await;
    assert_eq!(
        ask["data"]["components"][0]["components"][0]["custom_id"],
        json!(format!("ticket:confirm:{ticket_id}"))
    );
    let closed = stack
        .callback(click(
            &stack,
            opener,
            &format!("ticket:confirm:{ticket_id}"),
        ))
        .await;
    assert!(content(&closed).contains("closed by"), "{closed}");
    stack
        .wait_count(
            "the close job",
            "SELECT count(*) FROM tickets WHERE status = 'closed'",
            1,
        )
        .await;
    assert!(
        !stack.sim.world().guilds[&guild]
            .channels
            .contains_key(&room),
        "the channel is deleted"
    );
    let log = stack.calls(
        "POST",
        &format!("/channels/{}/messages", stack.channel("mod-log")),
    );
    assert!(
        log.iter()
            .any(|c| c.body["content"].as_str().is_some_and(|t| t
                .starts_with("Ticket #1 (opened by")
                && t.contains(&format!(
                    "Transcript: https://aegis.test/t/transcripts/{guild}/1/transcript.html.gz"
                )))),
        "{log:?}"
    );
    let transcript = transcript_of(&stack, ticket_id).await;
    let ids: Vec<u64> = transcript
        .messages
        .iter()
        .filter_map(|m| m.id.parse().ok())
        .filter(|id| said.contains(id))
        .collect();
    assert_eq!(ids, said, "every message, in order");
    let attached = transcript
        .messages
        .iter()
        .flat_map(|m| &m.attachments)
        .find(|a| a.filename == "proof.png")
        .expect("the attachment");
    let key = attached.stored_key.clone().expect("copied into the store");
    let copy = store(&stack, None).await.get(&key).await.expect("the copy");
    assert_eq!(
        copy.len(),
        4_096,
        "Discord's CDN link expires; the copy does not"
    );
    assert!(transcript.entities.users.contains_key(&opener.to_string()));
    let html = read_gzip(&stack, &format!("transcripts/{guild}/1/transcript.html.gz")).await;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped"
    );
    wait_for("claimed and closed events", || async {
        let kinds: BTreeSet<String> = events(&stack).await.into_iter().map(|e| e.kind).collect();
        kinds.contains("claimed") && kinds.contains("closed")
    })
    .await;
    stack.stop().await;
}

#[tokio::test]
async fn a_silent_ticket_is_warned_then_closed_by_the_scheduler() {
    let stack = Stack::start().await;
    let (guild, _, _, opener, _) = stack.cast();
    let id = category(
        &stack,
        vec![json!({"name": "auto_close", "type": 3, "value": "2s"})],
    )
    .await;
    let (_, room) = open_ticket(&stack, opener, id).await;
    wait_for("the warning", || async {
        stack
            .calls("POST", &format!("/channels/{room}/messages"))
            .iter()
            .any(|c| {
                c.body["content"]
                    .as_str()
                    .is_some_and(|t| t.contains("quiet"))
            })
    })
    .await;
    stack.wait_count("the automatic close", "SELECT count(*) FROM tickets WHERE status = 'closed' AND close_reason LIKE 'No activity%'", 1).await;
    assert!(
        !stack.sim.world().guilds[&guild]
            .channels
            .contains_key(&room)
    );
    assert!(
        events(&stack)
            .await
            .iter()
            .any(|e| e.kind == "close_warning"),
        "the warning is an event too"
    );
    stack.stop().await;
}

/// Clicks `custom_id` as `user` in `channel`; returns the answer.
async fn click_in(stack: &Stack, channel: u64, user: u64, custom_id: &str) -> Value {
    let data = json!({"custom_id": custom_id, "component_type": 2});
    let (id, _) = stack
        .sim
        .inject_interaction(3, channel, user, data)
        .expect("click");
    stack.callback(id).await
}

#[tokio::test]
async fn a_close_request_is_confirmed_by_the_opener_and_the_ticket_reopens_within_its_window() {
    let stack = Stack::start().await;
    let (guild, _, _, opener, _) = stack.cast();
    let staff = moderator(&stack);
    let id = category(
        &stack,
        vec![json!({"name": "reopen_window", "type": 3, "value": "1h"})],
    )
    .await;
    let (ticket_id, room) = open_ticket(&stack, opener, id).await;

    let reason = json!({"name": "reason", "type": 3, "value": "answered in the FAQ"});
    let asked = ticket_in(&stack, room, staff, "closerequest", vec![reason]).await;
    assert!(content(&asked).contains("would like to close"), "{asked}");
    let accepted = click_in(&stack, room, opener, &format!("ticket:accept:{ticket_id}")).await;
    assert!(
        content(&accepted).contains("answered in the FAQ"),
        "{accepted}"
    );
    stack
        .wait_count(
            "the close",
            "SELECT count(*) FROM tickets WHERE status = 'closed'",
            1,
        )
        .await;
    let opener_overwrite = || {
        stack.sim.world().guilds[&guild].channels[&room]
            .overwrites
            .iter()
            .find(|o| o.id == opener)
            .cloned()
            .expect("the opener's overwrite")
    };
    let send_messages = 1 << 11;
    assert_eq!(
        opener_overwrite().deny & send_messages,
        send_messages,
        "read-only"
    );
    assert_eq!(
        stack
            .count("SELECT count(*) FROM scheduled_actions WHERE kind = 'ticket_delete' AND status = 'pending'")
            .await,
        1
    );

    let reopened = click_in(&stack, room, opener, &format!("ticket:reopen:{ticket_id}")).await;
    assert!(content(&reopened).contains("reopened"), "{reopened}");
    assert_eq!(
        stack
            .count("SELECT count(*) FROM tickets WHERE status = 'open'")
            .await,
        1
    );
    assert_eq!(
        opener_overwrite().deny & send_messages,
        0,
        "may write again"
    );
    assert_eq!(
        stack
            .count("SELECT count(*) FROM scheduled_actions WHERE kind = 'ticket_delete' AND status = 'cancelled'")
            .await,
        1
    );

    // Closed again, and this time the window runs out: the channel goes.
    ticket_in(&stack, room, staff, "close", Vec::new()).await;
    stack.wait_count("the second close", "SELECT count(*) FROM scheduled_actions WHERE kind = 'ticket_delete' AND status = 'pending'", 1).await;
    stack
        .execute("UPDATE scheduled_actions SET due_at = now() WHERE kind = 'ticket_delete'")
        .await;
    stack
        .wait_count(
            "the channel deleted",
            "SELECT count(*) FROM tickets WHERE channel_id IS NULL",
            1,
        )
        .await;
    assert!(
        !stack.sim.world().guilds[&guild]
            .channels
            .contains_key(&room)
    );
    stack.stop().await;
}

/// The stack's transcript store.
async fn store(stack: &Stack, config: Option<StoreConfig>) -> ObjectStore {
    let config = config.unwrap_or_else(|| {
        let root = std::env::temp_dir().join("aegis-test-transcripts");
        let ns = stack.nats.topology.namespace.to_string();
        StoreConfig::Directory(root.join(ns))
    });
    ObjectStore::open(&config).await.expect("the store")
}

async fn read_gzip(stack: &Stack, key: &str) -> String {
    let bytes = store(stack, None).await.get(key).await.expect("stored");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("gzip");
    text
}

/// The JSON transcript of a closed ticket, from the key its row names.
async fn transcript_of(stack: &Stack, ticket_id: i64) -> Transcript {
    let (client, connection) = tokio_postgres::connect(&stack.db.url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL");
    tokio::spawn(connection);
    let key: String = client
        .query_one(
            "SELECT transcript_json_key FROM tickets WHERE id = $1",
            &[&ticket_id],
        )
        .await
        .expect("ticket")
        .get(0);
    serde_json::from_str(&read_gzip(stack, &key).await).expect("a transcript")
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

#[tokio::test]
async fn a_worker_killed_while_writing_a_transcript_leaves_exactly_one() {
    let mut stack = Stack::with(Options {
        ack_wait: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let (guild, _, _, opener, _) = stack.cast();
    let id = category(&stack, Vec::new()).await;
    let (ticket_id, room) = open_ticket(&stack, opener, id).await;
    for i in 0..1_500 {
        stack
            .sim
            .seed_message(room, opener, &format!("message {i}"), Duration::ZERO)
            .expect("seeded");
    }
    let history = format!("/channels/{room}/messages?");
    ticket_in(&stack, room, opener, "close", Vec::new()).await;
    // The build has started reading the history: Discord slows down, and the worker dies.
    wait_for("the transcript build", || async {
        !stack.calls("GET", &history).is_empty()
    })
    .await;
    stack
        .sim
        .limit_resource(&format!("channels/{room}"), Duration::from_millis(1_500));
    let worker = stack.workers.remove(0);
    worker.abort().await;
    let prefix = format!("transcripts/{guild}/1/");
    assert!(
        store(&stack, None)
            .await
            .list(&prefix)
            .await
            .expect("list")
            .is_empty(),
        "nothing stored when the worker died"
    );
    let replacement = Stack::worker(
        &stack.sim,
        &stack.rest,
        &stack.db,
        &stack.nats,
        &stack.redis_prefix,
        &Options {
            transcripts: Some(StoreConfig::Directory(
                std::env::temp_dir()
                    .join("aegis-test-transcripts")
                    .join(stack.nats.topology.namespace.to_string()),
            )),
            ..Options::default()
        },
    )
    .await;
    stack.workers.push(replacement);
    stack
        .wait_count(
            "the redelivered close",
            "SELECT count(*) FROM tickets WHERE status = 'closed'",
            1,
        )
        .await;
    let mut objects = store(&stack, None).await.list(&prefix).await.expect("list");
    objects.sort();
    assert_eq!(
        objects,
        vec![
            format!("{prefix}transcript.html.gz"),
            format!("{prefix}transcript.json.gz")
        ],
        "one transcript"
    );
    let transcript = transcript_of(&stack, ticket_id).await;
    let numbered: Vec<String> = transcript
        .messages
        .iter()
        .filter(|m| m.content.starts_with("message "))
        .map(|m| m.content.clone())
        .collect();
    assert_eq!(numbered.len(), 1_500);
    assert_eq!(numbered[0], "message 0");
    assert_eq!(numbered[1_499], "message 1499");
    stack.stop().await;
}

#[tokio::test]
async fn a_missing_bucket_fails_the_close_visibly_until_it_exists() {
    let bucket = unique("aegis-missing");
    let s3 = StoreConfig::S3 {
        endpoint: Some("http://127.0.0.1:5000".into()),
        bucket: bucket.clone(),
        region: "us-east-1".into(),
        access_key: "testing".into(),
        secret_key: "testing".into(),
    };
    let stack = Stack::with(Options {
        transcripts: Some(s3.clone()),
        ..Options::default()
    })
    .await;
    let (_, _, _, opener, _) = stack.cast();
    let id = category(&stack, Vec::new()).await;
    let (_, room) = open_ticket(&stack, opener, id).await;
    ticket_in(&stack, room, opener, "close", Vec::new()).await;
    let ops = stack.workers[0].ops_addr();
    wait_for("the failed close counted as retried", || async {
        metric(
            ops,
            "aegis_worker_messages_total",
            &["source=\"jobs\"", "outcome=\"retried\""],
        )
        .await
            >= 1.0
    })
    .await;
    assert_eq!(
        stack
            .count("SELECT count(*) FROM tickets WHERE status = 'closing'")
            .await,
        1,
        "not closed without its transcript"
    );
    // An operator creates the bucket (moto accepts an unsigned CreateBucket); the retry succeeds.
    let created = support::http_request(
        "127.0.0.1:5000".parse().expect("address"),
        "PUT",
        &format!("/{bucket}"),
    )
    .await;
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    stack.wait_count("the close after the bucket exists", "SELECT count(*) FROM tickets WHERE status = 'closed' AND transcript_json_key IS NOT NULL", 1).await;
    let (guild, ..) = stack.cast();
    let key = format!("transcripts/{guild}/1/transcript.json.gz");
    assert!(
        store(&stack, Some(s3)).await.get(&key).await.is_ok(),
        "the transcript is in the bucket"
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_thread_category_opens_private_threads_with_the_opener_in_them() {
    let stack = Stack::start().await;
    let (guild, channel, _, opener, other) = stack.cast();
    let staff = moderator(&stack);
    let id = category(
        &stack,
        vec![json!({"name": "private_thread", "type": 5, "value": true})],
    )
    .await;
    let opened = stack
        .callback(click(&stack, opener, &format!("ticket:open:{id}")))
        .await;
    assert!(
        content(&opened).starts_with("Your ticket is open"),
        "{opened}"
    );
    let ticket_id = stack.count("SELECT max(id) FROM tickets").await;
    let thread = channel_of(&stack, ticket_id).await;
    let created = stack.calls("POST", &format!("/channels/{channel}/threads"));
    assert_eq!(created[0].body["type"], json!(12), "a private thread");
    assert_eq!(created[0].body["invitable"], json!(false));
    let members = |t: u64| {
        stack.sim.world().guilds[&guild]
            .threads
            .get(&t)
            .map(|c| c.thread_members.clone())
            .unwrap_or_default()
    };
    assert!(members(thread).contains(&opener), "{:?}", members(thread));

    let user = json!({"name": "user", "type": 6, "value": other.to_string()});
    let added = ticket_in(&stack, thread, staff, "add", vec![user]).await;
    assert!(content(&added).contains("was added"), "{added}");
    assert!(members(thread).contains(&other));

    ticket_in(&stack, thread, opener, "close", Vec::new()).await;
    stack
        .wait_count(
            "the thread deleted",
            "SELECT count(*) FROM tickets WHERE status = 'closed' AND channel_id IS NULL",
            1,
        )
        .await;
    assert!(
        !stack.sim.world().guilds[&guild]
            .threads
            .contains_key(&thread)
    );
    stack.stop().await;
}
