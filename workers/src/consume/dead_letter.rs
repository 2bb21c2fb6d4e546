//! Moving a message that keeps failing to the dead letters, with its error.

use std::time::{SystemTime, UNIX_EPOCH};

use aegis_protocol::{DeadLetter, Envelope, PROTOCOL_VERSION, Subjects, headers};
use async_nats::jetstream;
use bytes::Bytes;

/// Publishes `message` (as received on `original_subject`) to `aegis.dead.{source}` and waits for
/// JetStream to store it. Only then may the caller ack the original.
pub(crate) async fn dead_letter(
    js: &jetstream::Context,
    subjects: &Subjects,
    source: &str,
    original_subject: &str,
    deliveries: u64,
    error: &str,
    message: Bytes,
) -> Result<(), String> {
    let failed_at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let letter = DeadLetter {
        v: PROTOCOL_VERSION,
        original_subject: original_subject.to_owned(),
        deliveries,
        error: error.to_owned(),
        failed_at_ms,
        message,
    };
    let payload = letter.encode().map_err(|e| e.to_string())?;
    let mut hdrs = async_nats::HeaderMap::new();
    hdrs.insert(headers::VERSION, PROTOCOL_VERSION.to_string().as_str());
    hdrs.insert(headers::ORIGINAL_SUBJECT, original_subject);
    hdrs.insert(headers::DELIVERIES, deliveries.to_string().as_str());
    // Header values are one line.
    let one_line: String = error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    hdrs.insert(headers::ERROR, one_line.as_str());
    js.publish_with_headers(subjects.dead_letter(source), hdrs, payload)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
