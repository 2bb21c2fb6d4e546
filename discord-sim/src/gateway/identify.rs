//! IDENTIFY validation, each failure with Discord's close code.

use serde_json::Value;

use crate::config::Config;
use crate::intents;

/// A valid IDENTIFY.
#[derive(Debug)]
pub(crate) struct Identify {
    pub(crate) shard: [u32; 2],
    pub(crate) intents: u64,
    pub(crate) large_threshold: usize,
}

/// An IDENTIFY refused with a close code.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
}

const fn refuse(code: u16, reason: &'static str) -> Refusal {
    Refusal { code, reason }
}

/// Checks an IDENTIFY's `d` against the configuration; `guilds_for` counts the guilds a shard
/// would hold (for 4011).
pub(crate) fn validate(
    d: &Value,
    config: &Config,
    guilds_for: impl Fn(u32, u32) -> usize,
) -> Result<Identify, Refusal> {
    let Some(obj) = d.as_object() else {
        return Err(refuse(4001, "Invalid payload for opcode 2."));
    };
    let Some(token) = obj.get("token").and_then(Value::as_str) else {
        return Err(refuse(4001, "Invalid payload: token missing."));
    };
    let token = token.strip_prefix("Bot ").unwrap_or(token);
    if token != config.token {
        return Err(refuse(4004, "Authentication failed."));
    }
    if !obj.get("properties").is_some_and(Value::is_object) {
        return Err(refuse(4001, "Invalid payload: properties missing."));
    }
    let Some(bits) = obj.get("intents").and_then(Value::as_u64) else {
        return Err(refuse(4013, "Invalid intent(s)."));
    };
    if bits & !intents::ALL != 0 {
        return Err(refuse(4013, "Invalid intent(s)."));
    }
    if bits & intents::PRIVILEGED & !config.privileged_intents != 0 {
        return Err(refuse(4014, "Disallowed intent(s)."));
    }
    let shard = match obj.get("shard") {
        None | Some(Value::Null) => [0, 1],
        Some(Value::Array(a)) if a.len() == 2 => {
            let id = a[0].as_u64().and_then(|v| u32::try_from(v).ok());
            let n = a[1].as_u64().and_then(|v| u32::try_from(v).ok());
            match (id, n) {
                (Some(id), Some(n)) if n >= 1 && id < n => [id, n],
                _ => return Err(refuse(4010, "Invalid shard.")),
            }
        }
        Some(_) => return Err(refuse(4010, "Invalid shard.")),
    };
    let held = guilds_for(shard[0], shard[1]);
    if held > config.max_guilds_per_shard as usize {
        return Err(refuse(4011, "Sharding required."));
    }
    let large_threshold = obj
        .get("large_threshold")
        .and_then(Value::as_u64)
        .map_or(50, |v| v.clamp(50, 250));
    Ok(Identify {
        shard,
        intents: bits,
        large_threshold: usize::try_from(large_threshold).unwrap_or(50),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(d: Value) -> Result<Identify, Refusal> {
        let config = Config {
            privileged_intents: intents::GUILD_MEMBERS,
            max_guilds_per_shard: 10,
            ..Config::default()
        };
        validate(&d, &config, |_, n| 20 / n as usize)
    }

    fn code(d: Value) -> u16 {
        check(d).expect_err("refused").code
    }

    #[test]
    fn identify_close_codes() {
        let p = json!({"os": "linux", "browser": "t", "device": "t"});
        assert_eq!(
            code(json!({"token": "x", "properties": p, "intents": 1, "shard": [0, 2]})),
            4004
        );
        assert_eq!(
            code(
                json!({"token": "sim-token", "properties": p, "intents": 1 << 17, "shard": [0, 2]})
            ),
            4013
        );
        assert_eq!(
            code(
                json!({"token": "sim-token", "properties": p, "intents": intents::MESSAGE_CONTENT, "shard": [0, 2]})
            ),
            4014
        );
        assert_eq!(
            code(json!({"token": "sim-token", "properties": p, "intents": 1, "shard": [2, 2]})),
            4010
        );
        assert_eq!(
            code(json!({"token": "sim-token", "properties": p, "intents": 1})),
            4011
        );
        assert_eq!(code(json!({"token": "sim-token", "intents": 1})), 4001);
        let ok = check(json!({"token": "Bot sim-token", "properties": p, "intents": 3, "shard": [1, 2], "large_threshold": 1000}))
            .expect("valid");
        assert_eq!(ok.shard, [1, 2]);
        assert_eq!(ok.large_threshold, 250);
    }
}
