//! Reloads: a token rejected with 401 (or a webhook gone with 404) is used again after a reload,
//! and `DISCORD_TOKEN_FILE` is read again, both in process and through SIGHUP to the binary.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{Http, config, proxy, sim};
use hyper::Method;
use serde_json::json;

/// A token file of this test, holding `token`.
fn token_file(tag: &str, token: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "aegis-rest-token-{tag}-{}-{}",
        std::process::id(),
        common::prefix().replace(':', "_")
    ));
    std::fs::write(&path, format!("{token}\n")).expect("token file written");
    path
}

#[tokio::test]
async fn a_reload_reads_the_token_file_again_and_forgets_401s_and_404s() {
    let sim = sim(|_| {}).await;
    let path = token_file("inproc", "not-the-token");
    let mut config = config(&sim);
    config.token = Some("not-the-token".to_owned());
    config.token_file = Some(path.clone());
    let proxy = proxy(config).await;
    let http = Http::new(proxy.addr());
    assert_eq!(
        http.send(Method::GET, "/api/v10/users/@me", None, &[])
            .await
            .status,
        401
    );
    let refused = http
        .send(Method::GET, "/api/v10/users/@me", None, &[])
        .await;
    assert_eq!(refused.aegis_error(), Some("token_invalid"));
    // The operator puts the right token in the file and reloads.
    std::fs::write(&path, sim.token()).expect("token file rewritten");
    proxy.reload();
    let me = http
        .send(Method::GET, "/api/v10/users/@me", None, &[])
        .await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["id"], sim.world().bot.id.to_string());
    // A webhook Discord answered 404 for is tried again after a reload too.
    let webhook = "/api/v10/webhooks/123456789/deleted-token";
    let post = || http.send(Method::POST, webhook, Some(json!({"content": "x"})), &[]);
    assert_eq!(post().await.status, 404);
    assert_eq!(post().await.aegis_error(), Some("webhook_gone"));
    proxy.reload();
    let again = post().await;
    assert_eq!(
        (again.status, again.aegis_error()),
        (404, None),
        "the webhook is tried again after the reload"
    );
    let metrics = common::metrics(&proxy).await;
    assert!(metrics.contains("aegis_rest_reloads_total 2"), "{metrics}");

    // A file that cannot be read keeps the token in use.
    std::fs::remove_file(&path).expect("token file removed");
    proxy.reload();
    assert_eq!(
        http.send(Method::GET, "/api/v10/users/@me", None, &[])
            .await
            .status,
        200
    );
    proxy.shutdown().await;
    sim.shutdown().await.expect("simulator stops");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn sighup_reloads_the_binary() {
    let sim = sim(|_| {}).await;
    let path = token_file("binary", "not-the-token");
    let (port, ops_port) = (free_port(), free_port());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rest-proxy"))
        .env("DISCORD_TOKEN_FILE", &path)
        .env("AEGIS_REST_DISCORD_URL", sim.http_url())
        .env("AEGIS_REST_ADDR", format!("127.0.0.1:{port}"))
        .env("AEGIS_REST_OPS_ADDR", format!("127.0.0.1:{ops_port}"))
        .env("AEGIS_REST_SINGLE_INSTANCE", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("rest-proxy starts");
    let addr = format!("127.0.0.1:{port}").parse().expect("address");
    let http = Http::new(addr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "rest-proxy listens");
        common::pause(20).await;
    }
    assert_eq!(
        http.send(Method::GET, "/api/v10/users/@me", None, &[])
            .await
            .status,
        401
    );
    std::fs::write(&path, sim.token()).expect("token file rewritten");
    let pid = child.id().expect("a pid").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let status = loop {
        let status = http
            .send(Method::GET, "/api/v10/users/@me", None, &[])
            .await
            .status;
        if status == 200 || tokio::time::Instant::now() > deadline {
            break status;
        }
        common::pause(20).await;
    };
    assert_eq!(status, 200, "SIGHUP re-read the token file");
    assert!(
        child.try_wait().expect("child state").is_none(),
        "SIGHUP does not stop the process"
    );
    child.start_kill().expect("kill");
    let _ = child.wait().await;
    let _ = std::fs::remove_file(&path);
    sim.shutdown().await.expect("simulator stops");
}
