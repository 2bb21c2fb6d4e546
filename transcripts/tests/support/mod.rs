//! What the transcript tests and the benchmark share: a simulator with a ticket's history, a
//! twilight-http client on it, a fresh bucket on the S3 server (moto) and a fresh directory.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_transcripts::{StoreConfig, TranscriptMeta};
use bytes::Bytes;
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::HttpRequestBody;

/// The S3 server of the tests (`scripts/services` starts moto there).
pub fn s3_endpoint() -> String {
    std::env::var("AEGIS_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

/// A name nobody else uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The store configuration of a bucket that does not exist (yet).
pub fn s3_config(bucket: &str) -> StoreConfig {
    StoreConfig::S3 {
        endpoint: Some(s3_endpoint()),
        bucket: bucket.to_owned(),
        region: "us-east-1".to_owned(),
        access_key: "testing".to_owned(),
        secret_key: "testing".to_owned(),
    }
}

/// Creates a fresh bucket with a signed `PUT /{bucket}` (S3's CreateBucket) and returns its
/// configuration.
pub async fn new_bucket() -> StoreConfig {
    let bucket = unique("aegis-test");
    let credential = AwsCredential {
        key_id: "testing".to_owned(),
        secret_key: "testing".to_owned(),
        token: None,
    };
    let mut request = hyper::Request::put(format!("{}/{bucket}", s3_endpoint()))
        .body(HttpRequestBody::empty())
        .expect("request");
    AwsAuthorizer::new(&credential, "s3", "us-east-1")
        .try_authorize(&mut request, None)
        .expect("signed");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<HttpRequestBody>();
    let response = client.request(request).await.unwrap_or_else(|e| {
        panic!(
            "S3 server at {} does not answer ({e}): run scripts/services",
            s3_endpoint()
        )
    });
    assert!(
        response.status().is_success(),
        "CreateBucket {bucket}: {}",
        response.status()
    );
    s3_config(&bucket)
}

/// A fresh directory under the system's temporary directory.
pub fn new_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("aegis-transcripts-test"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Decompresses gzip.
pub fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut out)
        .expect("gzip of UTF-8");
    out
}

/// A simulator without rate limits (the tests talk to it directly, not through rest-proxy).
pub async fn sim(members: u32) -> discord_sim::SimHandle {
    let mut config = discord_sim::Config {
        guilds: 1,
        members,
        ..discord_sim::Config::default()
    };
    config.ratelimits.enabled = false;
    discord_sim::start(config).await.expect("simulator starts")
}

/// twilight-http pointed at the simulator, as workers point it at rest-proxy.
pub fn twilight(sim: &discord_sim::SimHandle) -> twilight_http::Client {
    twilight_http::Client::builder()
        .proxy(sim.addr().to_string(), true)
        .ratelimiter(None)
        .token(sim.token().to_owned())
        .timeout(Duration::from_secs(10))
        .build()
}

/// The ids a ticket test uses, from the seeded world.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub meta: TranscriptMeta,
    pub opener: u64,
    pub staff: u64,
    /// A member who never writes, only mentioned.
    pub bystander: u64,
    pub bystander_name: String,
    pub moderator_role: u64,
    pub mod_log: u64,
}

/// The ticket: the first guild's `general` channel, its members as opener, staff and bystander.
pub fn ticket(sim: &discord_sim::SimHandle, number: i32) -> Ticket {
    let world = sim.world();
    let guild = world.guilds.values().next().expect("guild");
    let channel = |name: &str| {
        guild
            .channels
            .values()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("channel {name}"))
            .id
    };
    let members: Vec<u64> = guild
        .members
        .keys()
        .copied()
        .filter(|u| *u != world.bot.id)
        .collect();
    let (opener, staff, bystander) = (members[1], members[0], members[2]);
    let user = &world.users[&bystander];
    let general = channel("general");
    Ticket {
        meta: TranscriptMeta {
            guild_id: guild.id,
            guild_name: guild.name.clone(),
            channel_id: general,
            channel_name: "general".to_owned(),
            ticket_number: number,
            opener_id: opener,
            closed_by: staff,
            close_reason: Some("solved <b>fast</b>".to_owned()),
            opened_at_ms: 1_700_000_000_000,
            closed_at_ms: 1_700_000_360_000,
        },
        opener,
        staff,
        bystander,
        bystander_name: user
            .global_name
            .clone()
            .unwrap_or_else(|| user.username.clone()),
        moderator_role: *guild
            .roles
            .iter()
            .find(|(_, r)| r.name == "Moderator")
            .expect("Moderator role")
            .0,
        mod_log: channel("mod-log"),
    }
}

/// The content of the `i`th seeded message (0-based) of a history of `n`.
pub fn content(ticket: &Ticket, i: usize) -> String {
    match i {
        10 => format!("<@{}> could you have a look?", ticket.bystander),
        20 => format!(
            "pinging <@&{}>, see <#{}>",
            ticket.moderator_role, ticket.mod_log
        ),
        30 => "<script>alert(\"x\")</script> & <b>bold</b>".to_owned(),
        _ => format!("message {i} of the ticket"),
    }
}

/// Seeds `n` messages (alternately by the opener and staff, one second apart, the last a second
/// ago); message 40 carries `small` and message 41 `large` as attachments when given. Returns
/// the message ids in order.
pub fn seed_history(
    sim: &discord_sim::SimHandle,
    ticket: &Ticket,
    n: usize,
    small: Option<Bytes>,
    large: Option<Bytes>,
) -> Vec<u64> {
    let channel = ticket.meta.channel_id;
    (0..n)
        .map(|i| {
            let author = if i % 2 == 0 {
                ticket.opener
            } else {
                ticket.staff
            };
            let age = Duration::from_secs(u64::try_from(n - i).expect("n"));
            let text = content(ticket, i);
            let file = match i {
                40 => small
                    .clone()
                    .map(|data| ("screen shot.png", "image/png", data)),
                41 => large
                    .clone()
                    .map(|data| ("dump.bin", "application/octet-stream", data)),
                _ => None,
            };
            match file {
                Some((filename, content_type, data)) => sim.seed_message_with_attachment(
                    channel,
                    author,
                    &text,
                    age,
                    discord_sim::SeedAttachment {
                        filename: filename.to_owned(),
                        content_type: Some(content_type.to_owned()),
                        data,
                    },
                ),
                None => sim.seed_message(channel, author, &text, age),
            }
            .expect("seeded")
        })
        .collect()
}

/// Deterministic bytes.
pub fn pseudo_random(n: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect::<Vec<u8>>()
        .into()
}
