//! Every REST response the simulator gives has the shape Discord's OpenAPI spec describes:
//! types match and required properties are present, recursively.

mod common;

use serde_json::{Value, json};

const SPEC: &str = "../../shared/discord-api/spec/openapi.json";

fn load_spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SPEC);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("spec is JSON")
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    let mut s = schema;
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        s = spec
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("bad ref {r}"));
    }
    s
}

fn type_ok(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn check(
    spec: &Value,
    v: &Value,
    schema: &Value,
    path: &str,
    errs: &mut Vec<String>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    let s = resolve(spec, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = s.get(key).and_then(Value::as_array) {
            let mut best: Option<Vec<String>> = None;
            for variant in variants {
                let mut e = Vec::new();
                check(spec, v, variant, path, &mut e, depth + 1);
                if e.is_empty() {
                    best = Some(e);
                    break;
                }
                if best.as_ref().is_none_or(|b| e.len() < b.len()) {
                    best = Some(e);
                }
            }
            errs.extend(best.unwrap_or_default());
            return;
        }
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for part in all {
            check(spec, v, part, path, errs, depth + 1);
        }
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_ok(v, t) => {
            errs.push(format!("{path}: expected {t}, got {v}"));
            return;
        }
        Some(Value::Array(ts)) if !ts.iter().filter_map(Value::as_str).any(|t| type_ok(v, t)) => {
            errs.push(format!("{path}: expected one of {ts:?}, got {v}"));
            return;
        }
        _ => {}
    }
    if let Some(obj) = v.as_object() {
        for req in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !obj.contains_key(req) {
                errs.push(format!("{path}: missing required property {req}"));
            }
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, sub) in props {
                if let Some(val) = obj.get(k) {
                    check(spec, val, sub, &format!("{path}.{k}"), errs, depth + 1);
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, item) in arr.iter().take(3).enumerate() {
            check(spec, item, items, &format!("{path}[{i}]"), errs, depth + 1);
        }
    }
}

/// Calls the simulator and checks the response against `template`'s schema for the status.
async fn verify(
    sim: &discord_sim::SimHandle,
    spec: &Value,
    errs: &mut Vec<String>,
    method: &str,
    path: &str,
    template: &str,
    body: Option<Value>,
) -> Value {
    let auth = common::bot_auth(sim);
    let body = body.map(|b| b.to_string());
    let (status, _, text) = common::http(
        sim,
        method,
        &format!("/api/v10{path}"),
        &[("Authorization", &auth)],
        body.as_deref(),
    )
    .await;
    let op = spec["paths"][template][method.to_lowercase()].clone();
    assert!(op.is_object(), "{method} {template} is in the spec");
    let response = &op["responses"][status.to_string()];
    let response = if response.is_null() {
        &op["responses"]["4XX"]
    } else {
        response
    };
    let response = resolve(spec, response);
    let value: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    match response.pointer("/content/application~1json/schema") {
        Some(schema) => check(
            spec,
            &value,
            schema,
            &format!("{method} {path} ({status})"),
            errs,
            0,
        ),
        None => assert!(
            status == 204,
            "{method} {path}: status {status} has no schema: {text}"
        ),
    }
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_responses_match_the_openapi_schemas() {
    let spec = load_spec();
    let sim = common::sim(|c| {
        c.guilds = 1;
        c.members = 10;
    })
    .await;
    let world = sim.world();
    let gid = *world.guilds.keys().next().expect("guild");
    let g = &world.guilds[&gid];
    let user = g
        .members
        .values()
        .find(|m| m.roles.is_empty() && m.user_id != g.owner_id)
        .expect("member")
        .user_id;
    let general = g
        .channels
        .values()
        .find(|c| c.name == "general")
        .expect("general")
        .id;
    let app = world.application_id;
    let e = &mut Vec::new();
    let s = &sim;
    let sp = &spec;

    verify(s, sp, e, "GET", "/users/@me", "/users/@me", None).await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/users/{user}"),
        "/users/{user_id}",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        "/users/@me/guilds",
        "/users/@me/guilds",
        None,
    )
    .await;
    verify(s, sp, e, "GET", "/gateway", "/gateway", None).await;
    verify(s, sp, e, "GET", "/gateway/bot", "/gateway/bot", None).await;
    verify(
        s,
        sp,
        e,
        "GET",
        "/applications/@me",
        "/applications/@me",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/guilds/{gid}?with_counts=true"),
        "/guilds/{guild_id}",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/guilds/{gid}/roles"),
        "/guilds/{guild_id}/roles",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/guilds/{gid}/channels"),
        "/guilds/{guild_id}/channels",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/guilds/{gid}/members?limit=5"),
        "/guilds/{guild_id}/members",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/guilds/{gid}/members/search?query=a&limit=5"),
        "/guilds/{guild_id}/members/search",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/guilds/{gid}/members/{user}"),
        "/guilds/{guild_id}/members/{user_id}",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "PATCH",
        &format!("/guilds/{gid}/members/{user}"),
        "/guilds/{guild_id}/members/{user_id}",
        Some(json!({"nick": "calm"})),
    )
    .await;
    let created = verify(
        s,
        sp,
        e,
        "POST",
        &format!("/guilds/{gid}/channels"),
        "/guilds/{guild_id}/channels",
        Some(json!({"name": "ticket-9", "type": 0})),
    )
    .await;
    let ticket = created["id"].as_str().expect("id").to_owned();
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/channels/{ticket}"),
        "/channels/{channel_id}",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "PATCH",
        &format!("/channels/{ticket}"),
        "/channels/{channel_id}",
        Some(json!({"topic": "help"})),
    )
    .await;
    let msg = verify(
        s,
        sp,
        e,
        "POST",
        &format!("/channels/{general}/messages"),
        "/channels/{channel_id}/messages",
        Some(json!({"content": "hi", "embeds": [{"title": "t", "description": "d"}]})),
    )
    .await;
    let mid = msg["id"].as_str().expect("id").to_owned();
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/channels/{general}/messages?limit=5"),
        "/channels/{channel_id}/messages",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/channels/{general}/messages/{mid}"),
        "/channels/{channel_id}/messages/{message_id}",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "PATCH",
        &format!("/channels/{general}/messages/{mid}"),
        "/channels/{channel_id}/messages/{message_id}",
        Some(json!({"content": "edited", "embeds": [{"title": "e"}]})),
    )
    .await;
    verify(
        s,
        sp,
        e,
        "POST",
        &format!("/channels/{general}/threads"),
        "/channels/{channel_id}/threads",
        Some(json!({"name": "case-1", "type": 12})),
    )
    .await;
    verify(
        s,
        sp,
        e,
        "PUT",
        &format!("/guilds/{gid}/bans/{user}"),
        "/guilds/{guild_id}/bans/{user_id}",
        Some(json!({"delete_message_seconds": 60})),
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/guilds/{gid}/bans/{user}"),
        "/guilds/{guild_id}/bans/{user_id}",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/guilds/{gid}/bans"),
        "/guilds/{guild_id}/bans",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/guilds/{gid}/audit-logs"),
        "/guilds/{guild_id}/audit-logs",
        None,
    )
    .await;
    let other = g
        .members
        .values()
        .rev()
        .find(|m| m.user_id != user && m.user_id != world.bot.id)
        .expect("other")
        .user_id;
    verify(
        s,
        sp,
        e,
        "POST",
        "/users/@me/channels",
        "/users/@me/channels",
        Some(json!({"recipient_id": other.to_string()})),
    )
    .await;
    verify(
        s,
        sp,
        e,
        "PUT",
        &format!("/applications/{app}/commands"),
        "/applications/{application_id}/commands",
        Some(json!([{"name": "ping", "description": "Ping", "type": 1}])),
    )
    .await;
    verify(
        s,
        sp,
        e,
        "DELETE",
        &format!("/channels/{ticket}"),
        "/channels/{channel_id}",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        "/channels/1",
        "/channels/{channel_id}",
        None,
    )
    .await;
    verify(
        s,
        sp,
        e,
        "POST",
        &format!("/channels/{general}/messages"),
        "/channels/{channel_id}/messages",
        Some(json!({"content": "x".repeat(2001)})),
    )
    .await;

    let (iid, token) = sim
        .inject_interaction(
            2,
            general,
            g.owner_id,
            json!({"id": "1", "name": "ping", "type": 1}),
        )
        .expect("inject");
    verify(
        s,
        sp,
        e,
        "POST",
        &format!("/interactions/{iid}/{token}/callback?with_response=true"),
        "/interactions/{interaction_id}/{interaction_token}/callback",
        Some(json!({"type": 4, "data": {"content": "pong"}})),
    )
    .await;
    verify(
        s,
        sp,
        e,
        "POST",
        &format!("/webhooks/{app}/{token}"),
        "/webhooks/{webhook_id}/{webhook_token}",
        Some(json!({"content": "more"})),
    )
    .await;
    verify(
        s,
        sp,
        e,
        "GET",
        &format!("/webhooks/{app}/{token}/messages/@original"),
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
        None,
    )
    .await;

    assert!(e.is_empty(), "{} shape errors:\n{}", e.len(), e.join("\n"));
    sim.shutdown().await.expect("shutdown");
}
