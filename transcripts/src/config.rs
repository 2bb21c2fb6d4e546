//! Where transcripts are kept and how big an attachment may be, from environment variables.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use aegis_service::{ConfigError, Env};

/// The store variable and its default.
const STORE_VAR: &str = "AEGIS_TRANSCRIPTS_STORE";
const STORE_DEFAULT: &str = "dir:./data/transcripts";
const STORE_EXPECTED: &str = "dir:/a/directory or s3://bucket-name";

/// Where transcripts are kept.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A local directory (created when missing): a single-machine install.
    Directory(PathBuf),
    /// An S3 bucket (AWS, or any S3-compatible server through `endpoint`), addressed
    /// path-style (`{endpoint}/{bucket}/{key}`) when an endpoint is given.
    S3 {
        /// The S3 endpoint, e.g. `http://127.0.0.1:5000`; `None` for AWS itself.
        endpoint: Option<String>,
        /// The bucket, which must exist.
        bucket: String,
        /// The bucket's region (`us-east-1` where it does not matter).
        region: String,
        /// The access key id.
        access_key: String,
        /// The secret access key (never printed by `Debug`).
        secret_key: String,
    },
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Directory(path) => f.debug_tuple("Directory").field(path).finish(),
            Self::S3 {
                endpoint,
                bucket,
                region,
                access_key,
                secret_key: _,
            } => f
                .debug_struct("S3")
                .field("endpoint", endpoint)
                .field("bucket", bucket)
                .field("region", region)
                .field("access_key", access_key)
                .field("secret_key", &"<redacted>")
                .finish(),
        }
    }
}

impl StoreConfig {
    /// Reads `AEGIS_TRANSCRIPTS_STORE` (`dir:PATH`, default `dir:./data/transcripts`, or
    /// `s3://BUCKET`) and, for S3, `AEGIS_S3_ENDPOINT` (optional, `http(s)://host[:port]`),
    /// `AEGIS_S3_REGION` (default `us-east-1`), `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
    /// (both required).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the variable that is missing or malformed.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let store = env.string(STORE_VAR, STORE_DEFAULT)?;
        let store = store.trim();
        if let Some(path) = store.strip_prefix("dir:") {
            if path.is_empty() {
                return Err(ConfigError::invalid(STORE_VAR, store, STORE_EXPECTED));
            }
            return Ok(Self::Directory(PathBuf::from(path)));
        }
        let Some(bucket) = store.strip_prefix("s3://") else {
            return Err(ConfigError::invalid(STORE_VAR, store, STORE_EXPECTED));
        };
        let bucket = bucket.strip_suffix('/').unwrap_or(bucket);
        if !valid_bucket_name(bucket) {
            return Err(ConfigError::invalid(
                STORE_VAR,
                store,
                "s3://bucket-name with a bucket name of 3 to 63 lowercase letters, digits, \
                 dots and hyphens (no key prefix)",
            ));
        }
        let endpoint = match env.raw("AEGIS_S3_ENDPOINT") {
            None => None,
            Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
                Some(e.trim_end_matches('/').to_owned())
            }
            Some(e) => {
                return Err(ConfigError::invalid(
                    "AEGIS_S3_ENDPOINT",
                    e,
                    "an http:// or https:// URL like http://127.0.0.1:5000",
                ));
            }
        };
        Ok(Self::S3 {
            endpoint,
            bucket: bucket.to_owned(),
            region: env.string("AEGIS_S3_REGION", "us-east-1")?,
            access_key: env.required("AWS_ACCESS_KEY_ID", "the S3 access key id")?,
            secret_key: env.required("AWS_SECRET_ACCESS_KEY", "the S3 secret access key")?,
        })
    }
}

/// S3's bucket naming rules (the part that matters for a URL path).
fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Bounds of one transcript build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Attachments up to this size are copied into the store; bigger ones keep their Discord
    /// URL and are marked skipped (default 8 MiB).
    pub attachment_max_bytes: u64,
    /// How long one attachment download may take (default 30 s); a slower one is skipped.
    pub attachment_timeout: Duration,
    /// Where the temporary files are written (default: the system's temporary directory).
    pub work_dir: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            attachment_max_bytes: 8 << 20,
            attachment_timeout: Duration::from_secs(30),
            work_dir: None,
        }
    }
}

impl Limits {
    /// Reads `AEGIS_TRANSCRIPTS_ATTACHMENT_MAX_BYTES` (default 8388608),
    /// `AEGIS_TRANSCRIPTS_ATTACHMENT_TIMEOUT` (default `30s`) and `AEGIS_TRANSCRIPTS_WORK_DIR`
    /// (default: the system's temporary directory).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the malformed variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            attachment_max_bytes: env.parse(
                "AEGIS_TRANSCRIPTS_ATTACHMENT_MAX_BYTES",
                default.attachment_max_bytes,
                "a number of bytes like 8388608",
            )?,
            attachment_timeout: env.duration(
                "AEGIS_TRANSCRIPTS_ATTACHMENT_TIMEOUT",
                default.attachment_timeout,
            )?,
            work_dir: env.raw("AEGIS_TRANSCRIPTS_WORK_DIR").map(PathBuf::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn the_default_is_a_local_directory() {
        assert_eq!(
            StoreConfig::from_env(&env(&[])).expect("default"),
            StoreConfig::Directory(PathBuf::from("./data/transcripts"))
        );
        assert_eq!(
            StoreConfig::from_env(&env(&[(STORE_VAR, "dir:/var/lib/aegis/transcripts")]))
                .expect("dir"),
            StoreConfig::Directory(PathBuf::from("/var/lib/aegis/transcripts"))
        );
    }

    #[test]
    fn s3_needs_credentials_and_takes_an_endpoint() {
        let config = StoreConfig::from_env(&env(&[
            (STORE_VAR, "s3://aegis-transcripts"),
            ("AEGIS_S3_ENDPOINT", "http://127.0.0.1:5000/"),
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
        ]))
        .expect("s3");
        assert_eq!(
            config,
            StoreConfig::S3 {
                endpoint: Some("http://127.0.0.1:5000".to_owned()),
                bucket: "aegis-transcripts".to_owned(),
                region: "us-east-1".to_owned(),
                access_key: "id".to_owned(),
                secret_key: "very-secret".to_owned(),
            }
        );
        assert!(!format!("{config:?}").contains("very-secret"));
        let missing =
            StoreConfig::from_env(&env(&[(STORE_VAR, "s3://bucket")])).expect_err("no credentials");
        assert!(
            missing.to_string().contains("AWS_ACCESS_KEY_ID"),
            "{missing}"
        );
    }

    #[test]
    fn malformed_values_are_named() {
        for (var, value) in [
            (STORE_VAR, "/var/lib/aegis"),
            (STORE_VAR, "dir:"),
            (STORE_VAR, "s3://Bad_Bucket"),
            (STORE_VAR, "s3://bucket/prefix"),
        ] {
            let e = StoreConfig::from_env(&env(&[(var, value)])).expect_err(value);
            assert!(e.to_string().contains(var), "{e}");
        }
        let e = StoreConfig::from_env(&env(&[
            (STORE_VAR, "s3://bucket"),
            ("AEGIS_S3_ENDPOINT", "127.0.0.1:5000"),
        ]))
        .expect_err("endpoint without scheme");
        assert!(e.to_string().contains("AEGIS_S3_ENDPOINT"), "{e}");
        let e = Limits::from_env(&env(&[("AEGIS_TRANSCRIPTS_ATTACHMENT_MAX_BYTES", "8MB")]))
            .expect_err("not a number");
        assert!(e.to_string().contains("ATTACHMENT_MAX_BYTES"), "{e}");
    }
}
