//! OAuth2 for the dashboard: authorize, code exchange, refresh and bearer `/users/@me`.

mod common;

use serde_json::Value;

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn authorization_code_flow() {
    let sim = common::sim(|c| c.guilds = 2).await;
    let world = sim.world();
    let app = world.application_id;
    let owner = world.guilds.values().next().expect("guild").owner_id;
    let redirect = "http%3A%2F%2Flocalhost%3A3000%2Fcallback";
    let (status, headers, _) = common::http(
        &sim,
        "GET",
        &format!("/oauth2/authorize?client_id={app}&response_type=code&redirect_uri={redirect}&scope=identify%20guilds&state=s%201"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 302);
    let location = headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.clone())
        .expect("location");
    assert!(
        location.starts_with("http://localhost:3000/callback?code="),
        "{location}"
    );
    assert!(location.ends_with("&state=s%201"));
    let code = location
        .split("code=")
        .nth(1)
        .and_then(|c| c.split('&').next())
        .expect("code")
        .to_owned();

    let basic = format!("Basic {}", base64(format!("{app}:sim-secret").as_bytes()));
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    let form = format!("grant_type=authorization_code&code={code}&redirect_uri={redirect}");
    let (status, _, body) = common::http(
        &sim,
        "POST",
        "/api/v10/oauth2/token",
        &[("Authorization", &basic), form_type],
        Some(&form),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let tokens: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 604_800);
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().expect("token"));

    let (status, _, me) = common::http(
        &sim,
        "GET",
        "/api/v10/users/@me",
        &[("Authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&me).expect("json")["id"],
        owner.to_string()
    );
    let (_, _, guilds) = common::http(
        &sim,
        "GET",
        "/api/v10/users/@me/guilds",
        &[("Authorization", &bearer)],
        None,
    )
    .await;
    let guilds: Value = serde_json::from_str(&guilds).expect("json");
    assert!(
        guilds
            .as_array()
            .is_some_and(|g| !g.is_empty() && g[0]["owner"] == true)
    );
    let (status, _, _) = common::http(
        &sim,
        "GET",
        &format!("/api/v10/guilds/{}", world.guilds.keys().next().expect("g")),
        &[("Authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(status, 401, "a user token cannot call bot routes");

    // A code works once; refresh tokens give new access tokens.
    let (status, _, body) = common::http(
        &sim,
        "POST",
        "/api/v10/oauth2/token",
        &[("Authorization", &basic), form_type],
        Some(&form),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["error"],
        "invalid_grant"
    );
    let refresh = format!(
        "grant_type=refresh_token&refresh_token={}",
        tokens["refresh_token"].as_str().expect("refresh")
    );
    let (status, _, _) = common::http(
        &sim,
        "POST",
        "/api/v10/oauth2/token",
        &[("Authorization", &basic), form_type],
        Some(&refresh),
    )
    .await;
    assert_eq!(status, 200);
    let bad = format!("Basic {}", base64(format!("{app}:wrong").as_bytes()));
    let (status, _, body) = common::http(
        &sim,
        "POST",
        "/api/v10/oauth2/token",
        &[("Authorization", &bad), form_type],
        Some(&refresh),
    )
    .await;
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).expect("json")["error"].clone()
        ),
        (401, Value::from("invalid_client"))
    );
    sim.shutdown().await.expect("shutdown");
}
