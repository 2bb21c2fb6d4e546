//! Independent check: twilight-gateway 0.18 (zstd-stream) shards against the simulator.

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{ConfigBuilder, EventTypeFlags, Intents, Message, Shard, ShardId};
use twilight_model::gateway::event::GatewayEvent;

fn shard(
    sim: &discord_sim::SimHandle,
    id: u32,
    total: u32,
    token: &str,
    intents: Intents,
) -> Shard<InMemoryQueue> {
    let config = ConfigBuilder::new(token.to_owned(), intents)
        .proxy_url(sim.gateway_url())
        .queue(InMemoryQueue::new(
            16,
            1000,
            Duration::from_secs(3600),
            1000,
        ))
        .build();
    Shard::with_config(ShardId::new(id, total), config)
}

const INTENTS: Intents = Intents::GUILDS
    .union(Intents::GUILD_MEMBERS)
    .union(Intents::GUILD_MODERATION)
    .union(Intents::GUILD_PRESENCES);

/// What the client has seen so far.
#[derive(Default)]
struct Seen {
    last_seq: u64,
    events: Vec<(u64, String)>,
    closes: Vec<u16>,
}

impl Seen {
    /// Records one message; panics on a sequence gap or an event twilight cannot deserialise.
    fn record(&mut self, msg: Message) {
        match msg {
            Message::Close(frame) => self.closes.push(frame.map_or(0, |f| f.code)),
            Message::Text(text) => {
                let raw: Value = serde_json::from_str(&text).expect("JSON");
                let parsed = twilight_gateway::parse(text.clone(), EventTypeFlags::all())
                    .unwrap_or_else(|e| panic!("twilight cannot parse {text}: {e}"));
                if let Some(seq) = raw["s"].as_u64() {
                    assert!(
                        seq <= self.last_seq + 1,
                        "sequence gap: got {seq} after {}",
                        self.last_seq
                    );
                    if seq == self.last_seq + 1 {
                        self.last_seq = seq;
                        let t = raw["t"].as_str().expect("t").to_owned();
                        assert!(
                            matches!(parsed, Some(GatewayEvent::Dispatch(_, _))),
                            "{t} is a dispatch"
                        );
                        self.events.push((seq, t));
                    }
                }
            }
        }
    }

    fn count(&self, t: &str) -> usize {
        self.events.iter().filter(|(_, e)| e == t).count()
    }
}

async fn pump_until(
    shard: &mut Shard<InMemoryQueue>,
    seen: &mut Seen,
    secs: u64,
    done: impl Fn(&Seen) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done(seen) {
        let next = tokio::time::timeout_at(deadline, shard.next()).await;
        match next {
            Ok(Some(Ok(msg))) => seen.record(msg),
            Ok(Some(Err(e))) => panic!("shard error: {e}"),
            Ok(None) => panic!("shard stopped"),
            Err(_) => panic!("timed out; seen {:?} closes {:?}", seen.events, seen.closes),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilight_shards_identify_and_receive_their_guilds() {
    let sim = common::sim(|c| {
        c.shards = 3;
        c.guilds = 9;
        c.members = 20;
    })
    .await;
    let world = sim.world();
    let mut total = 0;
    let mut tasks = Vec::new();
    for id in 0..3 {
        let mut shard = shard(&sim, id, 3, sim.token(), INTENTS);
        let expected = world.guilds_of_shard(id, 3).len();
        total += expected;
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            pump_until(&mut shard, &mut seen, 10, |s| {
                s.count("GUILD_CREATE") == expected
            })
            .await;
            assert_eq!(seen.events[0], (1, "READY".to_owned()));
            seen.count("GUILD_CREATE")
        }));
    }
    let mut got = 0;
    for t in tasks {
        got += t.await.expect("shard task");
    }
    assert_eq!(got, total);
    assert_eq!(got, 9);
    let counters = sim.counters();
    assert_eq!(counters.identifies, 3);
    // This file is also compiled by checks/twilight-zlib (twilight's zlib feature), whose
    // build script sets the expected compression.
    let expected = option_env!("DISCORD_SIM_EXPECT_COMPRESSION").unwrap_or("zstd-stream");
    assert_eq!(
        counters
            .connections_by_compression
            .keys()
            .collect::<Vec<_>>(),
        vec![expected]
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilight_resumes_without_missing_a_sequence_number() {
    let sim = common::sim(|c| c.guilds = 2).await;
    let world = sim.world();
    let guild = *world.guilds.keys().next().expect("guild");
    let user = world.guilds[&guild]
        .members
        .keys()
        .next()
        .copied()
        .expect("member");
    let user_json = world.users[&user].to_json();
    let ban = |n: u64| json!({"guild_id": guild.to_string(), "user": user_json, "n": n});

    let mut shard = shard(&sim, 0, 1, sim.token(), INTENTS);
    let mut seen = Seen::default();
    pump_until(&mut shard, &mut seen, 10, |s| s.count("GUILD_CREATE") == 2).await;

    type Action = fn(&discord_sim::SimHandle) -> usize;
    let actions: [(&str, Action); 4] = [
        ("op 7", |s| s.reconnect(0)),
        ("op 9 true", |s| s.invalidate_session(0, true)),
        ("close 4000", |s| s.close(0, 4000)),
        ("tcp drop", |s| s.drop_connection(0)),
    ];
    for (round, (name, act)) in actions.iter().enumerate() {
        for n in 0..5 {
            assert_eq!(sim.dispatch("GUILD_BAN_ADD", Some(guild), &ban(n)), 1);
        }
        assert_eq!(act(&sim), 1, "{name} reached the connection");
        // Events while the client is away must be replayed on RESUME.
        for n in 5..10 {
            assert_eq!(sim.dispatch("GUILD_BAN_ADD", Some(guild), &ban(n)), 1);
        }
        let resumed = round + 1;
        pump_until(&mut shard, &mut seen, 15, |s| {
            s.count("RESUMED") == resumed && s.count("GUILD_BAN_ADD") == 10 * resumed
        })
        .await;
    }
    let counters = sim.counters();
    assert_eq!(counters.identifies, 1, "no re-identify");
    assert_eq!(counters.resumes, 4);
    let seqs: Vec<u64> = seen.events.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=seen.last_seq).collect::<Vec<_>>());
    sim.shutdown().await.expect("shutdown");
}

async fn expect_fatal(sim: &discord_sim::SimHandle, token: &str, intents: Intents, code: u16) {
    let mut shard = shard(sim, 0, 1, token, intents);
    let mut closes = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(item) = shard.next().await {
            if let Ok(Message::Close(Some(frame))) = item {
                closes.push(frame.code);
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "shard must stop after {code}, saw {closes:?}"
    );
    assert_eq!(closes, vec![code]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilight_stops_on_fatal_close_codes() {
    let sim = common::sim(|c| c.privileged_intents = 0).await;
    expect_fatal(&sim, "wrong-token", Intents::GUILDS, 4004).await;
    expect_fatal(
        &sim,
        sim.token(),
        Intents::GUILDS | Intents::GUILD_MEMBERS,
        4014,
    )
    .await;
    assert_eq!(sim.counters().identifies, 0);
    sim.shutdown().await.expect("shutdown");
}
