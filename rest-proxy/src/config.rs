//! Configuration from `AEGIS_REST_*` variables and `DISCORD_TOKEN`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aegis_service::{ConfigError, Env};
use hyper::Uri;

/// How rest-proxy is set up. [`Config::from_env`] reads it; tests build it with
/// [`Config::for_tests`] and adjust fields.
#[derive(Clone)]
pub struct Config {
    /// Where workers send Discord-compatible requests (`AEGIS_REST_ADDR`).
    pub addr: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`AEGIS_REST_OPS_ADDR`).
    pub ops_addr: SocketAddr,
    /// Discord's base URL, scheme and authority (`AEGIS_REST_DISCORD_URL`).
    pub discord_url: Uri,
    /// The bot token added to requests that carry no `Authorization` (`DISCORD_TOKEN`, required by
    /// [`Config::from_env`] unless `token_file` is set; `None` only in tests, forwarding each
    /// request's own header).
    pub token: Option<String>,
    /// A file holding the bot token (`DISCORD_TOKEN_FILE`, instead of `DISCORD_TOKEN`), read at
    /// start and again on every reload (SIGHUP), so a rotated token takes effect without a
    /// restart.
    pub token_file: Option<PathBuf>,
    /// Extra PEM certificates to trust for Discord's base URL besides the webpki roots
    /// (`AEGIS_REST_CA_FILE`): a TLS-intercepting egress proxy, or a test's own CA.
    pub ca_file: Option<PathBuf>,
    /// Redis holding the shared rate-limit state (`AEGIS_REST_REDIS_URL`).
    pub redis_url: String,
    /// Prefix of every Redis key (`AEGIS_REST_REDIS_PREFIX`), `aegis:ratelimit:`.
    pub redis_prefix: String,
    /// Keep all state in memory, for one instance only (`AEGIS_REST_SINGLE_INSTANCE`).
    pub single_instance: bool,
    /// Requests per second per token (`AEGIS_REST_GLOBAL_LIMIT`), 50 like Discord's default.
    pub global_limit: u32,
    /// Extra length of the rolling global window, absorbing network jitter
    /// (`AEGIS_REST_GLOBAL_MARGIN`).
    pub global_margin: Duration,
    /// Longest a request may wait for a rate limit unless it says otherwise with
    /// `X-Aegis-Deadline-Ms` (`AEGIS_REST_DEADLINE`).
    pub default_deadline: Duration,
    /// Longest wait for Discord's response once sent (`AEGIS_REST_UPSTREAM_TIMEOUT`).
    pub upstream_timeout: Duration,
    /// Invalid requests (401, 403, non-shared 429) per 10 minutes at which requests are refused
    /// locally (`AEGIS_REST_INVALID_REQUEST_LIMIT`); Discord bans at 10,000.
    pub invalid_request_limit: u32,
    /// Largest request body accepted (`AEGIS_REST_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// When Redis is unreachable, each instance uses this fraction (1/n) of every limit
    /// (`AEGIS_REST_FALLBACK_SHARE`, the number of instances expected).
    pub fallback_share: u32,
    /// The application id, marking `/webhooks/{application_id}/...` as interaction follow-ups
    /// (`AEGIS_REST_APPLICATION_ID`; derived from a bot token when unset).
    pub application_id: Option<u64>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("ops_addr", &self.ops_addr)
            .field("discord_url", &self.discord_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("redis_url", &self.redis_url)
            .field("redis_prefix", &self.redis_prefix)
            .field("single_instance", &self.single_instance)
            .field("global_limit", &self.global_limit)
            .field("default_deadline", &self.default_deadline)
            .field("invalid_request_limit", &self.invalid_request_limit)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Reads the configuration from `env`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first variable that is unusable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::for_tests("https://discord.com".parse().unwrap_or_default());
        let token_file = env.raw("DISCORD_TOKEN_FILE").map(PathBuf::from);
        let token = match (&token_file, env.raw("DISCORD_TOKEN")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "DISCORD_TOKEN_FILE",
                    env.raw("DISCORD_TOKEN_FILE").unwrap_or(""),
                    "DISCORD_TOKEN unset: give the token one way, not both",
                ));
            }
            (Some(path), None) => Some(read_token_file(path).map_err(|err| {
                ConfigError::invalid("DISCORD_TOKEN_FILE", &path.display().to_string(), err)
            })?),
            (None, _) => Some(env.required(
                "DISCORD_TOKEN",
                "the bot token (or DISCORD_TOKEN_FILE, a file holding it)",
            )?),
        };
        let application_id = match env.raw("AEGIS_REST_APPLICATION_ID") {
            Some(_) => Some(env.parse("AEGIS_REST_APPLICATION_ID", 0, "a snowflake")?),
            None => token.as_deref().and_then(application_id_from_token),
        };
        Ok(Self {
            addr: env.parse(
                "AEGIS_REST_ADDR",
                ([127, 0, 0, 1], 8081).into(),
                "a socket address like 127.0.0.1:8081",
            )?,
            ops_addr: env.parse(
                "AEGIS_REST_OPS_ADDR",
                ([127, 0, 0, 1], 9102).into(),
                "a socket address like 127.0.0.1:9102",
            )?,
            discord_url: env.parse_with("AEGIS_REST_DISCORD_URL", defaults.discord_url, |v| {
                parse_base_url(v)
            })?,
            token,
            token_file,
            ca_file: match env.raw("AEGIS_REST_CA_FILE") {
                None => None,
                Some(path) => {
                    crate::upstream::read_ca_file(Path::new(path)).map_err(|reason| {
                        ConfigError::invalid(
                            "AEGIS_REST_CA_FILE",
                            path,
                            format!("a file of PEM certificates, but it {reason}"),
                        )
                    })?;
                    Some(PathBuf::from(path))
                }
            },
            redis_url: env.string("AEGIS_REST_REDIS_URL", "redis://127.0.0.1:6379")?,
            redis_prefix: env.string("AEGIS_REST_REDIS_PREFIX", "aegis:ratelimit:")?,
            single_instance: env.bool("AEGIS_REST_SINGLE_INSTANCE", false)?,
            global_limit: env.parse_with("AEGIS_REST_GLOBAL_LIMIT", 50, |v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| "a whole number of requests per second, at least 1".to_owned())
            })?,
            global_margin: env.duration("AEGIS_REST_GLOBAL_MARGIN", defaults.global_margin)?,
            default_deadline: env.duration("AEGIS_REST_DEADLINE", defaults.default_deadline)?,
            upstream_timeout: env
                .duration("AEGIS_REST_UPSTREAM_TIMEOUT", defaults.upstream_timeout)?,
            invalid_request_limit: env.parse_with(
                "AEGIS_REST_INVALID_REQUEST_LIMIT",
                defaults.invalid_request_limit,
                |v| {
                    v.parse::<u32>()
                        .ok()
                        .filter(|n| (1..10_000).contains(n))
                        .ok_or_else(|| "a whole number from 1 to 9999".to_owned())
                },
            )?,
            max_body_bytes: env.parse(
                "AEGIS_REST_MAX_BODY_BYTES",
                defaults.max_body_bytes,
                "a number of bytes",
            )?,
            fallback_share: env.parse_with("AEGIS_REST_FALLBACK_SHARE", 2, |v| {
                v.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| "a whole number of instances, at least 1".to_owned())
            })?,
            application_id,
        })
    }

    /// Defaults for tests: ephemeral ports, `discord_url` as given, Redis on localhost, no token.
    pub fn for_tests(discord_url: Uri) -> Self {
        Self {
            addr: ([127, 0, 0, 1], 0).into(),
            ops_addr: ([127, 0, 0, 1], 0).into(),
            discord_url,
            token: None,
            token_file: None,
            ca_file: None,
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_prefix: "aegis:ratelimit:".to_owned(),
            single_instance: false,
            global_limit: 50,
            global_margin: Duration::from_millis(100),
            default_deadline: Duration::from_secs(10),
            upstream_timeout: Duration::from_secs(30),
            invalid_request_limit: 8_000,
            max_body_bytes: 100 << 20,
            fallback_share: 2,
            application_id: None,
        }
    }
}

/// Reads a token file: its content without surrounding whitespace, which must not be empty.
pub(crate) fn read_token_file(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("a readable file holding the bot token ({err})"))?;
    let token = text.trim();
    // `Bot <token>` and `Bearer <token>` are accepted, as in DISCORD_TOKEN.
    let bare = ["Bot ", "Bearer "]
        .iter()
        .find_map(|prefix| token.strip_prefix(prefix))
        .unwrap_or(token);
    if bare.is_empty() || bare.contains(char::is_whitespace) {
        return Err("a file holding the bot token and nothing else".to_owned());
    }
    Ok(token.to_owned())
}

/// Checks a base URL: `http` or `https`, an authority, nothing else.
fn parse_base_url(value: &str) -> Result<Uri, String> {
    let expected = || "an http(s) URL like https://discord.com".to_owned();
    let uri: Uri = value
        .trim_end_matches('/')
        .parse()
        .map_err(|_| expected())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) if uri.path() == "/" || uri.path().is_empty() => Ok(uri),
        _ => Err(expected()),
    }
}

/// A bot token's first part is the bot's user id in base64, which is its application id.
pub(crate) fn application_id_from_token(token: &str) -> Option<u64> {
    let token = token.strip_prefix("Bot ").unwrap_or(token);
    let first = token.split('.').next()?;
    let decoded = base64_decode(first)?;
    std::str::from_utf8(&decoded).ok()?.parse().ok()
}

fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut buffer = 0_u32;
    let mut bits = 0;
    for byte in input.bytes().filter(|b| *b != b'=') {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use aegis_service::Env;

    use super::{Config, application_id_from_token};

    #[test]
    fn defaults_and_errors_name_the_variable() {
        assert!(
            Config::from_env(&Env::default())
                .unwrap_err()
                .to_string()
                .contains("DISCORD_TOKEN")
        );
        let env = |pairs: &[(&str, &str)]| {
            Env::from_pairs(pairs.iter().copied().chain([("DISCORD_TOKEN", "t")]))
        };
        let config = Config::from_env(&env(&[])).unwrap();
        assert_eq!(config.addr.port(), 8081);
        assert_eq!(config.global_limit, 50);
        assert_eq!(config.discord_url.to_string(), "https://discord.com/");
        let err = Config::from_env(&env(&[("AEGIS_REST_GLOBAL_LIMIT", "0")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("AEGIS_REST_GLOBAL_LIMIT=\"0\" is invalid"),
            "{err}"
        );
        let err = Config::from_env(&env(&[("AEGIS_REST_DISCORD_URL", "ftp://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("AEGIS_REST_DISCORD_URL"), "{err}");
        let err = Config::from_env(&env(&[("AEGIS_REST_CA_FILE", "/nonexistent/ca.pem")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("AEGIS_REST_CA_FILE=\"/nonexistent/ca.pem\" is invalid")
                && err.contains("cannot be read"),
            "{err}"
        );
        let err = Config::from_env(&env(&[("AEGIS_REST_INVALID_REQUEST_LIMIT", "10000")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("AEGIS_REST_INVALID_REQUEST_LIMIT"), "{err}");
    }

    #[test]
    fn the_token_can_come_from_a_file() {
        let path = std::env::temp_dir().join(format!("aegis-token-{}", std::process::id()));
        std::fs::write(&path, "file-token\n").unwrap();
        let file = path.to_str().unwrap();
        let config = Config::from_env(&Env::from_pairs([("DISCORD_TOKEN_FILE", file)])).unwrap();
        assert_eq!(config.token.as_deref(), Some("file-token"));
        assert_eq!(config.token_file.as_deref(), Some(path.as_path()));
        let both = Config::from_env(&Env::from_pairs([
            ("DISCORD_TOKEN_FILE", file),
            ("DISCORD_TOKEN", "t"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(both.contains("not both"), "{both}");
        std::fs::write(&path, "Bot file-token\n").unwrap();
        let prefixed = Config::from_env(&Env::from_pairs([("DISCORD_TOKEN_FILE", file)])).unwrap();
        assert_eq!(prefixed.token.as_deref(), Some("Bot file-token"));
        std::fs::write(&path, "two words").unwrap();
        assert!(Config::from_env(&Env::from_pairs([("DISCORD_TOKEN_FILE", file)])).is_err());
        std::fs::write(&path, "  \n").unwrap();
        let empty = Config::from_env(&Env::from_pairs([("DISCORD_TOKEN_FILE", file)]))
            .unwrap_err()
            .to_string();
        assert!(empty.starts_with("DISCORD_TOKEN_FILE="), "{empty}");
        std::fs::remove_file(&path).unwrap();
        let missing = Config::from_env(&Env::from_pairs([("DISCORD_TOKEN_FILE", file)]))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("readable file"), "{missing}");
    }

    #[test]
    fn application_id_comes_from_the_token() {
        // base64("123456789012345678") = MTIzNDU2Nzg5MDEyMzQ1Njc4
        assert_eq!(
            application_id_from_token("MTIzNDU2Nzg5MDEyMzQ1Njc4.x.y"),
            Some(123_456_789_012_345_678)
        );
        assert_eq!(application_id_from_token("sim-token"), None);
        let debug = format!(
            "{:?}",
            Config::from_env(&Env::from_pairs([("DISCORD_TOKEN", "secret")])).unwrap()
        );
        assert!(!debug.contains("secret"));
    }
}
