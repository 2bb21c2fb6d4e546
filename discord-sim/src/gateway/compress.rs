//! Transport compression: one zlib or zstd stream per connection, flushed after every message.

use flate2::{Compress, Compression, FlushCompress, Status};
use zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd_safe::{CCtx, InBuffer, OutBuffer};

/// `compress` query parameter of the gateway URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Plain text frames.
    None,
    /// `zlib-stream`: binary frames ending with `00 00 ff ff`.
    Zlib,
    /// `zstd-stream`: binary frames, one zstd frame flushed per message.
    Zstd,
}

/// A connection's compressor.
pub(crate) enum Compressor {
    /// No compression.
    None,
    /// Shared zlib context.
    Zlib(Box<Compress>),
    /// Shared zstd context.
    Zstd(Box<CCtx<'static>>),
}

/// Compression failed; the connection is dropped.
#[derive(Debug, thiserror::Error)]
#[error("compressing a gateway message failed: {0}")]
pub(crate) struct CompressError(String);

impl Compressor {
    pub(crate) fn new(mode: Mode) -> Self {
        match mode {
            Mode::None => Self::None,
            Mode::Zlib => Self::Zlib(Box::new(Compress::new(Compression::fast(), true))),
            Mode::Zstd => Self::Zstd(Box::new(CCtx::create())),
        }
    }

    /// Compresses one message; `None` means send it as a text frame.
    pub(crate) fn compress(&mut self, text: &[u8]) -> Result<Option<Vec<u8>>, CompressError> {
        match self {
            Self::None => Ok(None),
            Self::Zlib(c) => {
                let mut out = Vec::with_capacity(text.len() / 2 + 64);
                let start_in = c.total_in();
                loop {
                    let consumed = usize::try_from(c.total_in() - start_in).unwrap_or(0);
                    if out.capacity() - out.len() < 64 {
                        out.reserve(out.capacity().max(256));
                    }
                    let status = c
                        .compress_vec(&text[consumed..], &mut out, FlushCompress::Sync)
                        .map_err(|e| CompressError(e.to_string()))?;
                    let consumed = usize::try_from(c.total_in() - start_in).unwrap_or(0);
                    let done = consumed == text.len()
                        && out.len() < out.capacity()
                        && out.ends_with(&[0, 0, 0xff, 0xff]);
                    if done || matches!(status, Status::StreamEnd) {
                        break;
                    }
                }
                Ok(Some(out))
            }
            Self::Zstd(c) => {
                let mut out: Vec<u8> = Vec::with_capacity(text.len() / 2 + 64);
                let mut input = InBuffer::around(text);
                loop {
                    if out.capacity() - out.len() < 64 {
                        out.reserve(out.capacity().max(256));
                    }
                    let pos = out.len();
                    let mut output = OutBuffer::around_pos(&mut out, pos);
                    let remaining = c
                        .compress_stream2(&mut output, &mut input, ZSTD_EndDirective::ZSTD_e_flush)
                        .map_err(|code| {
                            CompressError(zstd_safe::get_error_name(code).to_owned())
                        })?;
                    if remaining == 0 && input.pos == text.len() {
                        break;
                    }
                }
                Ok(Some(out))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_stream_messages_end_with_sync_flush_and_inflate() {
        let mut c = Compressor::new(Mode::Zlib);
        let mut d = flate2::Decompress::new(true);
        for msg in ["{\"op\":10}", &"x".repeat(100_000)] {
            let out = c
                .compress(msg.as_bytes())
                .expect("compress")
                .expect("bytes");
            assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
            let mut plain = Vec::with_capacity(msg.len() + 16);
            d.decompress_vec(&out, &mut plain, flate2::FlushDecompress::Sync)
                .expect("inflate");
            assert_eq!(plain, msg.as_bytes());
        }
    }

    #[test]
    fn zstd_stream_messages_decompress_one_by_one() {
        let mut c = Compressor::new(Mode::Zstd);
        let mut d = zstd_safe::DCtx::create();
        for msg in ["{\"op\":10}", &"y".repeat(100_000)] {
            let out = c
                .compress(msg.as_bytes())
                .expect("compress")
                .expect("bytes");
            let mut plain: Vec<u8> = Vec::with_capacity(msg.len() + 16);
            let mut input = InBuffer::around(&out);
            let mut output = OutBuffer::around(&mut plain);
            d.decompress_stream(&mut output, &mut input)
                .expect("decompress");
            assert_eq!(input.pos, out.len());
            assert_eq!(plain, msg.as_bytes());
        }
    }
}
