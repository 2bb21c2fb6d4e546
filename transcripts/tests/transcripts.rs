//! Transcripts against the simulator and a real S3 server (moto, started by scripts/services)
//! or a local directory.

mod support;

use aegis_transcripts::{
    Limits, ObjectStore, Skipped, StoreConfig, StoreError, Stored, Transcript, build_and_store,
};
use bytes::Bytes;
use support::{
    Ticket, content, gunzip, new_bucket, new_dir, pseudo_random, s3_config, seed_history,
};

/// Checks a stored transcript against the seeded history: every message in order, the entity
/// map, the attachments (the small one copied and readable back, the large one skipped), and
/// the HTML (every message in order, escaped, mentions resolved).
async fn check_transcript(
    store: &ObjectStore,
    stored: &Stored,
    ticket: &Ticket,
    ids: &[u64],
    small: &Bytes,
) {
    let prefix = format!(
        "transcripts/{}/{}/",
        ticket.meta.guild_id, ticket.meta.ticket_number
    );
    assert_eq!(stored.json_key, format!("{prefix}transcript.json.gz"));
    assert_eq!(stored.html_key, format!("{prefix}transcript.html.gz"));
    assert_eq!(stored.messages, ids.len() as u64);
    assert_eq!(
        (stored.attachments_copied, stored.attachments_skipped),
        (1, 1)
    );

    let json = gunzip(&store.get(&stored.json_key).await.expect("json stored"));
    let raw: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(raw["version"], 1);
    assert_eq!(raw["ticket"]["guild_id"], ticket.meta.guild_id.to_string());
    assert_eq!(raw["ticket"]["ticket_number"], ticket.meta.ticket_number);
    assert!(raw["messages"][0]["author"].is_string(), "authors are ids");
    let transcript: Transcript = serde_json::from_str(&json).expect("transcript");
    assert_eq!(transcript.ticket, ticket.meta);
    let got: Vec<u64> = transcript
        .messages
        .iter()
        .map(|m| m.id.parse().expect("id"))
        .collect();
    assert_eq!(got, ids, "every message, oldest first");
    for (i, m) in transcript.messages.iter().enumerate() {
        assert_eq!(m.content, content(ticket, i), "message {i}");
        let author = if i % 2 == 0 {
            ticket.opener
        } else {
            ticket.staff
        };
        assert_eq!(m.author, author.to_string());
    }

    let users = &transcript.entities.users;
    for user in [ticket.opener, ticket.staff, ticket.bystander] {
        assert!(
            users.contains_key(&user.to_string()),
            "user {user} described"
        );
    }
    assert_eq!(
        users.len(),
        3,
        "authors, the mentioned bystander, opener and closer"
    );
    assert_eq!(
        transcript.entities.roles[&ticket.moderator_role.to_string()].name,
        "Moderator"
    );
    assert_eq!(
        transcript.entities.channels[&ticket.mod_log.to_string()].name,
        "mod-log"
    );
    assert_eq!(
        transcript.entities.channels[&ticket.meta.channel_id.to_string()].name,
        "general"
    );

    let copied = &transcript.messages[40].attachments[0];
    let key = copied
        .stored_key
        .as_deref()
        .expect("small attachment copied");
    assert_eq!(
        key,
        format!("{prefix}attachments/{}/screen_shot.png", copied.id)
    );
    assert_eq!(copied.url, None);
    assert_eq!(copied.filename, "screen shot.png");
    assert_eq!(
        store.get(key).await.expect("attachment stored"),
        *small,
        "same bytes"
    );
    let skipped = &transcript.messages[41].attachments[0];
    assert_eq!(skipped.skipped, Some(Skipped::TooLarge));
    assert_eq!(skipped.stored_key, None);
    assert!(
        skipped
            .url
            .as_deref()
            .is_some_and(|u| u.contains("/attachments/")),
        "keeps Discord's URL"
    );

    let html = gunzip(&store.get(&stored.html_key).await.expect("html stored"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains("Content-Security-Policy") && !html.contains("<script"),
        "no script can run"
    );
    assert!(html.contains(
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
    ));
    assert!(
        html.contains("solved &lt;b&gt;fast&lt;/b&gt;"),
        "close reason escaped"
    );
    assert!(
        html.contains(&format!("@{}", ticket.bystander_name)),
        "user mention resolved"
    );
    assert!(
        html.contains("@Moderator") && html.contains("#mod-log"),
        "role and channel"
    );
    assert!(html.contains(&format!(
        "<img src=\"attachments/{}/screen_shot.png\"",
        copied.id
    )));
    let mut at = 0;
    for (i, id) in ids.iter().enumerate() {
        let anchor = format!("id=\"m{id}\"");
        let start = at
            + html[at..]
                .find(&anchor)
                .unwrap_or_else(|| panic!("message {i} in order in the HTML"));
        let end = start
            + html[start..]
                .find("</div></div>\n")
                .expect("end of the message");
        if !matches!(i, 10 | 20 | 30) {
            assert!(
                html[start..end].contains(&content(ticket, i)),
                "message {i} text"
            );
        }
        at = end;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_transcript_holds_every_message_in_order_and_a_rerun_overwrites() {
    let sim = support::sim(6).await;
    let http = support::twilight(&sim);
    let ticket = support::ticket(&sim, 17);
    let small = pseudo_random(3_000, 7);
    let large = pseudo_random(10_000, 8);
    let mut ids = seed_history(&sim, &ticket, 250, Some(small.clone()), Some(large));
    let store = ObjectStore::open(&new_bucket().await)
        .await
        .expect("bucket opens");
    let limits = Limits {
        attachment_max_bytes: 4_096,
        ..Limits::default()
    };

    let stored = build_and_store(&http, &store, &ticket.meta, &limits)
        .await
        .expect("transcript");
    check_transcript(&store, &stored, &ticket, &ids, &small).await;

    // A retried job (say the worker died before recording the keys) writes the same keys: one
    // transcript, now with the message sent since.
    ids.push(
        sim.seed_message(
            ticket.meta.channel_id,
            ticket.staff,
            "one more",
            std::time::Duration::ZERO,
        )
        .expect("seeded"),
    );
    let again = build_and_store(&http, &store, &ticket.meta, &limits)
        .await
        .expect("second transcript");
    assert_eq!(
        (&again.json_key, &again.html_key),
        (&stored.json_key, &stored.html_key)
    );
    assert_eq!(again.messages, 251);
    let transcript: Transcript =
        serde_json::from_str(&gunzip(&store.get(&again.json_key).await.expect("json")))
            .expect("transcript");
    assert_eq!(transcript.messages.len(), 251);
    assert_eq!(transcript.messages[250].content, "one more");
    let mut keys = store.list("transcripts/").await.expect("list");
    keys.sort();
    let prefix = format!("transcripts/{}/17/", ticket.meta.guild_id);
    let copied = transcript.messages[40].attachments[0]
        .stored_key
        .clone()
        .expect("copied");
    assert_eq!(
        keys,
        vec![
            copied,
            format!("{prefix}transcript.html.gz"),
            format!("{prefix}transcript.json.gz"),
        ],
        "exactly one transcript"
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_store_works_without_network() {
    let sim = support::sim(6).await;
    let http = support::twilight(&sim);
    let ticket = support::ticket(&sim, 3);
    let small = pseudo_random(2_000, 1);
    let ids = seed_history(
        &sim,
        &ticket,
        120,
        Some(small.clone()),
        Some(pseudo_random(9_000, 2)),
    );
    let dir = new_dir().join("transcripts-store");
    let store = ObjectStore::open(&StoreConfig::Directory(dir.clone()))
        .await
        .expect("directory created and opened");
    let limits = Limits {
        attachment_max_bytes: 4_096,
        work_dir: Some(new_dir()),
        ..Limits::default()
    };
    // A killed build's leftovers, two days old, and someone else's directory.
    let work_dir = limits.work_dir.clone().expect("work dir");
    let dead = work_dir.join("aegis-transcript-1-2-3-4-5");
    std::fs::create_dir_all(dead.join("inside")).expect("dead build dir");
    std::fs::create_dir_all(work_dir.join("keep-me")).expect("other dir");
    let touched = std::process::Command::new("touch")
        .args(["-d", "2 days ago"])
        .arg(&dead)
        .status()
        .expect("touch");
    assert!(touched.success());
    let stored = build_and_store(&http, &store, &ticket.meta, &limits)
        .await
        .expect("transcript");
    check_transcript(&store, &stored, &ticket, &ids, &small).await;
    let on_disk = std::fs::read(dir.join(&stored.html_key)).expect("file at the key");
    assert!(gunzip(&on_disk).contains("</html>"));
    let left: Vec<String> = std::fs::read_dir(&work_dir)
        .expect("work dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["keep-me".to_owned()],
        "this build's and the dead build's temporary files removed, nothing else"
    );

    store
        .put("a/b.txt", Bytes::from_static(b"hello"), "text/plain")
        .await
        .expect("put");
    assert_eq!(store.get("a/b.txt").await.expect("get"), "hello");
    assert!(matches!(
        store.get("a/missing.txt").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.put("../escape", Bytes::new(), "text/plain").await,
        Err(StoreError::InvalidKey { .. })
    ));
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_or_an_unusable_directory_is_a_clear_error() {
    let bucket = support::unique("aegis-missing");
    let e = ObjectStore::open(&s3_config(&bucket))
        .await
        .expect_err("no such bucket");
    assert!(matches!(e, StoreError::BucketMissing { .. }), "{e:?}");
    assert!(e.to_string().contains(&bucket), "{e}");

    let file = new_dir().join("a-file");
    std::fs::write(&file, b"x").expect("file");
    let e = ObjectStore::open(&StoreConfig::Directory(file.join("below")))
        .await
        .expect_err("a directory under a file");
    assert!(matches!(e, StoreError::Directory { .. }), "{e:?}");
    assert!(e.to_string().contains("a-file"), "{e}");

    // Nothing listens on port 9 of loopback: unreachable, said so (after the store's retries).
    let e = ObjectStore::open(&StoreConfig::S3 {
        endpoint: Some("http://127.0.0.1:9".to_owned()),
        bucket: "nobody-home".to_owned(),
        region: "us-east-1".to_owned(),
        access_key: "testing".to_owned(),
        secret_key: "testing".to_owned(),
    })
    .await
    .expect_err("unreachable");
    assert!(matches!(e, StoreError::Request { .. }), "{e:?}");
    assert!(e.to_string().contains("127.0.0.1:9"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_files_go_up_as_a_multipart_upload() {
    let store = ObjectStore::open(&new_bucket().await)
        .await
        .expect("bucket");
    let data = pseudo_random(19 << 20, 3); // three 8 MiB parts, the last short
    let path = new_dir().join("big.bin");
    std::fs::write(&path, &data).expect("file");
    store
        .put_file("big/file.bin", &path, "application/octet-stream")
        .await
        .expect("uploaded");
    let back = store.get("big/file.bin").await.expect("downloaded");
    assert_eq!(back.len(), data.len());
    assert!(back == data, "same bytes");
    let e = store
        .put_file(
            "big/none.bin",
            &path.with_extension("missing"),
            "text/plain",
        )
        .await
        .expect_err("no file");
    assert!(matches!(e, StoreError::File { .. }), "{e:?}");
}
