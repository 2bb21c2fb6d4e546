//! The deployment namespace every subject, stream and consumer name is derived from.

use std::fmt;

/// The first token of every subject and the prefix of every stream name (`aegis` by default).
///
/// Several Aegis deployments, or several test runs, can share one NATS server by using different
/// namespaces. A namespace is 1 to 32 characters of lowercase ASCII letters, digits, `_` and `-`:
/// valid both as a NATS subject token and, upper-cased, inside a JetStream stream name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Namespace(String);

/// Why a string is not a valid [`Namespace`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid namespace {value:?}: expected 1 to 32 characters of a-z, 0-9, '_' or '-'")]
pub struct NamespaceError {
    /// The rejected value.
    pub value: String,
}

impl Namespace {
    /// The namespace of a production deployment.
    pub const DEFAULT: &'static str = "aegis";

    /// Validates `value` as a namespace.
    pub fn new(value: impl Into<String>) -> Result<Self, NamespaceError> {
        let value = value.into();
        let valid_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        if value.is_empty() || value.len() > 32 || !value.chars().all(valid_char) {
            return Err(NamespaceError { value });
        }
        Ok(Self(value))
    }

    /// The namespace as used in subjects (`aegis`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stream name for `suffix` in this namespace: `aegis` + `EVENTS` -> `AEGIS_EVENTS`.
    pub fn stream_name(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.0.to_ascii_uppercase())
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Namespace {
    type Err = NamespaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::Namespace;

    #[test]
    fn accepts_subject_safe_names() {
        for ok in ["aegis", "t_123-x", "a"] {
            assert_eq!(Namespace::new(ok).map(|n| n.to_string()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn rejects_names_that_would_break_subjects_or_stream_names() {
        for bad in ["", "Aegis", "a.b", "a*", "a>", "a b", &"x".repeat(33)] {
            assert!(Namespace::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn stream_names_are_upper_case_with_suffix() {
        assert_eq!(Namespace::default().stream_name("EVENTS"), "AEGIS_EVENTS");
    }
}
