//! Configuration from environment variables.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// A configuration value that is missing or cannot be used. Its `Display` is the one line
/// printed at start-up: the variable, what was expected, and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or is empty).
    #[error("{variable} is not set: expected {expected}")]
    Missing {
        /// The variable's name.
        variable: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// A variable is set to something unusable.
    #[error("{variable}={value:?} is invalid: expected {expected}")]
    Invalid {
        /// The variable's name.
        variable: String,
        /// The value found.
        value: String,
        /// What a valid value looks like.
        expected: String,
    },
}

impl ConfigError {
    /// An invalid-value error for `variable`.
    pub fn invalid(variable: &str, value: &str, expected: impl Into<String>) -> Self {
        Self::Invalid {
            variable: variable.to_owned(),
            value: value.to_owned(),
            expected: expected.into(),
        }
    }
}

/// A snapshot of environment variables to read configuration from.
///
/// Services read [`Env::from_process`]; tests build one from pairs with [`Env::from_pairs`], so
/// they never touch the process environment (which other tests share).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment (variables whose name or value is not UTF-8 are skipped).
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// An environment made of `pairs`, for tests.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// This environment with `variable` set to `value` where it is unset (or empty): how an
    /// all-in-one process gives a library the values it would otherwise require.
    pub fn with_default(mut self, variable: &str, value: &str) -> Self {
        if self.raw(variable).is_none() {
            self.vars.insert(variable.to_owned(), value.to_owned());
        }
        self
    }

    /// The raw value of `variable`; empty counts as unset.
    pub fn raw(&self, variable: &str) -> Option<&str> {
        self.vars
            .get(variable)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A string, or `default` when unset.
    pub fn string(&self, variable: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self.raw(variable).unwrap_or(default).to_owned())
    }

    /// A required string: a [`ConfigError::Missing`] when unset.
    pub fn required(&self, variable: &str, expected: &str) -> Result<String, ConfigError> {
        self.raw(variable)
            .map(str::to_owned)
            .ok_or_else(|| ConfigError::Missing {
                variable: variable.to_owned(),
                expected: expected.to_owned(),
            })
    }

    /// A value parsed with [`FromStr`], or `default` when unset. `expected` describes a valid value
    /// for the error message ("a socket address like 127.0.0.1:9100").
    pub fn parse<T: FromStr>(
        &self,
        variable: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.raw(variable) {
            None => Ok(default),
            Some(value) => value
                .trim()
                .parse()
                .map_err(|_| ConfigError::invalid(variable, value, expected)),
        }
    }

    /// A value checked by `convert`, which says why it refuses; `default` when unset.
    pub fn parse_with<T>(
        &self,
        variable: &str,
        default: T,
        convert: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.raw(variable) {
            None => Ok(default),
            Some(value) => {
                convert(value.trim()).map_err(|why| ConfigError::invalid(variable, value, why))
            }
        }
    }

    /// A boolean: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case).
    pub fn bool(&self, variable: &str, default: bool) -> Result<bool, ConfigError> {
        self.parse_with(variable, default, |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(true),
                "false" | "0" | "no" | "off" => Ok(false),
                _ => Err("true or false".to_owned()),
            }
        })
    }

    /// A duration: a number with a unit, `250ms`, `30s`, `5m`, `2h` or `7d`.
    pub fn duration(&self, variable: &str, default: Duration) -> Result<Duration, ConfigError> {
        self.parse_with(variable, default, |v| {
            parse_duration(v).ok_or_else(|| "a duration like 250ms, 30s, 5m, 2h or 7d".to_owned())
        })
    }
}

/// Parses durations as operators and moderators write them: `250ms`, `30s`, `5m`, `2h`, `7d`,
/// `2w` (surrounding spaces ignored).
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = |factor: u64| number.checked_mul(factor).map(Duration::from_secs);
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        "d" => seconds(86_400),
        "w" => seconds(604_800),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::{ConfigError, Env};

    #[test]
    fn unset_and_empty_values_take_the_default() {
        let env = Env::from_pairs([("AEGIS_EMPTY", "")]);
        assert_eq!(env.parse("AEGIS_EMPTY", 7_u32, "a number"), Ok(7));
        assert_eq!(env.parse("AEGIS_UNSET", 8_u32, "a number"), Ok(8));
    }

    #[test]
    fn a_bad_value_names_the_variable_and_the_expectation() {
        let env = Env::from_pairs([("AEGIS_OPS_ADDR", "nine thousand")]);
        let err = env
            .parse::<SocketAddr>("AEGIS_OPS_ADDR", ([127, 0, 0, 1], 9100).into(), "host:port")
            .expect_err("invalid");
        assert_eq!(
            err.to_string(),
            r#"AEGIS_OPS_ADDR="nine thousand" is invalid: expected host:port"#
        );
    }

    #[test]
    fn a_missing_required_value_says_so() {
        let err = Env::default()
            .required("DISCORD_TOKEN", "the bot token")
            .expect_err("missing");
        assert_eq!(
            err.to_string(),
            "DISCORD_TOKEN is not set: expected the bot token"
        );
        assert!(matches!(err, ConfigError::Missing { .. }));
    }

    #[test]
    fn durations_and_booleans_parse() {
        let env = Env::from_pairs([
            ("A", "250ms"),
            ("B", "5m"),
            ("C", "2d"),
            ("D", "5 minutes"),
            ("E", "YES"),
            ("F", "maybe"),
        ]);
        assert_eq!(
            env.duration("A", Duration::ZERO),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            env.duration("B", Duration::ZERO),
            Ok(Duration::from_secs(300))
        );
        assert_eq!(
            env.duration("C", Duration::ZERO),
            Ok(Duration::from_secs(172_800))
        );
        assert!(env.duration("D", Duration::ZERO).is_err());
        assert_eq!(
            super::parse_duration(" 2w "),
            Some(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(super::parse_duration("5y"), None);
        assert_eq!(env.bool("E", false), Ok(true));
        assert!(env.bool("F", false).is_err());
    }
}
