//! Benchmark: a 10,000-message ticket (with mentions and attachments) seeded in the simulator,
//! built and stored to a local directory and to the S3 server (moto on 127.0.0.1:5000, see
//! scripts/services). Prints wall time and memory: the simulator runs in this process, so the
//! resident set before the build (simulator and seeded history included) is printed, then the
//! peak during the build (VmHWM, reset through /proc/self/clear_refs before each run) and the
//! difference.
//!
//! `cargo bench -p aegis-transcripts --bench transcript [-- MESSAGES]`

#![allow(clippy::print_stdout, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use aegis_transcripts::{Limits, ObjectStore, StoreConfig, build_and_store};

/// Messages with an attachment, one every this many.
const ATTACHMENT_EVERY: usize = 500;

fn main() {
    let messages: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(messages));
}

async fn run(messages: usize) {
    let sim = support::sim(20).await;
    let http = support::twilight(&sim);
    let ticket = support::ticket(&sim, 1);
    let seeded = Instant::now();
    let mut attachments = 0;
    for i in 0..messages {
        let author = if i % 3 == 0 {
            ticket.opener
        } else {
            ticket.staff
        };
        let age = Duration::from_millis(u64::try_from((messages - i) * 100).unwrap_or(0));
        let text = match i % 50 {
            0 => format!(
                "<@{}> message {i}: could you check this one?",
                ticket.bystander
            ),
            25 => format!(
                "<@&{}> message {i} needs <#{}>",
                ticket.moderator_role, ticket.mod_log
            ),
            _ => format!(
                "message {i}: {}",
                "the quick brown fox jumps over the lazy dog ".repeat(1 + i % 5)
            ),
        };
        let channel = ticket.meta.channel_id;
        if i % ATTACHMENT_EVERY == ATTACHMENT_EVERY - 1 {
            attachments += 1;
            let file = discord_sim::SeedAttachment {
                filename: format!("screenshot-{i}.png"),
                content_type: Some("image/png".to_owned()),
                data: support::pseudo_random(200_000, i as u64),
            };
            sim.seed_message_with_attachment(channel, author, &text, age, file)
        } else {
            sim.seed_message(channel, author, &text, age)
        }
        .expect("seeded");
    }
    println!(
        "seeded {messages} messages ({attachments} with a 200 KB attachment) in {:.2?}",
        seeded.elapsed()
    );

    let dir = support::new_dir().join("store");
    let directory = ObjectStore::open(&StoreConfig::Directory(dir))
        .await
        .expect("directory store");
    measure("directory", &http, &directory, &ticket).await;

    match tokio::time::timeout(Duration::from_secs(5), support::new_bucket()).await {
        Ok(config) => {
            let s3 = ObjectStore::open(&config).await.expect("S3 store");
            measure("S3 (moto)", &http, &s3, &ticket).await;
        }
        Err(_) => println!(
            "S3 (moto): skipped, no answer on {}",
            support::s3_endpoint()
        ),
    }
    sim.shutdown().await.expect("shutdown");
}

async fn measure(
    name: &str,
    http: &twilight_http::Client,
    store: &ObjectStore,
    ticket: &support::Ticket,
) {
    reset_peak();
    let before = status_kib("VmRSS");
    let started = Instant::now();
    let stored = build_and_store(http, store, &ticket.meta, &Limits::default())
        .await
        .expect("transcript");
    let elapsed = started.elapsed();
    let peak = status_kib("VmHWM");
    let json = store.get(&stored.json_key).await.expect("json").len();
    let html = store.get(&stored.html_key).await.expect("html").len();
    println!(
        "{name}: {} messages, {} attachments copied, in {elapsed:.2?}; RSS before {:.1} MB, \
         peak during {:.1} MB, delta {:.1} MB; json.gz {:.1} KB, html.gz {:.1} KB",
        stored.messages,
        stored.attachments_copied,
        mb(before),
        mb(peak),
        mb(peak.saturating_sub(before)),
        json as f64 / 1024.0,
        html as f64 / 1024.0,
    );
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Resets VmHWM to the current RSS (Linux: `5` to /proc/self/clear_refs).
fn reset_peak() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        println!("(cannot reset the peak RSS: {e}; VmHWM is the process's whole peak)");
    }
}

/// A `kB` line of /proc/self/status.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
