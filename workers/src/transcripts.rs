//! The ticket transcript store, opened on first use and again after a failure: a missing or
//! unwritable bucket must not stop a worker from moderating, but it fails every close job that
//! needs it (retried, then dead-lettered, each time logged and counted) until it is fixed.

use aegis_transcripts::{Limits, ObjectStore, StoreConfig, StoreError};
use tokio::sync::OnceCell;

/// The store and the build limits.
#[derive(Debug)]
pub(crate) struct Transcripts {
    config: StoreConfig,
    pub(crate) limits: Limits,
    /// The base of transcript links (none: show the key).
    url: Option<String>,
    store: OnceCell<ObjectStore>,
}

impl Transcripts {
    /// A store opened from `config` when first needed.
    pub(crate) fn new(config: StoreConfig, limits: Limits, url: Option<String>) -> Self {
        Self {
            config,
            limits,
            url,
            store: OnceCell::new(),
        }
    }

    /// How a stored object is shown to people: its link, or its key in code.
    pub(crate) fn link(&self, key: &str) -> String {
        match &self.url {
            Some(base) => format!("{base}/{key}"),
            None => format!("`{key}`"),
        }
    }

    /// The open store, opening it now if it is not yet.
    pub(crate) async fn store(&self) -> Result<&ObjectStore, StoreError> {
        self.store
            .get_or_try_init(|| ObjectStore::open(&self.config))
            .await
    }
}
