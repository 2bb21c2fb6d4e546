//! Reading gateway frames without re-serialising Discord's JSON.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use twilight_model::id::{Id, marker::GuildMarker};

/// One gateway payload, borrowed from the decompressed text. `d` stays raw JSON: it is published
/// byte for byte, never parsed into a model and written out again.
#[derive(Debug, Deserialize)]
pub(crate) struct Frame<'a> {
    /// Opcode.
    pub(crate) op: u8,
    /// Sequence number (dispatches only).
    #[serde(default)]
    pub(crate) s: Option<u64>,
    /// Event name (dispatches only).
    #[serde(default, borrow)]
    pub(crate) t: Option<Cow<'a, str>>,
    /// Event data, raw.
    #[serde(default, borrow)]
    pub(crate) d: Option<&'a RawValue>,
}

impl<'a> Frame<'a> {
    /// Parses one gateway payload.
    pub(crate) fn parse(text: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(text)
    }
}

#[derive(Deserialize)]
struct GuildIdField {
    #[serde(default)]
    guild_id: Option<Id<GuildMarker>>,
}

#[derive(Deserialize)]
struct IdField {
    #[serde(default)]
    id: Option<Id<GuildMarker>>,
}

/// The guild a dispatch belongs to, if any: `d.guild_id`, or `d.id` for the `GUILD_*` events
/// whose data is the guild itself.
pub(crate) fn guild_id_of(event: &str, data: &RawValue) -> Option<u64> {
    let json = data.get();
    let own_id = matches!(event, "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE");
    if own_id {
        serde_json::from_str::<IdField>(json).ok()?.id.map(Id::get)
    } else {
        serde_json::from_str::<GuildIdField>(json)
            .ok()?
            .guild_id
            .map(Id::get)
    }
}

#[cfg(test)]
mod tests {
    use super::{Frame, guild_id_of};

    #[test]
    fn a_dispatch_keeps_its_data_byte_for_byte() {
        let text = br#"{"t":"MESSAGE_CREATE","s":7,"op":0,"d":{"guild_id":"81384788765712384", "content" : "hi"}}"#;
        let frame = Frame::parse(text).expect("parses");
        assert_eq!(
            (frame.op, frame.s, frame.t.as_deref()),
            (0, Some(7), Some("MESSAGE_CREATE"))
        );
        let data = frame.d.expect("has data");
        assert_eq!(
            data.get(),
            r#"{"guild_id":"81384788765712384", "content" : "hi"}"#
        );
        assert_eq!(
            guild_id_of("MESSAGE_CREATE", data),
            Some(81_384_788_765_712_384)
        );
    }

    #[test]
    fn guild_events_use_their_own_id_and_dms_have_none() {
        let frame = Frame::parse(br#"{"op":0,"s":1,"t":"GUILD_CREATE","d":{"id":"5","name":"g"}}"#)
            .expect("parses");
        assert_eq!(guild_id_of("GUILD_CREATE", frame.d.expect("data")), Some(5));
        let dm = Frame::parse(br#"{"op":0,"s":2,"t":"MESSAGE_CREATE","d":{"channel_id":"9"}}"#)
            .expect("parses");
        assert_eq!(guild_id_of("MESSAGE_CREATE", dm.d.expect("data")), None);
    }

    #[test]
    fn control_frames_have_no_dispatch_fields() {
        let frame = Frame::parse(br#"{"op":11,"d":null}"#).expect("parses");
        assert_eq!(
            (frame.op, frame.s, frame.t.is_none(), frame.d.is_none()),
            (11, None, true, true)
        );
        assert!(Frame::parse(b"{not json").is_err());
    }
}
