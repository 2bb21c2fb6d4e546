//! The object store: an S3 bucket or a local directory behind one small API (object_store).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{Attribute, Attributes, ObjectStoreExt, PutOptions, PutPayload, RetryConfig};
use tokio::io::AsyncWriteExt;

use crate::config::StoreConfig;
use crate::http::{Connector, Web};

/// The object written by [`ObjectStore::open`] to prove the store takes writes.
const PROBE_KEY: &str = ".aegis-write-probe";

/// Files up to this size are uploaded in one request; bigger ones as a multipart upload in
/// parts of this size (S3's minimum part is 5 MiB).
const UPLOAD_PART: usize = 8 << 20;

/// Parts of one multipart upload in flight at once (memory: this many parts, plus one).
const UPLOAD_CONCURRENCY: usize = 2;

/// Where transcripts and attachments are stored: cheap to clone (shared client and pool).
#[derive(Clone)]
pub struct ObjectStore {
    inner: Arc<dyn object_store::ObjectStore>,
    target: Arc<Target>,
    web: Web,
}

/// What a store is, for messages and for the features it supports.
#[derive(Debug)]
enum Target {
    Directory(PathBuf),
    S3 {
        bucket: String,
        endpoint: Option<String>,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Directory(path) => write!(f, "directory {}", path.display()),
            Self::S3 {
                bucket,
                endpoint: Some(endpoint),
            } => write!(f, "S3 bucket {bucket} at {endpoint}"),
            Self::S3 {
                bucket,
                endpoint: None,
            } => write!(f, "S3 bucket {bucket}"),
        }
    }
}

impl fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStore")
            .field("target", &self.target.to_string())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.target.fmt(f)
    }
}

/// A store operation that failed; each says what and where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The transcript directory cannot be created or written.
    #[error("transcript directory {path} is not usable: {source}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bucket does not exist.
    #[error(
        "S3 bucket {bucket} does not exist ({target}): create it, or fix AEGIS_TRANSCRIPTS_STORE"
    )]
    BucketMissing {
        /// The bucket.
        bucket: String,
        /// The store, with its endpoint.
        target: String,
    },
    /// The credentials were refused or lack a permission.
    #[error("{target} refused {operation} {key}: {source}")]
    Denied {
        /// The store.
        target: String,
        /// What was attempted (`put`, `get`).
        operation: &'static str,
        /// The object key.
        key: String,
        /// The store's answer.
        #[source]
        source: Box<object_store::Error>,
    },
    /// No object has this key.
    #[error("no object {key} in {target}")]
    NotFound {
        /// The store.
        target: String,
        /// The key.
        key: String,
    },
    /// The key is not a valid object key.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The store client could not be set up.
    #[error("cannot set up the client for {target}: {source}")]
    Setup {
        /// The store.
        target: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request to the store failed (unreachable, timed out, refused for another reason).
    #[error("{operation} {key} in {target} failed: {source}")]
    Request {
        /// The store.
        target: String,
        /// What was attempted (`put`, `get`).
        operation: &'static str,
        /// The object key.
        key: String,
        /// The store's error.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A local file to upload could not be read.
    #[error("reading {path} for {key} failed: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The key it was going to.
        key: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl ObjectStore {
    /// Opens the store and proves it takes writes (an S3 bucket must exist; a directory is
    /// created when missing), by writing a small `.aegis-write-probe` object.
    ///
    /// # Errors
    ///
    /// [`StoreError::BucketMissing`], [`StoreError::Denied`] (bad credentials),
    /// [`StoreError::Directory`] (cannot create or write it), [`StoreError::Request`] (the
    /// server does not answer) or [`StoreError::Setup`].
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let target = match config {
            StoreConfig::Directory(path) => Target::Directory(path.clone()),
            StoreConfig::S3 {
                bucket, endpoint, ..
            } => Target::S3 {
                bucket: bucket.clone(),
                endpoint: endpoint.clone(),
            },
        };
        let web = Web::new().map_err(|e| StoreError::Setup {
            target: target.to_string(),
            source: Box::new(e),
        })?;
        let inner: Arc<dyn object_store::ObjectStore> = match config {
            StoreConfig::Directory(path) => {
                let unusable = |source| StoreError::Directory {
                    path: path.clone(),
                    source,
                };
                tokio::fs::create_dir_all(path).await.map_err(unusable)?;
                let probe = path.join(PROBE_KEY);
                tokio::fs::write(&probe, b"ok").await.map_err(unusable)?;
                tokio::fs::remove_file(&probe).await.map_err(unusable)?;
                let local =
                    LocalFileSystem::new_with_prefix(path).map_err(|e| StoreError::Setup {
                        target: target.to_string(),
                        source: Box::new(e),
                    })?;
                Arc::new(local)
            }
            StoreConfig::S3 {
                endpoint,
                bucket,
                region,
                access_key,
                secret_key,
            } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key)
                    .with_secret_access_key(secret_key)
                    .with_virtual_hosted_style_request(false)
                    .with_http_connector(Connector(web.clone()))
                    .with_retry(RetryConfig {
                        max_retries: 3,
                        retry_timeout: Duration::from_secs(60),
                        ..RetryConfig::default()
                    });
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                let s3 = builder.build().map_err(|e| StoreError::Setup {
                    target: target.to_string(),
                    source: Box::new(e),
                })?;
                Arc::new(s3)
            }
        };
        let store = Self {
            inner,
            target: Arc::new(target),
            web,
        };
        store
            .put(PROBE_KEY, Bytes::from_static(b"ok"), "text/plain")
            .await?;
        Ok(store)
    }

    /// Stores `body` at `key` (replacing any object there).
    ///
    /// # Errors
    ///
    /// A [`StoreError`] saying what failed.
    pub async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<(), StoreError> {
        let location = parse_key(key)?;
        let options = PutOptions {
            attributes: self.attributes(content_type, None),
            ..PutOptions::default()
        };
        self.inner
            .put_opts(&location, PutPayload::from_bytes(body), options)
            .await
            .map(drop)
            .map_err(|e| self.error("put", key, e))
    }

    /// The object at `key`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when there is none, or another [`StoreError`].
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let location = parse_key(key)?;
        let result = self
            .inner
            .get(&location)
            .await
            .map_err(|e| self.error("get", key, e))?;
        result.bytes().await.map_err(|e| self.error("get", key, e))
    }

    /// Stores the file at `path` under `key`, streamed: one request up to 8 MiB, a multipart
    /// upload in 8 MiB parts beyond (at most two parts in memory).
    ///
    /// # Errors
    ///
    /// [`StoreError::File`] when the file cannot be read, or another [`StoreError`].
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StoreError> {
        self.put_file_encoded(key, path, content_type, None).await
    }

    /// [`ObjectStore::put_file`] with a `Content-Encoding` (e.g. `gzip`, so a browser given the
    /// object's URL decompresses it). A directory store keeps neither the content type nor the
    /// encoding: the key's extension says them.
    ///
    /// # Errors
    ///
    /// As [`ObjectStore::put_file`].
    pub async fn put_file_encoded(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
        content_encoding: Option<&str>,
    ) -> Result<(), StoreError> {
        let location = parse_key(key)?;
        let file_error = |source| StoreError::File {
            path: path.to_owned(),
            key: key.to_owned(),
            source,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(file_error)?;
        let mut writer = BufWriter::with_capacity(Arc::clone(&self.inner), location, UPLOAD_PART)
            .with_max_concurrency(UPLOAD_CONCURRENCY)
            .with_attributes(self.attributes(content_type, content_encoding));
        let copied = tokio::io::copy(&mut file, &mut writer).await;
        let finished = match copied {
            Ok(_) => writer.shutdown().await,
            Err(e) => Err(e),
        };
        if let Err(e) = finished {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(key, error = %abort, "aborting a failed upload failed");
            }
            // Errors of the store come back wrapped in io::Error by the AsyncWrite adapter.
            return Err(match e.into_inner() {
                Some(inner) => match inner.downcast::<object_store::Error>() {
                    Ok(store_error) => self.error("put", key, *store_error),
                    Err(other) => file_error(std::io::Error::other(other)),
                },
                None => file_error(std::io::Error::other("upload failed")),
            });
        }
        Ok(())
    }

    /// The keys under `prefix` (a key prefix ending at a `/`, e.g. `transcripts/1/7/`), in no
    /// particular order.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] saying what failed.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        use futures_util::TryStreamExt;
        let location = parse_key(prefix.trim_end_matches('/'))?;
        self.inner
            .list(Some(&location))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(|e| self.error("list", prefix, e))
    }

    /// The HTTP client (attachment downloads share the store's pool).
    pub(crate) fn web(&self) -> &Web {
        &self.web
    }

    fn attributes(&self, content_type: &str, content_encoding: Option<&str>) -> Attributes {
        let mut attributes = Attributes::new();
        // The local file system refuses attributes; the key's extension carries them there.
        if matches!(*self.target, Target::S3 { .. }) {
            attributes.insert(Attribute::ContentType, content_type.to_owned().into());
            if let Some(encoding) = content_encoding {
                attributes.insert(Attribute::ContentEncoding, encoding.to_owned().into());
            }
        }
        attributes
    }

    /// Names a store error: a missing bucket, a refusal, a missing object, or a failure.
    fn error(&self, operation: &'static str, key: &str, e: object_store::Error) -> StoreError {
        let target = self.target.to_string();
        let text = e.to_string();
        if let Target::S3 { bucket, .. } = &*self.target
            && text.contains("NoSuchBucket")
        {
            return StoreError::BucketMissing {
                bucket: bucket.clone(),
                target,
            };
        }
        match e {
            object_store::Error::NotFound { .. } if operation == "get" => StoreError::NotFound {
                target,
                key: key.to_owned(),
            },
            e @ (object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }) => StoreError::Denied {
                target,
                operation,
                key: key.to_owned(),
                source: Box::new(e),
            },
            e => StoreError::Request {
                target,
                operation,
                key: key.to_owned(),
                source: Box::new(e),
            },
        }
    }
}

/// Checks a key: segments of printable characters separated by single `/`, none `.` or `..`.
fn parse_key(key: &str) -> Result<Key, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidKey {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    if key.is_empty() || key.len() > 1024 {
        return Err(invalid("must be 1 to 1024 bytes long"));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid("contains a control character"));
    }
    if key
        .split('/')
        .any(|segment| segment.is_empty() || segment == "." || segment == "..")
    {
        return Err(invalid(
            "has an empty, `.` or `..` segment (or a leading or trailing /)",
        ));
    }
    Key::parse(key).map_err(|e| invalid(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::parse_key;

    #[test]
    fn keys_are_checked() {
        assert!(parse_key("transcripts/1/2/transcript.json.gz").is_ok());
        for bad in ["", "/a", "a/", "a//b", "a/../b", "a/./b", "a\nb"] {
            assert!(parse_key(bad).is_err(), "{bad:?}");
        }
    }
}
