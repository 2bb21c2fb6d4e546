//! The application and its commands (bulk overwrite, list).

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Ctx, id, ok};
use crate::world::World;

pub(super) fn application_json(world: &World) -> Value {
    json!({
        "id": world.application_id.to_string(),
        "name": world.bot.username,
        "icon": null,
        "description": "Simulated application",
        "bot_public": false,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "team": null,
        "flags": 565_248,
        "bot": world.bot.to_json(),
        "owner": {"id": "1", "username": "owner", "discriminator": "0", "global_name": null, "avatar": null, "public_flags": 0, "flags": 0, "primary_guild": null},
        "summary": "",
        "type": null,
        "rpc_origins": [],
        "approximate_guild_count": world.guilds.len(),
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "tags": [],
        "integration_types_config": {"0": {}},
        "flags_new": "565248",
        "role_connections_verification_url": null,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "eligible_oauth2_scopes": ["bot", "applications.commands"],
    })
}

pub(super) fn application(ctx: &Ctx<'_>) -> ApiResult {
    ok(application_json(&ctx.shared.world_read()))
}

fn validate_command(c: &Value) -> Result<(), ApiError> {
    let kind = c.get("type").and_then(Value::as_u64).unwrap_or(1);
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::required("0.name"))?;
    if !(1..=32).contains(&name.chars().count())
        || (kind == 1 && name.chars().any(|ch| ch.is_uppercase() || ch == ' '))
    {
        return Err(ApiError::invalid_field(
            "0.name",
            "APPLICATION_COMMAND_INVALID_NAME",
            "Command name is invalid",
        ));
    }
    if kind == 1 {
        let desc = c
            .get("description")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::required("0.description"))?;
        if !(1..=100).contains(&desc.chars().count()) {
            return Err(ApiError::invalid_field(
                "0.description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
    }
    Ok(())
}

pub(super) fn commands(ctx: &mut Ctx<'_>, app: &str, guild: Option<u64>) -> ApiResult {
    let shared = ctx.shared;
    let mut world = shared.world_write();
    if id(app) != Some(world.application_id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            10002,
            "Unknown Application",
        ));
    }
    if let Some(g) = guild
        && !world.guilds.contains_key(&g)
    {
        return Err(ApiError::missing_access());
    }
    match ctx.method {
        Method::GET => ok(Value::Array(match guild {
            Some(g) => world.guild_commands.get(&g).cloned().unwrap_or_default(),
            None => world.global_commands.clone(),
        })),
        Method::PUT => {
            let list = ctx.body.as_array().cloned().ok_or_else(|| {
                ApiError::invalid_field("_", "BASE_TYPE_ARRAY", "Must be an array.")
            })?;
            if list.len() > 100 {
                return Err(ApiError::invalid_field(
                    "_",
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 100 or fewer in length.",
                ));
            }
            let app_id = world.application_id.to_string();
            let mut out = Vec::with_capacity(list.len());
            for c in list {
                validate_command(&c)?;
                let mut c = c;
                let cid = shared.ids.next().to_string();
                c["id"] = json!(cid);
                c["application_id"] = json!(app_id);
                c["version"] = json!(cid);
                c["default_member_permissions"] = c
                    .get("default_member_permissions")
                    .cloned()
                    .unwrap_or(Value::Null);
                c["type"] = json!(c.get("type").and_then(Value::as_u64).unwrap_or(1));
                if c.get("description").is_none() {
                    c["description"] = json!("");
                }
                if let Some(g) = guild {
                    c["guild_id"] = json!(g.to_string());
                }
                out.push(c);
            }
            match guild {
                Some(g) => {
                    world.guild_commands.insert(g, out.clone());
                }
                None => world.global_commands.clone_from(&out),
            }
            ok(Value::Array(out))
        }
        _ => Err(ApiError::not_found()),
    }
}
