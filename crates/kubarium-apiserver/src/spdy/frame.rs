//! SPDY/3.1 frames on the wire: the eight control frames and DATA, with the header blocks
//! of SYN_STREAM, SYN_REPLY and HEADERS compressed by one zlib stream per direction
//! (preset with [`super::dictionary`], flushed after every block).
//!
//! An [`Encoder`] and a [`Decoder`] each own their direction's zlib state, so one task
//! writes frames and another reads them.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::dictionary::DICTIONARY;
use super::{Error, Result};

/// The only version spoken.
const VERSION: u16 = 3;
/// The largest frame payload the 24-bit length allows.
pub(crate) const MAX_LENGTH: usize = (1 << 24) - 1;
/// The largest decompressed header block accepted; a block past it is a protocol error.
const MAX_HEADER_BLOCK: usize = 1 << 20;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;
const FLAG_CLEAR_SETTINGS: u8 = 0x01;

/// RST_STREAM status codes.
pub(crate) mod status {
    pub(crate) const PROTOCOL_ERROR: u32 = 1;
    pub(crate) const REFUSED_STREAM: u32 = 3;
    pub(crate) const CANCEL: u32 = 5;
    pub(crate) const FLOW_CONTROL_ERROR: u32 = 7;
    pub(crate) const STREAM_IN_USE: u32 = 8;
}

/// GOAWAY status codes.
pub(crate) mod goaway {
    pub(crate) const OK: u32 = 0;
    pub(crate) const PROTOCOL_ERROR: u32 = 1;
}

/// SETTINGS ids this side acts on.
pub(crate) const SETTINGS_INITIAL_WINDOW_SIZE: u32 = 7;

/// A header block: lower-case names, each with its value (several values joined by NUL,
/// as SPDY/3 sends them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Headers(pub(crate) Vec<(String, String)>);

impl Headers {
    /// The value of `name` (case-insensitive), the first when there are several.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.split('\0').next().unwrap_or_default())
    }
}

/// One SETTINGS entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Setting {
    pub(crate) flags: u8,
    pub(crate) id: u32,
    pub(crate) value: u32,
}

/// A SPDY/3.1 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    SynStream {
        stream_id: u32,
        associated: u32,
        priority: u8,
        fin: bool,
        unidirectional: bool,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        clear: bool,
        settings: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        fin: bool,
        data: Bytes,
    },
    /// A control frame of a type this side does not act on (e.g. CREDENTIAL); skipped, as
    /// the specification asks.
    Unknown {
        kind: u16,
    },
}

/// Writes frames, compressing header blocks with the sending direction's zlib stream.
pub(crate) struct Encoder {
    zlib: Compress,
}

impl Encoder {
    pub(crate) fn new() -> Result<Self> {
        let mut zlib = Compress::new(Compression::default(), true);
        zlib.set_dictionary(&DICTIONARY)
            .map_err(|error| Error::Compression(error.to_string()))?;
        Ok(Self { zlib })
    }

    /// Appends `frame` to `out`.
    pub(crate) fn encode(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<()> {
        match frame {
            Frame::SynStream {
                stream_id,
                associated,
                priority,
                fin,
                unidirectional,
                headers,
            } => {
                let block = self.compress(headers)?;
                let flags = flag(*fin, FLAG_FIN) | flag(*unidirectional, FLAG_UNIDIRECTIONAL);
                control(out, SYN_STREAM, flags, 10 + block.len())?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(associated & 0x7fff_ffff);
                out.put_u8((priority & 0x07) << 5);
                out.put_u8(0);
                out.put_slice(&block);
            }
            Frame::SynReply {
                stream_id,
                fin,
                headers,
            }
            | Frame::Headers {
                stream_id,
                fin,
                headers,
            } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    SYN_REPLY
                } else {
                    HEADERS
                };
                let block = self.compress(headers)?;
                control(out, kind, flag(*fin, FLAG_FIN), 4 + block.len())?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_slice(&block);
            }
            Frame::RstStream { stream_id, status } => {
                control(out, RST_STREAM, 0, 8)?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::Settings { clear, settings } => {
                control(
                    out,
                    SETTINGS,
                    flag(*clear, FLAG_CLEAR_SETTINGS),
                    4 + 8 * settings.len(),
                )?;
                out.put_u32(u32::try_from(settings.len()).map_err(|_| too_long())?);
                for setting in settings {
                    out.put_u32(u32::from(setting.flags) << 24 | (setting.id & 0x00ff_ffff));
                    out.put_u32(setting.value);
                }
            }
            Frame::Ping { id } => {
                control(out, PING, 0, 4)?;
                out.put_u32(*id);
            }
            Frame::GoAway { last_good, status } => {
                control(out, GOAWAY, 0, 8)?;
                out.put_u32(last_good & 0x7fff_ffff);
                out.put_u32(*status);
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control(out, WINDOW_UPDATE, 0, 8)?;
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(delta & 0x7fff_ffff);
            }
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                if data.len() > MAX_LENGTH {
                    return Err(too_long());
                }
                out.put_u32(stream_id & 0x7fff_ffff);
                out.put_u32(u32::from(flag(*fin, FLAG_FIN)) << 24 | len24(data.len()));
                out.put_slice(data);
            }
            Frame::Unknown { kind } => {
                control(out, *kind, 0, 0)?;
            }
        }
        Ok(())
    }

    /// The compressed form of `headers`, ending in a sync flush so the peer can read it
    /// whole.
    fn compress(&mut self, headers: &Headers) -> Result<Vec<u8>> {
        let raw = header_block(headers)?;
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut consumed = 0;
        loop {
            let before = self.zlib.total_in();
            self.zlib
                .compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|error| Error::Compression(error.to_string()))?;
            consumed += usize::try_from(self.zlib.total_in() - before).unwrap_or(usize::MAX);
            // A sync flush is complete once zlib leaves output space unused.
            if consumed >= raw.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            out.reserve(out.capacity().max(64));
        }
    }
}

/// Reads frames, decompressing header blocks with the receiving direction's zlib stream.
pub(crate) struct Decoder {
    zlib: Decompress,
}

impl Decoder {
    pub(crate) fn new() -> Self {
        Self {
            zlib: Decompress::new(true),
        }
    }

    /// The next whole frame at the start of `buf` (removed from it), or `None` while more
    /// bytes are needed.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let length = (usize::from(buf[5]) << 16) | (usize::from(buf[6]) << 8) | usize::from(buf[7]);
        if buf.len() < 8 + length {
            buf.reserve(8 + length - buf.len());
            return Ok(None);
        }
        let first = buf.get_u32();
        let flags_length = buf.get_u32();
        let flags = (flags_length >> 24) as u8;
        let mut payload = buf.split_to(length).freeze();
        if first & 0x8000_0000 == 0 {
            return Ok(Some(Frame::Data {
                stream_id: first & 0x7fff_ffff,
                fin: flags & FLAG_FIN != 0,
                data: payload,
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(Error::Protocol(format!(
                "unsupported SPDY version {version}; only 3 is spoken"
            )));
        }
        let kind = (first & 0xffff) as u16;
        let need = |n: usize| {
            if length < n {
                Err(Error::Protocol(format!(
                    "control frame of type {kind} is {length} bytes, shorter than its {n} fixed bytes"
                )))
            } else {
                Ok(())
            }
        };
        let fin = flags & FLAG_FIN != 0;
        let frame = match kind {
            SYN_STREAM => {
                need(10)?;
                let stream_id = payload.get_u32() & 0x7fff_ffff;
                let associated = payload.get_u32() & 0x7fff_ffff;
                let priority = payload.get_u8() >> 5;
                payload.advance(1);
                Frame::SynStream {
                    stream_id,
                    associated,
                    priority,
                    fin,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers: self.decompress(&payload)?,
                }
            }
            SYN_REPLY | HEADERS => {
                need(4)?;
                let stream_id = payload.get_u32() & 0x7fff_ffff;
                let headers = self.decompress(&payload)?;
                if kind == SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        fin,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        fin,
                        headers,
                    }
                }
            }
            RST_STREAM => {
                need(8)?;
                Frame::RstStream {
                    stream_id: payload.get_u32() & 0x7fff_ffff,
                    status: payload.get_u32(),
                }
            }
            SETTINGS => {
                need(4)?;
                let count = payload.get_u32() as usize;
                if payload.len() < count.saturating_mul(8) {
                    return Err(Error::Protocol(format!(
                        "SETTINGS announces {count} entries in {} bytes",
                        payload.len()
                    )));
                }
                let settings = (0..count)
                    .map(|_| {
                        let flags_id = payload.get_u32();
                        Setting {
                            flags: (flags_id >> 24) as u8,
                            id: flags_id & 0x00ff_ffff,
                            value: payload.get_u32(),
                        }
                    })
                    .collect();
                Frame::Settings {
                    clear: flags & FLAG_CLEAR_SETTINGS != 0,
                    settings,
                }
            }
            PING => {
                need(4)?;
                Frame::Ping {
                    id: payload.get_u32(),
                }
            }
            GOAWAY => {
                need(4)?;
                let last_good = payload.get_u32() & 0x7fff_ffff;
                // SPDY/3 adds a status; tolerate its absence.
                let status = if payload.len() >= 4 {
                    payload.get_u32()
                } else {
                    goaway::OK
                };
                Frame::GoAway { last_good, status }
            }
            WINDOW_UPDATE => {
                need(8)?;
                Frame::WindowUpdate {
                    stream_id: payload.get_u32() & 0x7fff_ffff,
                    delta: payload.get_u32() & 0x7fff_ffff,
                }
            }
            kind => Frame::Unknown { kind },
        };
        Ok(Some(frame))
    }

    fn decompress(&mut self, block: &[u8]) -> Result<Headers> {
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        let mut consumed = 0;
        loop {
            let (before_in, before_out) = (self.zlib.total_in(), self.zlib.total_out());
            match self
                .zlib
                .decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync)
            {
                Ok(_) => {}
                Err(error) if error.needs_dictionary().is_some() => {
                    self.zlib
                        .set_dictionary(&DICTIONARY)
                        .map_err(|error| Error::Compression(error.to_string()))?;
                }
                Err(error) => return Err(Error::Compression(error.to_string())),
            }
            consumed += usize::try_from(self.zlib.total_in() - before_in).unwrap_or(usize::MAX);
            let progressed =
                self.zlib.total_in() != before_in || self.zlib.total_out() != before_out;
            if consumed >= block.len() && out.len() < out.capacity() {
                break;
            }
            if out.len() > MAX_HEADER_BLOCK {
                return Err(Error::Protocol(format!(
                    "a header block decompresses past {MAX_HEADER_BLOCK} bytes"
                )));
            }
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(256));
            } else if !progressed && consumed >= block.len() {
                break;
            }
        }
        parse_header_block(&out)
    }
}

fn flag(set: bool, bit: u8) -> u8 {
    if set { bit } else { 0 }
}

fn len24(len: usize) -> u32 {
    (len & MAX_LENGTH) as u32
}

fn too_long() -> Error {
    Error::Protocol(format!("a frame would exceed {MAX_LENGTH} bytes"))
}

fn control(out: &mut BytesMut, kind: u16, flags: u8, length: usize) -> Result<()> {
    if length > MAX_LENGTH {
        return Err(too_long());
    }
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u32(u32::from(flags) << 24 | len24(length));
    Ok(())
}

/// The uncompressed header block: a count, then each name and value with a 32-bit length.
fn header_block(headers: &Headers) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    let count = u32::try_from(headers.0.len()).map_err(|_| too_long())?;
    raw.put_u32(count);
    for (name, value) in &headers.0 {
        for part in [name.to_ascii_lowercase().as_bytes(), value.as_bytes()] {
            raw.put_u32(u32::try_from(part.len()).map_err(|_| too_long())?);
            raw.put_slice(part);
        }
    }
    Ok(raw)
}

fn parse_header_block(mut raw: &[u8]) -> Result<Headers> {
    let truncated = || Error::Protocol("a header block ends before its headers do".to_owned());
    if raw.len() < 4 {
        return Err(truncated());
    }
    let count = raw.get_u32() as usize;
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let mut part = || {
            if raw.len() < 4 {
                return Err(truncated());
            }
            let len = raw.get_u32() as usize;
            if raw.len() < len {
                return Err(truncated());
            }
            let text = String::from_utf8_lossy(&raw[..len]).into_owned();
            raw.advance(len);
            Ok(text)
        };
        let name = part()?.to_ascii_lowercase();
        let value = part()?;
        headers.push((name, value));
    }
    Ok(Headers(headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    fn round_trip(frames: &[Frame]) {
        let (mut encoder, mut decoder) = (Encoder::new().unwrap(), Decoder::new());
        let mut wire = BytesMut::new();
        for frame in frames {
            encoder.encode(frame, &mut wire).unwrap();
        }
        // Byte by byte, so every partial-frame path runs.
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for byte in wire {
            buf.put_u8(byte);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                decoded.push(frame);
            }
        }
        assert_eq!(decoded, frames);
        assert!(buf.is_empty());
    }

    #[test]
    fn every_frame_round_trips() {
        let port_forward = headers(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]);
        round_trip(&[
            Frame::SynStream {
                stream_id: 1,
                associated: 0,
                priority: 2,
                fin: false,
                unidirectional: true,
                headers: port_forward.clone(),
            },
            Frame::SynReply {
                stream_id: 1,
                fin: false,
                headers: Headers::default(),
            },
            Frame::SynStream {
                stream_id: 3,
                associated: 0,
                priority: 0,
                fin: true,
                unidirectional: false,
                headers: port_forward,
            },
            Frame::Headers {
                stream_id: 3,
                fin: true,
                headers: headers(&[("a", "1\u{0}2")]),
            },
            Frame::Data {
                stream_id: 3,
                fin: false,
                data: Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n"),
            },
            Frame::Data {
                stream_id: 3,
                fin: true,
                data: Bytes::new(),
            },
            Frame::RstStream {
                stream_id: 3,
                status: status::CANCEL,
            },
            Frame::Settings {
                clear: true,
                settings: vec![Setting {
                    flags: 1,
                    id: SETTINGS_INITIAL_WINDOW_SIZE,
                    value: 65536,
                }],
            },
            Frame::Ping { id: 7 },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 4096,
            },
            Frame::GoAway {
                last_good: 3,
                status: goaway::OK,
            },
        ]);
    }

    /// Header blocks as another zlib writes them (Python's, preset with the SPDY/3
    /// dictionary, level 9, a sync flush after each block): two SYN_STREAMs whose blocks
    /// continue one zlib stream, as kubectl's two streams per forwarded connection do.
    #[test]
    fn header_blocks_from_another_zlib_decode() {
        // {port: 80, streamtype: data}
        let first: &[u8] = &[
            0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2, 0x02, 0xe5, 0x0e, 0x48, 0xf9, 0x5b, 0x04, 0x4a,
            0xab, 0x4c, 0x16, 0x06, 0xe0, 0x54, 0x57, 0x52, 0x94, 0x9a, 0x98, 0x8b, 0x54, 0xb0,
            0x24, 0x02, 0x00, 0x00, 0x00, 0xff, 0xff,
        ];
        // {port: 80, streamtype: error, requestid: 1}
        let second: &[u8] = &[
            0x02, 0x25, 0x4e, 0x02, 0xea, 0x58, 0x53, 0x41, 0xd1, 0x03, 0x64, 0x70, 0x16, 0x41,
            0x22, 0x3b, 0x13, 0x94, 0x09, 0x18, 0x0d, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff,
        ];
        let mut wire = BytesMut::new();
        for (stream_id, block) in [(1u32, first), (3, second)] {
            wire.put_u16(0x8003);
            wire.put_u16(SYN_STREAM);
            wire.put_u32(10 + u32::try_from(block.len()).unwrap());
            wire.put_u32(stream_id);
            wire.put_u32(0);
            wire.put_u16(0);
            wire.put_slice(block);
        }
        let mut decoder = Decoder::new();
        let mut blocks = Vec::new();
        while let Some(frame) = decoder.decode(&mut wire).unwrap() {
            let Frame::SynStream { headers, .. } = frame else {
                panic!("not a SYN_STREAM: {frame:?}");
            };
            blocks.push(headers);
        }
        assert_eq!(
            blocks,
            [
                headers(&[("port", "80"), ("streamtype", "data")]),
                headers(&[("port", "80"), ("streamtype", "error"), ("requestid", "1")]),
            ]
        );
    }

    #[test]
    fn our_header_blocks_name_the_spdy3_dictionary() {
        let mut encoder = Encoder::new().unwrap();
        let block = encoder.compress(&Headers::default()).unwrap();
        // A zlib header with FDICT set, then the dictionary's Adler-32.
        assert_eq!(block[0], 0x78);
        assert_ne!(block[1] & 0x20, 0);
        assert_eq!(&block[2..6], &[0xe3, 0xc6, 0xa7, 0xc2]);
        // And it ends in a sync flush marker, so the peer reads the block without waiting.
        assert_eq!(&block[block.len() - 4..], &[0, 0, 0xff, 0xff]);
    }

    #[test]
    fn a_wrong_version_is_a_protocol_error() {
        let mut wire = BytesMut::new();
        wire.put_u16(0x8002);
        wire.put_u16(PING);
        wire.put_u32(4);
        wire.put_u32(1);
        assert!(matches!(
            Decoder::new().decode(&mut wire),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn unknown_control_frames_are_skipped() {
        let mut wire = BytesMut::new();
        wire.put_u16(0x8003);
        wire.put_u16(10);
        wire.put_u32(3);
        wire.put_slice(b"abc");
        assert_eq!(
            Decoder::new().decode(&mut wire).unwrap(),
            Some(Frame::Unknown { kind: 10 })
        );
        assert!(wire.is_empty());
    }
}
