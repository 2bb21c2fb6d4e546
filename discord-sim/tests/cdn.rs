//! The attachment CDN: files uploaded with a message (multipart) and seeded attachments are
//! served at the `url` of their attachment object; anything else is a 404.

mod common;

use std::time::Duration;

use twilight_http::Client;
use twilight_model::http::attachment::Attachment;
use twilight_model::id::Id;

/// The path of an attachment URL of this simulator.
fn path_of(sim: &discord_sim::SimHandle, url: &str) -> String {
    url.strip_prefix(&sim.http_url())
        .unwrap_or_else(|| panic!("{url} is not served by the simulator"))
        .to_owned()
}

fn general(world: &discord_sim::World) -> (u64, u64) {
    let g = world.guilds.values().next().expect("guild");
    let channel = g
        .channels
        .values()
        .find(|c| c.name == "general")
        .expect("general")
        .id;
    let member = *g
        .members
        .keys()
        .find(|u| **u != world.bot.id)
        .expect("member");
    (channel, member)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_files_are_served_at_their_url() {
    let sim = common::sim(|c| c.guilds = 1).await;
    let (channel, _) = general(&sim.world());
    let http = Client::builder()
        .proxy(sim.addr().to_string(), true)
        .token(sim.token().to_owned())
        .timeout(Duration::from_secs(10))
        .build();
    let files = [Attachment::from_bytes(
        "ticket-log.txt".to_owned(),
        b"line one\nline two".to_vec(),
        1,
    )];
    let message = http
        .create_message(Id::new(channel))
        .content("with a file")
        .attachments(&files)
        .await
        .expect("multipart message")
        .model()
        .await
        .expect("message");
    let attachment = &message.attachments[0];
    assert!(
        attachment.url.ends_with("/ticket-log.txt"),
        "{}",
        attachment.url
    );
    let (status, headers, body) =
        common::http(&sim, "GET", &path_of(&sim, &attachment.url), &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(body, "line one\nline two");
    assert!(
        headers.iter().any(|(k, _)| k == "content-type"),
        "{headers:?}"
    );

    // Another name, another channel or an unknown id is not found.
    let wrong_name = path_of(&sim, &attachment.url).replace("ticket-log.txt", "other.txt");
    assert_eq!(
        common::http(&sim, "GET", &wrong_name, &[], None).await.0,
        404
    );
    let wrong_channel = path_of(&sim, &attachment.url).replacen(&channel.to_string(), "1", 1);
    assert_eq!(
        common::http(&sim, "GET", &wrong_channel, &[], None).await.0,
        404
    );
    assert_eq!(
        common::http(&sim, "GET", "/attachments/1/2/x.txt", &[], None)
            .await
            .0,
        404
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_attachments_are_in_history_and_served() {
    let sim = common::sim(|c| c.guilds = 1).await;
    let (channel, author) = general(&sim.world());
    let first = sim
        .seed_message_with_attachment(
            channel,
            author,
            "see the screenshot",
            Duration::from_secs(60),
            discord_sim::SeedAttachment {
                filename: "my shot.png".to_owned(),
                content_type: Some("image/png".to_owned()),
                data: bytes::Bytes::from_static(b"PNG bytes"),
            },
        )
        .expect("seeded");
    // A second one in the same millisecond gets its own attachment id.
    let second = sim
        .seed_message_with_attachment(
            channel,
            author,
            "and another",
            Duration::from_secs(60),
            discord_sim::SeedAttachment {
                filename: "shot.png".to_owned(),
                content_type: None,
                data: bytes::Bytes::from_static(b"other bytes"),
            },
        )
        .expect("seeded");
    let world = sim.world();
    let history = &world.messages[&channel];
    let url_of = |id: u64| {
        history[&id]["attachments"][0]["url"]
            .as_str()
            .expect("url")
            .to_owned()
    };
    assert_ne!(url_of(first), url_of(second));
    assert!(
        url_of(first).ends_with("/my%20shot.png"),
        "{}",
        url_of(first)
    );
    assert_eq!(history[&first]["attachments"][0]["size"], 9);
    let (status, headers, body) =
        common::http(&sim, "GET", &path_of(&sim, &url_of(first)), &[], None).await;
    assert_eq!((status, body.as_str()), (200, "PNG bytes"));
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "image/png"),
        "{headers:?}"
    );
    let (status, _, body) =
        common::http(&sim, "GET", &path_of(&sim, &url_of(second)), &[], None).await;
    assert_eq!((status, body.as_str()), (200, "other bytes"));
    assert!(
        sim.seed_message_with_attachment(
            1,
            author,
            "x",
            Duration::ZERO,
            discord_sim::SeedAttachment {
                filename: "a".to_owned(),
                content_type: None,
                data: bytes::Bytes::new(),
            },
        )
        .is_err(),
        "unknown channel"
    );
    sim.shutdown().await.expect("shutdown");
}
