//! HTTPS to Discord: the simulator behind a TLS terminator with a certificate of the test's own
//! CA, trusted through `AEGIS_REST_CA_FILE`; without it the certificate is refused.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{Http, config, proxy, sim};
use hyper::Method;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A TLS listener for `localhost` forwarding every connection to `upstream`, and the PEM file of
/// its certificate.
async fn tls_in_front_of(upstream: String) -> (u16, PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let pem = std::env::temp_dir().join(format!(
        "aegis-rest-ca-{}-{}.pem",
        std::process::id(),
        common::prefix().replace(':', "_")
    ));
    std::fs::write(&pem, certified.cert.pem()).expect("CA file written");
    let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                if let Ok(mut plain) = TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    (port, pem)
}

#[tokio::test]
async fn requests_reach_discord_over_https_with_the_certificate_checked() {
    let sim = sim(|_| {}).await;
    let upstream = sim.http_url().trim_start_matches("http://").to_owned();
    let (port, ca_file) = tls_in_front_of(upstream).await;
    let base: hyper::Uri = format!("https://localhost:{port}").parse().expect("url");

    let mut trusting = config(&sim);
    trusting.discord_url = base.clone();
    trusting.ca_file = Some(ca_file.clone());
    let trusting = proxy(trusting).await;
    let me = Http::new(trusting.addr())
        .send(Method::GET, "/api/v10/users/@me", None, &[])
        .await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["id"], sim.world().bot.id.to_string());
    let channel = common::channels(&sim)[0];
    let posted = Http::new(trusting.addr())
        .post_message(channel, "over TLS")
        .await;
    assert_eq!(posted.status, 200, "{:?}", posted.body);

    // Without the CA the certificate is unknown: nothing is sent, and the client is told why.
    let mut strict = config(&sim);
    strict.discord_url = base;
    let strict = proxy(strict).await;
    let refused = Http::new(strict.addr())
        .send(Method::GET, "/api/v10/users/@me", None, &[])
        .await;
    assert_eq!(refused.status, 502);
    assert_eq!(refused.aegis_error(), Some("upstream_unavailable"));
    assert_eq!(
        sim.rest_calls().len(),
        2,
        "only the trusted proxy's requests reached the simulator"
    );
    trusting.shutdown().await;
    strict.shutdown().await;
    let _ = std::fs::remove_file(ca_file);
    sim.shutdown().await.expect("simulator stops");
}
