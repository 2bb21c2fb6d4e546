//! Transport decompression: one zlib or zstd context for the life of a connection.

use flate2::{Decompress, FlushDecompress};
use zstd_safe::{DCtx, InBuffer, OutBuffer};

use crate::Compression;

/// A binary frame could not be decompressed; the connection must be dropped (its stream state is
/// lost) and the session resumed on a new one.
#[derive(Debug, thiserror::Error)]
#[error("cannot decompress a gateway message: {0}")]
pub struct InflateError(String);

/// zlib-stream's end-of-message marker (a sync flush).
const ZLIB_SUFFIX: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The decompressor of one connection.
pub(crate) enum Inflater {
    /// Text frames, nothing to do.
    None,
    /// zlib-stream: binary frames are buffered until the sync-flush suffix, then inflated.
    Zlib {
        context: Box<Decompress>,
        pending: Vec<u8>,
        output: Vec<u8>,
    },
    /// zstd-stream: each binary frame is one flushed block of a single zstd stream.
    Zstd {
        context: Box<DCtx<'static>>,
        output: Vec<u8>,
    },
}

impl Inflater {
    /// A fresh context for a new connection.
    pub(crate) fn new(compression: Compression) -> Self {
        match compression {
            Compression::None => Self::None,
            Compression::Zlib => Self::Zlib {
                context: Box::new(Decompress::new(true)),
                pending: Vec::new(),
                output: Vec::with_capacity(16 * 1024),
            },
            Compression::Zstd => Self::Zstd {
                context: Box::new(DCtx::create()),
                output: Vec::with_capacity(16 * 1024),
            },
        }
    }

    /// Feeds one binary WebSocket message; returns the JSON of a complete gateway message, or
    /// `None` when zlib-stream needs more frames.
    /// Output buffers above this are shrunk back after a large message (a big GUILD_CREATE),
    /// so an idle shard does not keep its largest message's worth of memory.
    const KEEP_CAPACITY: usize = 256 * 1024;

    pub(crate) fn inflate<'a>(
        &'a mut self,
        frame: &'a [u8],
    ) -> Result<Option<&'a [u8]>, InflateError> {
        match self {
            Self::None => Ok(Some(frame)),
            Self::Zlib {
                context,
                pending,
                output,
            } => {
                let input: &[u8] = if pending.is_empty() && frame.ends_with(&ZLIB_SUFFIX) {
                    frame
                } else {
                    pending.extend_from_slice(frame);
                    if !pending.ends_with(&ZLIB_SUFFIX) {
                        return Ok(None);
                    }
                    pending
                };
                output.clear();
                output.shrink_to(Self::KEEP_CAPACITY);
                let start = context.total_in();
                let consumed = |context: &Decompress| {
                    usize::try_from(context.total_in() - start)
                        .map_err(|_| InflateError("input counter overflow".to_owned()))
                };
                loop {
                    let (in_before, out_before) = (consumed(context)?, output.len());
                    if output.capacity() - output.len() < 4096 {
                        output.reserve(output.capacity().max(4096));
                    }
                    context
                        .decompress_vec(&input[in_before..], output, FlushDecompress::Sync)
                        .map_err(|e| InflateError(e.to_string()))?;
                    let in_after = consumed(context)?;
                    // Done when all input is consumed and the output buffer was not filled up
                    // (a full buffer may hide more output).
                    if in_after == input.len() && output.len() < output.capacity() {
                        break;
                    }
                    if in_after == in_before && output.len() == out_before {
                        if in_after == input.len() {
                            break;
                        }
                        return Err(InflateError("zlib stream made no progress".to_owned()));
                    }
                }
                pending.clear();
                Ok(Some(output.as_slice()))
            }
            Self::Zstd { context, output } => {
                output.clear();
                output.shrink_to(Self::KEEP_CAPACITY);
                let mut input = InBuffer::around(frame);
                loop {
                    if output.capacity() - output.len() < 4096 {
                        output.reserve(output.capacity().max(4096));
                    }
                    let filled = {
                        let pos = output.len();
                        let mut out = OutBuffer::around_pos(output, pos);
                        context
                            .decompress_stream(&mut out, &mut input)
                            .map_err(|code| {
                                InflateError(zstd_safe::get_error_name(code).to_owned())
                            })?;
                        out.pos() == out.capacity()
                    };
                    if input.pos == frame.len() && !filled {
                        break;
                    }
                }
                Ok(Some(output.as_slice()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use flate2::{Compress, FlushCompress};
    use zstd_safe::{CCtx, InBuffer, OutBuffer, zstd_sys::ZSTD_EndDirective};

    use super::Inflater;
    use crate::Compression;

    fn zlib_messages(messages: &[&str]) -> Vec<Vec<u8>> {
        let mut c = Compress::new(flate2::Compression::fast(), true);
        messages
            .iter()
            .map(|m| {
                let mut out = Vec::with_capacity(m.len() + 1024);
                c.compress_vec(m.as_bytes(), &mut out, FlushCompress::Sync)
                    .expect("deflate");
                out
            })
            .collect()
    }

    #[test]
    fn zlib_stream_inflates_messages_sharing_one_context() {
        let big = "x".repeat(300_000);
        let messages = ["{\"op\":10}", big.as_str(), "{\"op\":11}"];
        let mut inflater = Inflater::new(Compression::Zlib);
        for (frame, expected) in zlib_messages(&messages).iter().zip(messages) {
            let out = inflater
                .inflate(frame)
                .expect("inflates")
                .expect("complete");
            assert_eq!(out, expected.as_bytes());
        }
    }

    #[test]
    fn zlib_stream_waits_for_the_suffix_across_frames() {
        let frames = zlib_messages(&["{\"op\":0,\"t\":\"READY\"}"]);
        let (head, tail) = frames[0].split_at(5);
        let mut inflater = Inflater::new(Compression::Zlib);
        assert!(inflater.inflate(head).expect("buffered").is_none());
        let out = inflater.inflate(tail).expect("inflates").expect("complete");
        assert_eq!(out, b"{\"op\":0,\"t\":\"READY\"}");
    }

    #[test]
    fn zstd_stream_inflates_flushed_blocks() {
        let mut c = CCtx::create();
        let mut inflater = Inflater::new(Compression::Zstd);
        let big = "y".repeat(500_000);
        for message in ["{\"op\":10}", big.as_str()] {
            let mut out: Vec<u8> = Vec::with_capacity(message.len() + 1024);
            let mut input = InBuffer::around(message.as_bytes());
            loop {
                let mut output = OutBuffer::around(&mut out);
                let left = c
                    .compress_stream2(&mut output, &mut input, ZSTD_EndDirective::ZSTD_e_flush)
                    .expect("compress");
                if left == 0 {
                    break;
                }
            }
            let plain = inflater.inflate(&out).expect("inflates").expect("complete");
            assert_eq!(plain, message.as_bytes());
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut zlib = Inflater::new(Compression::Zlib);
        assert!(zlib.inflate(&[1, 2, 3, 0, 0, 0xff, 0xff]).is_err());
        let mut zstd = Inflater::new(Compression::Zstd);
        assert!(zstd.inflate(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]).is_err());
    }
}
