//! `multipart/form-data` request bodies (messages with files).

use serde_json::{Value, json};

/// The JSON payload of a `multipart/form-data` body (`payload_json` plus `files[n]` as
/// attachments); `null` when there is none.
pub(super) fn multipart_payload(content_type: &str, body: &[u8]) -> Value {
    let Some(boundary) = content_type
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"'))
    else {
        return Value::Null;
    };
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut payload = json!({});
    let mut files = Vec::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        let Some((head, data)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let data = data.strip_suffix("\r\n").unwrap_or(data);
        let attr = |key: &str| {
            head.split(';').find_map(|a| {
                a.trim()
                    .strip_prefix(&format!("{key}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        match (attr("name"), attr("filename")) {
            (Some(n), _) if n == "payload_json" => {
                payload = serde_json::from_str(data).unwrap_or(json!({}))
            }
            (Some(_), Some(filename)) => {
                files.push(json!({"filename": filename, "size": data.len()}))
            }
            _ => {}
        }
    }
    if !files.is_empty() {
        let listed = payload
            .get("attachments")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let merged: Vec<Value> = files
            .into_iter()
            .enumerate()
            .map(|(i, mut f)| {
                if let Some(n) = listed.get(i).and_then(|meta| meta.get("filename")) {
                    f["filename"] = n.clone();
                }
                f
            })
            .collect();
        payload["attachments"] = Value::Array(merged);
    }
    payload
}
