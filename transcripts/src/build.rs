//! Building one transcript: the history, page by page, into a temporary file of messages (one
//! JSON line each) while attachments are copied and the entity map grows; then the JSON and
//! HTML files are written from it (gzip) and uploaded. Memory holds one page, the entity map and
//! the compressors, whatever the length of the ticket.

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use twilight_http::error::ErrorType;
use twilight_model::id::Id;

use crate::config::Limits;
use crate::format::{
    Attachment, Channel, Entities, FORMAT_VERSION, Message, Reference, Role, Skipped,
    TranscriptMeta, User,
};
use crate::html::Renderer;
use crate::markup::{Token, tokens};
use crate::store::{ObjectStore, StoreError};

/// Messages per history request (Discord's maximum).
const PAGE: u16 = 100;

/// Users referenced only by id (a mention in the text, the opener, the closer) that are looked
/// up one by one, at most.
const MAX_USER_LOOKUPS: usize = 100;

/// Attempts of one Discord request that is rate limited or fails on Discord's side.
const DISCORD_ATTEMPTS: u32 = 5;

/// What was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Key of the JSON transcript (gzip).
    pub json_key: String,
    /// Key of the HTML rendering (gzip).
    pub html_key: String,
    /// Messages in the transcript.
    pub messages: u64,
    /// Attachments copied into the store.
    pub attachments_copied: u64,
    /// Attachments left at Discord (too large, or their download failed).
    pub attachments_skipped: u64,
}

/// Why a transcript could not be built or stored.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// The ticket's metadata cannot be used.
    #[error("ticket metadata is unusable: {0} is 0")]
    InvalidMeta(&'static str),
    /// A Discord request failed (after retries for rate limits and server errors).
    #[error("fetching {what} from Discord failed: {source}")]
    Discord {
        /// What was fetched.
        what: String,
        /// twilight-http's error.
        #[source]
        source: Box<twilight_http::Error>,
    },
    /// A Discord response body could not be read.
    #[error("reading {what} from Discord failed: {source}")]
    DiscordBody {
        /// What was fetched.
        what: String,
        /// Why.
        #[source]
        source: twilight_http::response::DeserializeBodyError,
    },
    /// A Discord response is not what the API documents.
    #[error("Discord's {what} could not be understood: {source}")]
    Decode {
        /// What was fetched.
        what: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A temporary file could not be written or read.
    #[error("temporary file {path} failed: {source}")]
    WorkFile {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Storing an object failed.
    #[error("storing the transcript failed: {0}")]
    Store(#[from] StoreError),
    /// The task writing the files panicked or was cancelled.
    #[error("the transcript writer task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The key prefix of a ticket's objects: `transcripts/{guild}/{ticket_number}/`.
pub fn key_prefix(meta: &TranscriptMeta) -> String {
    format!("transcripts/{}/{}/", meta.guild_id, meta.ticket_number)
}

/// Fetches the channel's whole history through `http` (twilight-http, normally pointed at
/// rest-proxy), oldest first, 100 messages at a time; copies attachments up to
/// `limits.attachment_max_bytes` to `transcripts/{guild}/{ticket}/attachments/{id}/{filename}`;
/// writes the JSON transcript and the HTML rendering (both gzip) through temporary files; and
/// stores them at `transcripts/{guild}/{ticket}/transcript.json.gz` and `.../transcript.html.gz`.
/// The keys depend only on the ticket, so a retried build overwrites: one transcript per ticket.
///
/// # Errors
///
/// A [`TranscriptError`] saying what failed: Discord (after retrying rate limits and server
/// errors), a temporary file, or the store (a missing or unwritable bucket fails the build; an
/// attachment Discord does not deliver is only marked skipped).
pub async fn build_and_store(
    http: &twilight_http::Client,
    store: &ObjectStore,
    meta: &TranscriptMeta,
    limits: &Limits,
) -> Result<Stored, TranscriptError> {
    let channel =
        Id::new_checked(meta.channel_id).ok_or(TranscriptError::InvalidMeta("channel_id"))?;
    let guild = Id::new_checked(meta.guild_id).ok_or(TranscriptError::InvalidMeta("guild_id"))?;
    let prefix = key_prefix(meta);
    let work = WorkDir::create(limits.work_dir.as_deref(), meta).await?;
    let lines_path = work.path().join("messages.jsonl");
    let lines_file = tokio::fs::File::create(&lines_path)
        .await
        .map_err(|source| work_error(&lines_path, source))?;
    let mut lines = tokio::io::BufWriter::new(lines_file);
    let mut stored = Stored {
        json_key: format!("{prefix}transcript.json.gz"),
        html_key: format!("{prefix}transcript.html.gz"),
        messages: 0,
        attachments_copied: 0,
        attachments_skipped: 0,
    };
    let mut entities = EntityCollector::new(meta);
    let copier = AttachmentCopier {
        store,
        limits,
        work: work.path(),
        prefix: &prefix,
    };
    let mut after = 0u64;
    let mut page_lines = Vec::new();
    loop {
        let what = || format!("the messages of channel {channel} after {after}");
        let cursor = Id::new_checked(after).unwrap_or(Id::new(1));
        let body = discord(&what, || {
            http.channel_messages(channel).after(cursor).limit(PAGE)
        })
        .await?;
        let mut page: Vec<RawMessage> =
            serde_json::from_slice(&body).map_err(|source| TranscriptError::Decode {
                what: what(),
                source,
            })?;
        drop(body);
        // Discord answers `after` newest first; anything not after the cursor is dropped, so
        // the loop always advances and ends on an empty page.
        page.sort_unstable_by_key(|m| m.id);
        page.retain(|m| m.id > after);
        let Some(last) = page.last() else { break };
        after = last.id;
        for raw in page {
            entities.observe(&raw);
            let message = copier.convert(raw, &mut stored).await?;
            serde_json::to_writer(&mut page_lines, &message)
                .map_err(|source| work_error(&lines_path, source.into()))?;
            page_lines.push(b'\n');
            stored.messages += 1;
        }
        lines
            .write_all(&page_lines)
            .await
            .map_err(|source| work_error(&lines_path, source))?;
        page_lines.clear();
    }
    lines
        .flush()
        .await
        .map_err(|source| work_error(&lines_path, source))?;
    drop(lines);
    entities.resolve(http, guild).await;
    let entities = entities.entities;

    let json_path = work.path().join("transcript.json.gz");
    let html_path = work.path().join("transcript.html.gz");
    let job = Compose {
        lines: lines_path,
        json: json_path.clone(),
        html: html_path.clone(),
        meta: meta.clone(),
        entities,
        prefix,
        messages: stored.messages,
    };
    tokio::task::spawn_blocking(move || job.run()).await??;
    store
        .put_file_encoded(
            &stored.json_key,
            &json_path,
            "application/json",
            Some("gzip"),
        )
        .await?;
    store
        .put_file_encoded(
            &stored.html_key,
            &html_path,
            "text/html; charset=utf-8",
            Some("gzip"),
        )
        .await?;
    tracing::info!(
        guild = meta.guild_id,
        ticket = meta.ticket_number,
        messages = stored.messages,
        attachments_copied = stored.attachments_copied,
        attachments_skipped = stored.attachments_skipped,
        key = stored.json_key,
        "transcript stored"
    );
    Ok(stored)
}

fn work_error(path: &Path, source: io::Error) -> TranscriptError {
    TranscriptError::WorkFile {
        path: path.to_owned(),
        source,
    }
}

/// Sends a Discord request, retrying rate limits (after Discord's `retry_after`), server errors
/// and network failures (after 0.5 s, 1 s, 2 s, ...), and returns the body.
async fn discord<T, F, R>(
    what: &(dyn Fn() -> String + Sync),
    mut request: F,
) -> Result<Vec<u8>, TranscriptError>
where
    F: FnMut() -> R,
    R: IntoFuture<Output = Result<twilight_http::Response<T>, twilight_http::Error>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match request().await {
            Ok(response) => {
                return response
                    .bytes()
                    .await
                    .map_err(|source| TranscriptError::DiscordBody {
                        what: what(),
                        source,
                    });
            }
            Err(e) => match retry_after(&e, attempt) {
                Some(wait) if attempt < DISCORD_ATTEMPTS => {
                    tracing::debug!(what = what(), error = %e, ?wait, "retrying a Discord request");
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    return Err(TranscriptError::Discord {
                        what: what(),
                        source: Box::new(e),
                    });
                }
            },
        }
    }
}

/// How long to wait before retrying after `e`, or `None` when a retry cannot help.
fn retry_after(e: &twilight_http::Error, attempt: u32) -> Option<Duration> {
    let backoff = Duration::from_millis(500 << attempt.min(6).saturating_sub(1));
    match e.kind() {
        ErrorType::Response { status, error, .. } if status.get() == 429 => Some(match error {
            twilight_http::api_error::ApiError::Ratelimited(r) if r.retry_after.is_finite() => {
                Duration::from_secs_f64(r.retry_after.clamp(0.0, 60.0))
            }
            _ => backoff,
        }),
        ErrorType::Response { status, .. } if status.is_server_error() => Some(backoff),
        ErrorType::RequestError | ErrorType::RequestTimedOut => Some(backoff),
        _ => None,
    }
}

/// The parts of Discord's message object a transcript keeps.
#[derive(Deserialize)]
struct RawMessage {
    #[serde(deserialize_with = "snowflake")]
    id: u64,
    #[serde(rename = "type", default)]
    kind: u8,
    author: RawUser,
    #[serde(default)]
    content: String,
    timestamp: String,
    #[serde(default)]
    edited_timestamp: Option<String>,
    #[serde(default)]
    attachments: Vec<RawAttachment>,
    #[serde(default)]
    embeds: Vec<serde_json::Value>,
    #[serde(default)]
    mentions: Vec<RawUser>,
    #[serde(default)]
    mention_roles: Vec<String>,
    #[serde(default)]
    mention_everyone: bool,
    #[serde(default)]
    message_reference: Option<Reference>,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(deserialize_with = "snowflake")]
    id: u64,
    username: String,
    #[serde(default)]
    global_name: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    #[serde(default)]
    bot: bool,
}

impl RawUser {
    fn entity(&self) -> User {
        User {
            username: self.username.clone(),
            global_name: self.global_name.clone(),
            avatar: self.avatar.clone(),
            bot: self.bot,
        }
    }
}

#[derive(Deserialize)]
struct RawAttachment {
    id: String,
    filename: String,
    #[serde(default)]
    size: u64,
    url: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    width: Option<u64>,
    #[serde(default)]
    height: Option<u64>,
}

#[derive(Deserialize)]
struct RawRole {
    #[serde(deserialize_with = "snowflake")]
    id: u64,
    name: String,
    #[serde(default)]
    color: u32,
}

#[derive(Deserialize)]
struct RawChannel {
    #[serde(deserialize_with = "snowflake")]
    id: u64,
    #[serde(default)]
    name: Option<String>,
}

fn snowflake<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// Grows the entity map from the messages, and looks up what they only name by id.
struct EntityCollector {
    entities: Entities,
    users: BTreeSet<u64>,
    roles: BTreeSet<u64>,
    channels: BTreeSet<u64>,
}

impl EntityCollector {
    fn new(meta: &TranscriptMeta) -> Self {
        let mut entities = Entities::default();
        entities.channels.insert(
            meta.channel_id.to_string(),
            Channel {
                name: meta.channel_name.clone(),
            },
        );
        Self {
            entities,
            users: BTreeSet::from([meta.opener_id, meta.closed_by]),
            roles: BTreeSet::new(),
            channels: BTreeSet::new(),
        }
    }

    fn observe(&mut self, m: &RawMessage) {
        for user in std::iter::once(&m.author).chain(&m.mentions) {
            self.entities
                .users
                .insert(user.id.to_string(), user.entity());
        }
        self.roles
            .extend(m.mention_roles.iter().filter_map(|r| r.parse::<u64>().ok()));
        let embed_texts = m.embeds.iter().flat_map(|e| {
            let description = e.get("description").and_then(serde_json::Value::as_str);
            let fields = e
                .get("fields")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.get("value").and_then(serde_json::Value::as_str));
            description.into_iter().chain(fields)
        });
        for text in std::iter::once(m.content.as_str()).chain(embed_texts) {
            for token in tokens(text) {
                match token {
                    Token::User(id) => {
                        self.users.insert(id);
                    }
                    Token::Role(id) => {
                        self.roles.insert(id);
                    }
                    Token::Channel(id) => {
                        self.channels.insert(id);
                    }
                    Token::Text(_) | Token::Emoji(_) | Token::Time(_) => {}
                }
            }
        }
    }

    /// Looks up the users, roles and channels named only by id. Best effort: what Discord does
    /// not describe stays an id (the HTML says "unknown").
    async fn resolve(
        &mut self,
        http: &twilight_http::Client,
        guild: Id<twilight_model::id::marker::GuildMarker>,
    ) {
        let missing: Vec<u64> = self
            .users
            .iter()
            .copied()
            .filter(|id| !self.entities.users.contains_key(&id.to_string()))
            .take(MAX_USER_LOOKUPS)
            .collect();
        for id in missing {
            let Some(user) = Id::new_checked(id) else {
                continue;
            };
            let what = || format!("user {id}");
            match discord(&what, || http.user(user)).await {
                Ok(body) => match serde_json::from_slice::<RawUser>(&body) {
                    Ok(u) => {
                        self.entities.users.insert(id.to_string(), u.entity());
                    }
                    Err(e) => tracing::warn!(user = id, error = %e, "unexpected user object"),
                },
                Err(e) => tracing::debug!(user = id, error = %e, "user not described"),
            }
        }
        if !self.roles.is_empty() {
            let what = || format!("the roles of guild {guild}");
            match discord(&what, || http.roles(guild)).await.and_then(|body| {
                serde_json::from_slice::<Vec<RawRole>>(&body).map_err(|source| {
                    TranscriptError::Decode {
                        what: what(),
                        source,
                    }
                })
            }) {
                Ok(roles) => {
                    for role in roles.into_iter().filter(|r| self.roles.contains(&r.id)) {
                        self.entities.roles.insert(
                            role.id.to_string(),
                            Role {
                                name: role.name,
                                color: role.color,
                            },
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "mentioned roles left unnamed"),
            }
        }
        let channels: BTreeSet<u64> = self
            .channels
            .iter()
            .copied()
            .filter(|id| !self.entities.channels.contains_key(&id.to_string()))
            .collect();
        if !channels.is_empty() {
            let what = || format!("the channels of guild {guild}");
            match discord(&what, || http.guild_channels(guild))
                .await
                .and_then(|body| {
                    serde_json::from_slice::<Vec<RawChannel>>(&body).map_err(|source| {
                        TranscriptError::Decode {
                            what: what(),
                            source,
                        }
                    })
                }) {
                Ok(list) => {
                    for c in list.into_iter().filter(|c| channels.contains(&c.id)) {
                        self.entities.channels.insert(
                            c.id.to_string(),
                            Channel {
                                name: c.name.unwrap_or_default(),
                            },
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "mentioned channels left unnamed"),
            }
        }
    }
}

/// Turns Discord messages into transcript messages, copying their attachments.
struct AttachmentCopier<'a> {
    store: &'a ObjectStore,
    limits: &'a Limits,
    work: &'a Path,
    prefix: &'a str,
}

impl AttachmentCopier<'_> {
    async fn convert(
        &self,
        m: RawMessage,
        stored: &mut Stored,
    ) -> Result<Message, TranscriptError> {
        let mut attachments = Vec::with_capacity(m.attachments.len());
        for a in m.attachments {
            let attachment = self.copy(a).await?;
            if attachment.stored_key.is_some() {
                stored.attachments_copied += 1;
            } else {
                stored.attachments_skipped += 1;
            }
            attachments.push(attachment);
        }
        Ok(Message {
            id: m.id.to_string(),
            kind: m.kind,
            author: m.author.id.to_string(),
            content: m.content,
            timestamp: m.timestamp,
            edited_timestamp: m.edited_timestamp,
            attachments,
            embeds: m.embeds,
            reference: m.message_reference,
            mentions: m.mentions.iter().map(|u| u.id.to_string()).collect(),
            mention_roles: m.mention_roles,
            mention_everyone: m.mention_everyone,
        })
    }

    /// Copies one attachment into the store, or says why it stays at Discord. Only the store
    /// failing is an error: Discord not delivering a file marks it skipped.
    async fn copy(&self, a: RawAttachment) -> Result<Attachment, TranscriptError> {
        let mut out = Attachment {
            stored_key: None,
            url: None,
            skipped: None,
            id: a.id,
            filename: a.filename,
            size: a.size,
            content_type: a.content_type,
            width: a.width,
            height: a.height,
        };
        let max = self.limits.attachment_max_bytes;
        let valid_id = !out.id.is_empty() && out.id.bytes().all(|b| b.is_ascii_digit());
        let skip = |mut out: Attachment, why: Skipped, url: String| {
            out.skipped = Some(why);
            out.url = Some(url);
            out
        };
        if out.size > max {
            return Ok(skip(out, Skipped::TooLarge, a.url));
        }
        if !valid_id {
            tracing::warn!(id = out.id, "attachment with an unusable id not copied");
            return Ok(skip(out, Skipped::DownloadFailed, a.url));
        }
        let temp = self.work.join(format!("attachment-{}", out.id));
        let downloaded = self
            .store
            .web()
            .download(&a.url, &temp, max, self.limits.attachment_timeout)
            .await;
        match downloaded {
            Ok(_) => {}
            Err(crate::http::WebError::TooLarge(_)) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Ok(skip(out, Skipped::TooLarge, a.url));
            }
            Err(e) => {
                tracing::warn!(attachment = out.id, url = a.url, error = %e, "attachment not copied");
                let _ = tokio::fs::remove_file(&temp).await;
                return Ok(skip(out, Skipped::DownloadFailed, a.url));
            }
        }
        let key = format!(
            "{}attachments/{}/{}",
            self.prefix,
            out.id,
            safe_filename(&out.filename)
        );
        let content_type = out
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let put = self.store.put_file(&key, &temp, &content_type).await;
        let _ = tokio::fs::remove_file(&temp).await;
        put?;
        out.stored_key = Some(key);
        Ok(out)
    }
}

/// A file name usable in every store: ASCII letters, digits, `.`, `-` and `_` (anything else
/// becomes `_`), at most 100 characters, never `.` or `..`.
fn safe_filename(name: &str) -> String {
    let mut safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if safe.trim_matches('.').is_empty() {
        safe = "file".to_owned();
    }
    safe
}

/// The files written from the message lines once the history is in.
struct Compose {
    lines: PathBuf,
    json: PathBuf,
    html: PathBuf,
    meta: TranscriptMeta,
    entities: Entities,
    prefix: String,
    messages: u64,
}

impl Compose {
    /// Writes both files in one pass over the message lines (blocking I/O).
    fn run(self) -> Result<(), TranscriptError> {
        let create = |path: &Path| {
            std::fs::File::create(path)
                .map(|f| {
                    GzEncoder::new(
                        io::BufWriter::with_capacity(64 << 10, f),
                        Compression::default(),
                    )
                })
                .map_err(|source| work_error(path, source))
        };
        let mut json = create(&self.json)?;
        let mut html = create(&self.html)?;
        let mut renderer = Renderer::new(&self.meta, &self.entities, &self.prefix);
        let html_error = |source| work_error(&self.html, source);
        let json_error = |source| work_error(&self.json, source);

        write!(json, "{{\"version\":{FORMAT_VERSION},\"ticket\":").map_err(json_error)?;
        serde_json::to_writer(&mut json, &self.meta).map_err(|e| json_error(e.into()))?;
        json.write_all(b",\"messages\":[").map_err(json_error)?;
        renderer
            .start(&mut html, self.messages)
            .map_err(html_error)?;

        let file =
            std::fs::File::open(&self.lines).map_err(|source| work_error(&self.lines, source))?;
        let mut reader = io::BufReader::with_capacity(64 << 10, file);
        let mut line = Vec::new();
        let mut first = true;
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|source| work_error(&self.lines, source))?;
            if n == 0 {
                break;
            }
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            if body.is_empty() {
                continue;
            }
            if !first {
                json.write_all(b",").map_err(json_error)?;
            }
            first = false;
            json.write_all(body).map_err(json_error)?;
            let message: Message =
                serde_json::from_slice(body).map_err(|e| work_error(&self.lines, e.into()))?;
            renderer.message(&mut html, &message).map_err(html_error)?;
        }

        json.write_all(b"],\"entities\":").map_err(json_error)?;
        serde_json::to_writer(&mut json, &self.entities).map_err(|e| json_error(e.into()))?;
        json.write_all(b"}").map_err(json_error)?;
        renderer.end(&mut html).map_err(html_error)?;
        for (encoder, path) in [(json, &self.json), (html, &self.html)] {
            encoder
                .finish()
                .and_then(|mut w| w.flush())
                .map_err(|source| work_error(path, source))?;
        }
        Ok(())
    }
}

/// A temporary directory for one build, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    async fn create(base: Option<&Path>, meta: &TranscriptMeta) -> Result<Self, TranscriptError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = base.map_or_else(std::env::temp_dir, Path::to_owned);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = base.join(format!(
            "aegis-transcript-{}-{}-{}-{nanos}-{}",
            meta.guild_id,
            meta.ticket_number,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|source| work_error(&path, source))?;
        remove_stale(&base).await;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

/// Temporary directories of builds this old were left by a process that died (a finished or
/// failed build removes its own).
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Removes the temporary directories of builds that died (killed workers), best effort.
async fn remove_stale(base: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(base).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("aegis-transcript-") {
            continue;
        }
        let age = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok());
        if age.is_some_and(|age| age > STALE_AFTER) {
            match tokio::fs::remove_dir_all(entry.path()).await {
                Ok(()) => {
                    tracing::info!(path = %entry.path().display(), "removed a dead build's temporary files")
                }
                Err(e) => {
                    tracing::debug!(path = %entry.path().display(), error = %e, "stale temporary files not removed")
                }
            }
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), error = %e, "temporary transcript files left behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_filename;

    #[test]
    fn file_names_are_made_safe_for_keys() {
        assert_eq!(safe_filename("screen shot (1).png"), "screen_shot__1_.png");
        assert_eq!(safe_filename(".."), "file");
        assert_eq!(safe_filename("ünïcode.txt"), "_n_code.txt");
        assert_eq!(safe_filename(&"a".repeat(300)).len(), 100);
    }
}

#[cfg(test)]
mod send_check {
    use super::{Limits, ObjectStore, TranscriptMeta, build_and_store};

    /// Workers run builds on tokio's multi-threaded runtime: the future must be `Send`.
    #[test]
    fn a_build_can_run_on_any_worker_thread() {
        fn send<T: Send>(_: &T) {}
        fn check(http: &twilight_http::Client, store: &ObjectStore, meta: &TranscriptMeta) {
            let limits = Limits::default();
            let build = build_and_store(http, store, meta, &limits);
            send(&build);
        }
        let _ = check;
    }
}
