//! Stream and consumer provisioning against the real NATS server (`AEGIS_TEST_NATS_URL`, default
//! `nats://127.0.0.1:4222`). Each test uses its own namespace, so tests run in parallel and again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::{
    Envelope, GatewayEvent, Namespace, PROTOCOL_VERSION, PartitionCount, Topology,
    event_message_id, headers, provision,
};
use async_nats::jetstream::{self, consumer::PullConsumer};

async fn jetstream() -> jetstream::Context {
    let url =
        std::env::var("AEGIS_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let client = async_nats::connect(&url)
        .await
        .expect("NATS answers at AEGIS_TEST_NATS_URL");
    jetstream::new(client)
}

fn unique_topology(test: &str) -> Topology {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let name = format!("t{}{}{}", test, std::process::id(), nanos % 1_000_000_000);
    Topology {
        namespace: Namespace::new(name).expect("valid test namespace"),
        partitions: PartitionCount::new(4).expect("valid count"),
        events_max_age: Duration::from_secs(600),
        dead_letters_max_age: Duration::from_secs(600),
        ..Topology::default()
    }
}

async fn delete_all(js: &jetstream::Context, topology: &Topology) {
    for stream in topology.streams() {
        // Best effort: a leftover stream expires with its max_age anyway.
        let _ = js.delete_stream(&stream.name).await;
    }
}

#[tokio::test]
async fn concurrent_provisioning_converges_on_one_topology() {
    let js = jetstream().await;
    let topology = unique_topology("conc");
    let racers = (0..8).map(|_| {
        let (js, topology) = (js.clone(), topology.clone());
        tokio::spawn(async move { provision(&js, &topology).await })
    });
    for racer in futures_join(racers).await {
        racer
            .expect("task ran")
            .expect("every concurrent call succeeds");
    }
    for spec in topology.streams() {
        let mut stream = js.get_stream(&spec.name).await.expect("stream exists");
        let info = stream.info().await.expect("stream info");
        assert_eq!(info.config.subjects, spec.subjects);
        assert_eq!(info.config.retention, spec.retention);
    }
    let events = js
        .get_stream(topology.events_stream())
        .await
        .expect("events stream");
    for partition in 0..4 {
        let name = Topology::partition_consumer(partition);
        let consumer: PullConsumer = events
            .get_consumer(&name)
            .await
            .expect("partition consumer");
        assert_eq!(consumer.cached_info().config.max_ack_pending, 1);
    }
    // Running it again changes nothing and still succeeds.
    provision(&js, &topology).await.expect("idempotent");
    delete_all(&js, &topology).await;
}

#[tokio::test]
async fn provisioning_updates_a_changed_stream() {
    let js = jetstream().await;
    let topology = unique_topology("upd");
    provision(&js, &topology).await.expect("first provisioning");
    let longer = Topology {
        events_max_age: Duration::from_secs(1200),
        ..topology.clone()
    };
    provision(&js, &longer).await.expect("update");
    let mut stream = js
        .get_stream(topology.events_stream())
        .await
        .expect("events stream");
    let info = stream.info().await.expect("stream info");
    assert_eq!(info.config.max_age, Duration::from_secs(1200));
    delete_all(&js, &topology).await;
}

#[tokio::test]
async fn replayed_events_are_dropped_and_partitions_are_consumed_in_order() {
    let js = jetstream().await;
    let topology = unique_topology("dup");
    provision(&js, &topology).await.expect("provisioning");
    let subjects = topology.subjects();
    let guild = 81_384_788_765_712_384_u64;
    let partition = aegis_protocol::partition_of(guild, topology.partitions);

    // Seq 1..=3, then 2..=4 again as Discord replays after a resume: 4 distinct events stored.
    for seq in (1..=3).chain(2..=4) {
        let event = GatewayEvent {
            v: PROTOCOL_VERSION,
            event: "MESSAGE_CREATE".into(),
            shard: 0,
            session_id: "sess".into(),
            seq,
            guild_id: Some(guild),
            received_at_ms: 0,
            payload: bytes::Bytes::from(format!(r#"{{"seq":{seq}}}"#)),
        };
        let mut hdrs = async_nats::HeaderMap::new();
        hdrs.insert(
            headers::MESSAGE_ID,
            event_message_id(0, "sess", seq).as_str(),
        );
        hdrs.insert(headers::EVENT, "MESSAGE_CREATE");
        js.publish_with_headers(
            subjects.guild_event(partition, "MESSAGE_CREATE"),
            hdrs,
            event.encode().expect("encodes"),
        )
        .await
        .expect("publish")
        .await
        .expect("publish ack");
    }

    let events = js
        .get_stream(topology.events_stream())
        .await
        .expect("events stream");
    let consumer: PullConsumer = events
        .get_consumer(&Topology::partition_consumer(partition))
        .await
        .expect("partition consumer");
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let mut batch = consumer
            .fetch()
            .max_messages(10)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .expect("fetch");
        let mut got_any = false;
        while let Some(message) = futures_next(&mut batch).await {
            let message = message.expect("message");
            let event = GatewayEvent::decode(&message.payload).expect("decodes");
            seen.push(event.seq);
            message.ack().await.expect("ack");
            got_any = true;
        }
        assert!(got_any, "expected more events, have {seen:?}");
    }
    assert_eq!(seen, vec![1, 2, 3, 4]);
    delete_all(&js, &topology).await;
}

async fn futures_join<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut results = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        results.push(handle.await);
    }
    results
}

async fn futures_next<S: futures_util::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    futures_util::StreamExt::next(stream).await
}
