//! Identify pacing across shards and processes, and fatal close codes.

mod support;

use std::time::Duration;

use aegis_gateway_proxy::{ShardRange, ShardState, ShardTotal};
use support::*;

#[tokio::test]
async fn two_processes_share_the_identify_queue_without_a_violation() {
    let sim = discord_sim::start(discord_sim::Config {
        max_concurrency: 1,
        ..sim_config(4, 8)
    })
    .await
    .expect("simulator starts");
    let ns = unique("two");
    let base = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let first = start_proxy(aegis_gateway_proxy::Config {
        shard_total: ShardTotal::Fixed(4),
        shard_range: ShardRange::Range { first: 0, last: 1 },
        ops_addr: ([127, 0, 0, 1], 0).into(),
        ..base.clone()
    })
    .await;
    let second = start_proxy(aegis_gateway_proxy::Config {
        shard_total: ShardTotal::Fixed(4),
        shard_range: ShardRange::Range { first: 2, last: 3 },
        ..base.clone()
    })
    .await;
    let started = tokio::time::Instant::now();
    wait_ready(&first, Duration::from_secs(20)).await;
    wait_ready(&second, Duration::from_secs(20)).await;
    let elapsed = started.elapsed();
    let counters = sim.counters();
    assert_eq!(counters.identify_violations, 0);
    assert_eq!(counters.identifies, 4);
    // Four identifies in one bucket need three 0.5 s gaps (plus the queue's margin); no more
    // than one extra window.
    assert!(
        elapsed < Duration::from_millis(3 * 550 + 500 + 1_000),
        "start-up took {elapsed:?}"
    );
    first.stop().await;
    second.stop().await;
    cleanup(&js, &base).await;
    sim.shutdown().await.expect("simulator stops");
}

#[tokio::test]
async fn max_concurrency_sixteen_identifies_buckets_in_parallel() {
    let sim = discord_sim::start(discord_sim::Config {
        max_concurrency: 16,
        ..sim_config(32, 32)
    })
    .await
    .expect("simulator starts");
    let ns = unique("mc");
    let config = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let started = tokio::time::Instant::now();
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(20)).await;
    let elapsed = started.elapsed();
    assert_eq!(sim.counters().identify_violations, 0);
    assert_eq!(sim.counters().identifies, 32);
    // 32 shards in 16 buckets: two identifies per bucket, one gap.
    assert!(
        elapsed < Duration::from_millis(550 + 1_500),
        "start-up took {elapsed:?}"
    );
    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}

#[tokio::test]
async fn a_fatal_close_stops_only_its_shard() {
    let sim = discord_sim::start(sim_config(2, 4))
        .await
        .expect("simulator starts");
    let ns = unique("fat");
    let config = proxy_config(&sim, &ns);
    let js = jetstream().await;
    let proxy = start_proxy(config.clone()).await;
    wait_ready(&proxy, Duration::from_secs(10)).await;
    sim.close(1, 4014);
    wait_for("shard 1 fatal", Duration::from_secs(10), || async {
        proxy.shards()[1].state == ShardState::Fatal
    })
    .await;
    // The other shard keeps running and publishing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(proxy.shards()[0].state, ShardState::Ready);
    assert!(
        proxy.shards()[1]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("4014"))
    );
    let status = reqwest_like_get(proxy.ops_addr(), "/readyz").await;
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    proxy.stop().await;
    cleanup(&js, &config).await;
    sim.shutdown().await.expect("simulator stops");
}

#[tokio::test]
async fn a_bad_token_is_refused_before_any_shard_starts() {
    let sim = discord_sim::start(sim_config(1, 1))
        .await
        .expect("simulator starts");
    let ns = unique("tok");
    let config = aegis_gateway_proxy::Config {
        token: "wrong".into(),
        ..proxy_config(&sim, &ns)
    };
    let err = aegis_gateway_proxy::GatewayProxy::start(config, Default::default())
        .await
        .expect_err("a bad token cannot start");
    assert!(err.to_string().contains("401"), "{err}");
    sim.shutdown().await.expect("simulator stops");
}

async fn reqwest_like_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("ops listener");
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}
