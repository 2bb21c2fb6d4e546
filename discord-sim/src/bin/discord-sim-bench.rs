//! `discord-sim-bench`: measures dispatch throughput to one gateway client (no compression,
//! zlib-stream, zstd-stream) and REST requests per second on loopback. Prints the figures.
//!
//! Run with `cargo run --release -p discord-sim --bin discord-sim-bench [-- EVENTS SECONDS]`.

#![allow(clippy::print_stdout, reason = "a bench program prints its figures")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use discord_sim::{Config, LoadSpec, RateLimitConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

type BenchError = Box<dyn std::error::Error + Send + Sync>;

fn config() -> Config {
    Config {
        guilds: 10,
        members: 10,
        replay_buffer: 50_000,
        ratelimits: RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        },
        ..Config::default()
    }
}

/// Decompresses what the gateway sends in one mode.
enum Inflater {
    None,
    Zlib(flate2::Decompress, Vec<u8>),
    Zstd(zstd_safe::DCtx<'static>, Vec<u8>),
}

impl Inflater {
    /// The byte length of the decompressed message.
    fn inflate(&mut self, data: &[u8]) -> Result<usize, BenchError> {
        match self {
            Self::None => Ok(data.len()),
            Self::Zlib(d, out) => {
                out.clear();
                let mut consumed = 0;
                loop {
                    out.reserve(64 * 1024);
                    let before = d.total_in();
                    d.decompress_vec(&data[consumed..], out, flate2::FlushDecompress::Sync)?;
                    consumed += usize::try_from(d.total_in() - before)?;
                    if consumed == data.len() && out.len() < out.capacity() {
                        return Ok(out.len());
                    }
                }
            }
            Self::Zstd(d, out) => {
                out.clear();
                let mut input = zstd_safe::InBuffer::around(data);
                loop {
                    out.reserve(64 * 1024);
                    let pos = out.len();
                    let mut output = zstd_safe::OutBuffer::around_pos(out, pos);
                    d.decompress_stream(&mut output, &mut input)
                        .map_err(|c| zstd_safe::get_error_name(c).to_owned())?;
                    let full = output.pos() == output.capacity();
                    if input.pos == data.len() && !full {
                        return Ok(out.len());
                    }
                }
            }
        }
    }
}

async fn gateway(mode: &str, events: u64) -> Result<(), BenchError> {
    let sim = discord_sim::start(config()).await?;
    let query = match mode {
        "none" => "v=10&encoding=json".to_owned(),
        m => format!("v=10&encoding=json&compress={m}"),
    };
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{}/?{query}", sim.gateway_url())).await?;
    let mut inflater = match mode {
        "zlib-stream" => Inflater::Zlib(flate2::Decompress::new(true), Vec::new()),
        "zstd-stream" => Inflater::Zstd(zstd_safe::DCtx::create(), Vec::new()),
        _ => Inflater::None,
    };
    let identify = json!({"op": 2, "d": {"token": sim.token(), "intents": 3587, "properties": {"os": "linux", "browser": "bench", "device": "bench"}}});
    ws.send(Message::text(identify.to_string())).await?;
    // HELLO + READY + one GUILD_CREATE per guild.
    for _ in 0..12 {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => {
                inflater.inflate(&b)?;
            }
            Some(Ok(_)) => {}
            _ => return Err("connection ended during the handshake".into()),
        }
    }
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let reader = tokio::spawn(async move {
        let mut bytes = 0u64;
        let mut first: Option<Instant> = None;
        while counter.load(Ordering::Relaxed) < events {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    bytes += inflater.inflate(&b).map_or(0, |n| n as u64)
                }
                Some(Ok(Message::Text(t))) => bytes += t.len() as u64,
                Some(Ok(_)) => continue,
                _ => break,
            }
            first.get_or_insert_with(Instant::now);
            counter.fetch_add(1, Ordering::Relaxed);
        }
        (first.map(|f| f.elapsed()), bytes)
    });
    let started = Instant::now();
    let report = sim
        .load(LoadSpec {
            events_per_sec: 0,
            total: events,
            ..LoadSpec::default()
        })
        .await?;
    let (elapsed, bytes) = tokio::time::timeout(Duration::from_secs(120), reader).await??;
    let total = started.elapsed();
    let got = received.load(Ordering::Relaxed);
    let client_secs = elapsed.unwrap_or(total).as_secs_f64();
    println!(
        "gateway {mode:<12} {got} dispatches in {:.2} s: {:>9.0} dispatches/s received by one client ({:.0} MB/s JSON); generator {:.0}/s",
        total.as_secs_f64(),
        got as f64 / total.as_secs_f64(),
        bytes as f64 / client_secs / 1e6,
        report.generated as f64 / (report.elapsed_ms.max(1) as f64 / 1000.0),
    );
    sim.shutdown().await?;
    Ok(())
}

/// Length of the first complete HTTP/1.1 response in `buf`, checking it is a 2xx.
fn complete_response(buf: &[u8]) -> Result<Option<usize>, BenchError> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end])?;
    if !head.starts_with("HTTP/1.1 2") {
        return Err(format!("unexpected response: {head}").into());
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or("response without content-length")?;
    let total = head_end + 4 + length;
    Ok((buf.len() >= total).then_some(total))
}

/// One keep-alive connection sending `depth` requests at a time until `deadline`.
async fn rest_connection(
    addr: std::net::SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    deadline: Instant,
    depth: usize,
    done: Arc<AtomicU64>,
) -> Result<(), BenchError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut out = Vec::with_capacity(4096);
    let mut i = 0;
    while Instant::now() < deadline {
        out.clear();
        for _ in 0..depth {
            out.extend_from_slice(&requests[i % requests.len()]);
            i += 1;
        }
        stream.write_all(&out).await?;
        let mut got = 0;
        while got < depth {
            while got < depth {
                match complete_response(&buf)? {
                    Some(n) => {
                        buf.drain(..n);
                        got += 1;
                    }
                    None => break,
                }
            }
            if got < depth && stream.read_buf(&mut buf).await? == 0 {
                return Err("connection closed".into());
            }
        }
        done.fetch_add(depth as u64, Ordering::Relaxed);
    }
    Ok(())
}

async fn rest(connections: usize, depth: usize, seconds: u64) -> Result<(), BenchError> {
    let sim = discord_sim::start(config()).await?;
    let world = sim.world();
    let guild = world.guilds.values().next().ok_or("no guild")?;
    let member = guild.members.keys().next().copied().ok_or("no member")?;
    let requests: Arc<Vec<Vec<u8>>> = Arc::new(
        [
            "/api/v10/users/@me".to_owned(),
            format!("/api/v10/guilds/{}/members/{member}", guild.id),
            format!("/api/v10/guilds/{}/roles", guild.id),
        ]
        .iter()
        .map(|p| {
            format!(
                "GET {p} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bot {}\r\n\r\n",
                sim.addr(),
                sim.token()
            )
            .into_bytes()
        })
        .collect(),
    );
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(rest_connection(
                sim.addr(),
                Arc::clone(&requests),
                deadline,
                depth,
                Arc::clone(&done),
            ))
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let n = done.load(Ordering::Relaxed);
    println!(
        "rest     {connections} keep-alive connections, {depth} request(s) in flight each: {n} requests in {:.2} s: {:>9.0} requests/s",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
    sim.shutdown().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BenchError> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map_or(Ok(300_000), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    for mode in ["none", "zlib-stream", "zstd-stream"] {
        gateway(mode, events).await?;
    }
    rest(32, 1, seconds).await?;
    rest(32, 8, seconds).await?;
    Ok(())
}
