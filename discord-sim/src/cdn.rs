//! The attachment CDN: `GET /attachments/{channel}/{attachment}/{filename}` serves the bytes of
//! files uploaded with a message (multipart) or seeded with
//! [`crate::SimHandle::seed_message_with_attachment`], at the `url` the message's attachment
//! object carries. Unauthenticated, like Discord's CDN; anything else is a 404.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::http::HttpResponse;
use crate::snowflake::{snowflake, timestamp_ms};

/// One stored file.
#[derive(Debug, Clone)]
pub(crate) struct CdnFile {
    pub(crate) channel_id: u64,
    pub(crate) filename: String,
    pub(crate) content_type: Option<String>,
    pub(crate) data: Bytes,
}

/// The files the CDN serves, by attachment id.
#[derive(Debug, Default)]
pub(crate) struct Cdn {
    files: Mutex<HashMap<u64, CdnFile>>,
}

impl Cdn {
    pub(crate) fn insert(&self, attachment_id: u64, file: CdnFile) {
        self.files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(attachment_id, file);
    }

    fn get(&self, attachment_id: u64) -> Option<CdnFile> {
        self.files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&attachment_id)
            .cloned()
    }
}

/// The id of a message's `index`th attachment: the message's time, and low bits made of the
/// message id's low bits and the index, so attachments of messages sent in the same millisecond
/// do not share an id (message ids never have bit 18 set without bit 17, see `SnowflakeGen`).
pub(crate) fn attachment_id(message_id: u64, index: usize) -> u64 {
    let index = u64::try_from(index).unwrap_or(0) & 0xf;
    snowflake(
        timestamp_ms(message_id),
        (2 << 17) | ((message_id & 0x1fff) << 4) | index,
    )
}

/// The attachment URL of a file, under the simulator's base URL `base`.
pub(crate) fn url(base: &str, channel_id: u64, attachment_id: u64, filename: &str) -> String {
    format!(
        "{base}/attachments/{channel_id}/{attachment_id}/{}",
        crate::rest::percent_encode(filename)
    )
}

/// Serves `GET /attachments/{channel}/{attachment}/{filename}`.
pub(crate) fn serve(method: &Method, path: &str, cdn: &Cdn) -> HttpResponse {
    let found = (method == Method::GET)
        .then(|| path.strip_prefix("/attachments/"))
        .flatten()
        .and_then(|rest| {
            let mut seg = rest.splitn(3, '/');
            let channel: u64 = seg.next()?.parse().ok()?;
            let attachment: u64 = seg.next()?.parse().ok()?;
            let name = crate::rest::percent_decode(seg.next()?, false);
            cdn.get(attachment)
                .filter(|f| f.channel_id == channel && f.filename == name)
        });
    let Some(file) = found else {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"Not Found")));
        *resp.status_mut() = StatusCode::NOT_FOUND;
        return resp;
    };
    let mut resp = Response::new(Full::new(file.data));
    let content_type = file
        .content_type
        .as_deref()
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    resp.headers_mut().insert(CONTENT_TYPE, content_type);
    resp
}
