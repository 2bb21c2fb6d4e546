//! Structured logs through `tracing`.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// How log lines are written to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line (the default: what log collectors ingest).
    #[default]
    Json,
    /// Human-readable lines, for a terminal.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            _ => Err(()),
        }
    }
}

/// Installs the global `tracing` subscriber: level and targets from `RUST_LOG` (default `info`),
/// lines in `format`. Calling it twice is harmless (the second call keeps the first subscriber),
/// so tests and an all-in-one process can call it freely.
///
/// An invalid `RUST_LOG` falls back to `info` and says so in the first log line, rather than
/// stopping a service over its log level.
pub fn init_logging(format: LogFormat) {
    let (filter, bad_directive) = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => match EnvFilter::try_new(&spec) {
            Ok(filter) => (filter, None),
            Err(_) => (EnvFilter::new("info"), Some(spec)),
        },
        _ => (EnvFilter::new("info"), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    if let (Ok(()), Some(spec)) = (installed, bad_directive) {
        tracing::warn!(rust_log = %spec, "RUST_LOG is not a valid filter; logging at info");
    }
}
