//! `multipart/form-data` request bodies (messages with files).

use bytes::Bytes;
use serde_json::{Value, json};

/// The JSON payload of a `multipart/form-data` body (`payload_json` plus `files[n]` as
/// attachments, with each part's `Content-Type` as the attachment's `content_type` unless the
/// payload names one); `null` when there is none. Also the bytes of each file, in order.
pub(super) fn multipart_payload(content_type: &str, body: &[u8]) -> (Value, Vec<Bytes>) {
    let Some(boundary) = content_type
        .split("boundary=")
        .nth(1)
        .map(|b| b.trim_matches('"'))
    else {
        return (Value::Null, Vec::new());
    };
    let delimiter = format!("--{boundary}");
    let mut payload = json!({});
    let mut files = Vec::new();
    let mut data_of_files = Vec::new();
    for part in parts(body, delimiter.as_bytes()) {
        let Some(split) = find(part, b"\r\n\r\n", 0) else {
            continue;
        };
        let (head, data) = (String::from_utf8_lossy(&part[..split]), &part[split + 4..]);
        let data = data.strip_suffix(b"\r\n").unwrap_or(data);
        // Only the Content-Disposition line names the part; a part may carry other headers
        // (twilight-http sends a Content-Type with each).
        let disposition = head
            .lines()
            .find(|line| {
                line.to_ascii_lowercase()
                    .starts_with("content-disposition:")
            })
            .unwrap_or_default();
        let attr = |key: &str| {
            disposition.split(';').find_map(|a| {
                a.trim()
                    .strip_prefix(&format!("{key}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        match (attr("name"), attr("filename")) {
            (Some(n), _) if n == "payload_json" => {
                payload = serde_json::from_slice(data).unwrap_or(json!({}))
            }
            (Some(_), Some(filename)) => {
                let part_type = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-type")
                            .then(|| value.trim().to_owned())
                    })
                    .map_or(Value::Null, Value::String);
                files.push(
                    json!({"filename": filename, "size": data.len(), "content_type": part_type}),
                );
                data_of_files.push(Bytes::copy_from_slice(data));
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
                if let Some(t) = listed
                    .get(i)
                    .and_then(|meta| meta.get("content_type"))
                    .filter(|t| t.is_string())
                {
                    f["content_type"] = t.clone();
                }
                f
            })
            .collect();
        payload["attachments"] = Value::Array(merged);
    }
    (payload, data_of_files)
}

/// The parts of a multipart body: the bytes between consecutive delimiters, without the line
/// break that follows each delimiter. The closing `--` part is dropped.
fn parts<'a>(body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut found = Vec::new();
    let mut at = find(body, delimiter, 0);
    while let Some(start) = at {
        let content = start + delimiter.len();
        let next = find(body, delimiter, content);
        let end = next.unwrap_or(body.len());
        let part = &body[content..end];
        if !part.starts_with(b"--") {
            found.push(part.strip_prefix(b"\r\n").unwrap_or(part));
        }
        at = next;
    }
    found
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len().max(1))
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::multipart_payload;

    #[test]
    fn parts_with_their_own_content_type_and_binary_files_parse() {
        let mut body = Vec::new();
        body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n");
        body.extend_from_slice(
            br#"{"content":"hi","attachments":[{"id":0,"filename":"log.bin"}]}"#,
        );
        body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"log.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(&[0xff, 0xfe, 0x00, 0x80, b'\r', b'\n', 0x01]);
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        let (payload, files) = multipart_payload("multipart/form-data; boundary=XyZ", &body);
        assert_eq!(payload["content"], "hi");
        assert_eq!(payload["attachments"][0]["filename"], "log.bin");
        assert_eq!(
            payload["attachments"][0]["size"], 7,
            "binary bytes counted as sent"
        );
        assert_eq!(
            payload["attachments"][0]["content_type"],
            "application/octet-stream"
        );
        assert_eq!(
            files,
            vec![bytes::Bytes::from_static(&[
                0xff, 0xfe, 0x00, 0x80, b'\r', b'\n', 0x01
            ])]
        );
    }
}
