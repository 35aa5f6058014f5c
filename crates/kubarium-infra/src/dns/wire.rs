//! The DNS message format (RFC 1035 §4, EDNS0's OPT record from RFC 6891): parsing any
//! message, with compression pointers followed safely, and building answers, compressing the
//! names written.
//!
//! Parsing never panics and never loops: every read is bounds-checked, a pointer must point
//! backwards, and a name stops at 255 bytes or after [`MAX_JUMPS`] pointers.

use std::fmt;
use std::net::Ipv4Addr;

/// Record types and classes this server knows by number.
pub(crate) mod rtype {
    pub(crate) const A: u16 = 1;
    #[cfg(test)]
    pub(crate) const NS: u16 = 2;
    pub(crate) const CNAME: u16 = 5;
    pub(crate) const SOA: u16 = 6;
    pub(crate) const PTR: u16 = 12;
    pub(crate) const AAAA: u16 = 28;
    pub(crate) const SRV: u16 = 33;
    pub(crate) const OPT: u16 = 41;
    pub(crate) const ANY: u16 = 255;
    /// The Internet class.
    pub(crate) const CLASS_IN: u16 = 1;
    /// QCLASS `*`.
    pub(crate) const CLASS_ANY: u16 = 255;
}

/// Response codes (the header's low four bits).
pub(crate) mod rcode {
    #[cfg(test)]
    pub(crate) const NOERROR: u8 = 0;
    pub(crate) const FORMERR: u8 = 1;
    pub(crate) const SERVFAIL: u8 = 2;
    pub(crate) const NXDOMAIN: u8 = 3;
    pub(crate) const NOTIMP: u8 = 4;
}

/// Header flag bits.
pub(crate) mod flag {
    pub(crate) const QR: u16 = 0x8000;
    pub(crate) const AA: u16 = 0x0400;
    pub(crate) const TC: u16 = 0x0200;
    pub(crate) const RD: u16 = 0x0100;
    pub(crate) const RA: u16 = 0x0080;
}

/// The header's length, and so the shortest message.
pub(crate) const HEADER_LEN: usize = 12;
/// Compression pointers followed in one name before it is called a loop.
const MAX_JUMPS: usize = 64;
/// A name's longest wire form (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;

/// Why a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The message ends inside a field.
    Truncated,
    /// A name longer than 255 bytes, a pointer loop, a forward pointer or a reserved label type.
    BadName,
    /// An OPT record off the root, or more than one.
    BadOpt,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "message truncated",
            Self::BadName => "malformed name",
            Self::BadOpt => "malformed OPT record",
        })
    }
}

/// A domain name as labels, in the case they were written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Name {
    labels: Vec<Vec<u8>>,
}

impl Name {
    /// A name from its text form (`web.default.svc.cluster.local`, a trailing dot allowed).
    /// The caller has validated the labels (config parsing does).
    pub(crate) fn from_text(text: &str) -> Self {
        let text = text.strip_suffix('.').unwrap_or(text);
        Self {
            labels: text
                .split('.')
                .filter(|label| !label.is_empty())
                .map(|label| label.as_bytes().to_vec())
                .collect(),
        }
    }

    /// The lookup key: lower case, labels joined by dots, without the trailing dot. Bytes that
    /// could make two different names share a key (a dot inside a label, non-ASCII, spaces)
    /// are escaped as `\DDD`, which no configured name contains, so such names never match.
    pub(crate) fn key(&self) -> String {
        let mut key = String::new();
        for (i, label) in self.labels.iter().enumerate() {
            if i > 0 {
                key.push('.');
            }
            for &byte in label {
                if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
                    key.push(char::from(byte.to_ascii_lowercase()));
                } else {
                    key.push_str(&format!("\\{byte:03}"));
                }
            }
        }
        key
    }

    #[cfg(test)]
    pub(crate) fn labels(&self) -> &[Vec<u8>] {
        &self.labels
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.labels.is_empty() {
            return f.write_str(".");
        }
        f.write_str(&self.key())
    }
}

/// The header, counts included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) id: u16,
    pub(crate) flags: u16,
    pub(crate) qdcount: u16,
    pub(crate) ancount: u16,
    pub(crate) nscount: u16,
    pub(crate) arcount: u16,
}

impl Header {
    /// Reads the first 12 bytes; `None` when there are fewer.
    pub(crate) fn parse(message: &[u8]) -> Option<Self> {
        let word = |at: usize| -> Option<u16> {
            Some(u16::from_be_bytes([
                *message.get(at)?,
                *message.get(at + 1)?,
            ]))
        };
        Some(Self {
            id: word(0)?,
            flags: word(2)?,
            qdcount: word(4)?,
            ancount: word(6)?,
            nscount: word(8)?,
            arcount: word(10)?,
        })
    }

    pub(crate) fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }

    pub(crate) fn rcode(&self) -> u8 {
        (self.flags & 0x0f) as u8
    }

    pub(crate) fn has(&self, bit: u16) -> bool {
        self.flags & bit != 0
    }
}

/// One entry of the question section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Question {
    pub(crate) name: Name,
    pub(crate) qtype: u16,
    pub(crate) qclass: u16,
}

/// The data of a record, decoded for the types this server writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RData {
    A(Ipv4Addr),
    Cname(Name),
    Ptr(Name),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: Name,
    },
    Soa {
        mname: Name,
        rname: Name,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    /// Anything else, kept as bytes (OPT's options among them).
    Other(Vec<u8>),
}

/// A resource record. For OPT, `class` is the UDP payload size and `ttl` holds the extended
/// rcode, version and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) name: Name,
    pub(crate) rtype: u16,
    pub(crate) class: u16,
    pub(crate) ttl: u32,
    pub(crate) data: RData,
}

/// A whole message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Message {
    pub(crate) header: Header,
    pub(crate) questions: Vec<Question>,
    pub(crate) answers: Vec<Record>,
    pub(crate) authority: Vec<Record>,
    pub(crate) additional: Vec<Record>,
}

impl Message {
    /// Parses a message; trailing bytes after the last counted record are ignored.
    pub(crate) fn parse(message: &[u8]) -> Result<Self, WireError> {
        let header = Header::parse(message).ok_or(WireError::Truncated)?;
        let mut reader = Reader {
            message,
            pos: HEADER_LEN,
        };
        let mut questions = Vec::new();
        for _ in 0..header.qdcount {
            let name = reader.name()?;
            questions.push(Question {
                name,
                qtype: reader.u16()?,
                qclass: reader.u16()?,
            });
        }
        let mut sections = [Vec::new(), Vec::new(), Vec::new()];
        for (section, count) in
            sections
                .iter_mut()
                .zip([header.ancount, header.nscount, header.arcount])
        {
            for _ in 0..count {
                section.push(reader.record()?);
            }
        }
        let [answers, authority, additional] = sections;
        let parsed = Self {
            header,
            questions,
            answers,
            authority,
            additional,
        };
        let opts: Vec<&Record> = parsed
            .additional
            .iter()
            .filter(|record| record.rtype == rtype::OPT)
            .collect();
        if opts.len() > 1 || opts.iter().any(|opt| !opt.name.labels.is_empty()) {
            return Err(WireError::BadOpt);
        }
        Ok(parsed)
    }

    /// The OPT pseudo-record, if the sender speaks EDNS.
    pub(crate) fn opt(&self) -> Option<&Record> {
        self.additional
            .iter()
            .find(|record| record.rtype == rtype::OPT)
    }
}

/// A bounds-checked cursor over a message.
struct Reader<'a> {
    message: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bytes(&mut self, len: usize) -> Result<&[u8], WireError> {
        let end = self.pos.checked_add(len).ok_or(WireError::Truncated)?;
        let bytes = self
            .message
            .get(self.pos..end)
            .ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let bytes = self.bytes(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A name at the cursor, following compression pointers; the cursor moves past the
    /// name's bytes at this position (the pointer, not what it points to).
    fn name(&mut self) -> Result<Name, WireError> {
        let mut labels = Vec::new();
        let mut wire_len = 1; // the root's zero byte
        let mut pos = self.pos;
        let mut resume = None;
        let mut jumps = 0;
        loop {
            let len = *self.message.get(pos).ok_or(WireError::Truncated)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    pos += 1;
                    break;
                }
                0x00 => {
                    let len = usize::from(len);
                    wire_len += len + 1;
                    if wire_len > MAX_NAME {
                        return Err(WireError::BadName);
                    }
                    let label = self
                        .message
                        .get(pos + 1..pos + 1 + len)
                        .ok_or(WireError::Truncated)?;
                    labels.push(label.to_vec());
                    pos += 1 + len;
                }
                0xc0 => {
                    let low = *self.message.get(pos + 1).ok_or(WireError::Truncated)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                    jumps += 1;
                    // Backwards only, and a bounded number of times: no loops.
                    if target >= pos || jumps > MAX_JUMPS {
                        return Err(WireError::BadName);
                    }
                    resume.get_or_insert(pos + 2);
                    pos = target;
                }
                _ => return Err(WireError::BadName),
            }
        }
        self.pos = resume.unwrap_or(pos);
        Ok(Name { labels })
    }

    fn record(&mut self) -> Result<Record, WireError> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let len = usize::from(self.u16()?);
        let start = self.pos;
        let end = start + len;
        if end > self.message.len() {
            return Err(WireError::Truncated);
        }
        let data = match rtype {
            rtype::A if len == 4 => {
                let b = self.bytes(4)?;
                RData::A(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            rtype::CNAME => RData::Cname(self.name()?),
            rtype::PTR => RData::Ptr(self.name()?),
            rtype::SRV => RData::Srv {
                priority: self.u16()?,
                weight: self.u16()?,
                port: self.u16()?,
                target: self.name()?,
            },
            rtype::SOA => RData::Soa {
                mname: self.name()?,
                rname: self.name()?,
                serial: self.u32()?,
                refresh: self.u32()?,
                retry: self.u32()?,
                expire: self.u32()?,
                minimum: self.u32()?,
            },
            _ => RData::Other(self.bytes(len)?.to_vec()),
        };
        // The data must fill exactly its declared length.
        if self.pos != end {
            return Err(WireError::Truncated);
        }
        Ok(Record {
            name,
            rtype,
            class,
            ttl,
            data,
        })
    }
}

/// Builds a message, compressing every name against the names already written.
pub(crate) struct Writer {
    buf: Vec<u8>,
    /// Lower-cased wire form of each name suffix written, with its offset.
    suffixes: Vec<(Vec<u8>, u16)>,
}

impl Writer {
    pub(crate) fn new(header: &Header) -> Self {
        let mut buf = Vec::with_capacity(512);
        for word in [
            header.id,
            header.flags,
            header.qdcount,
            header.ancount,
            header.nscount,
            header.arcount,
        ] {
            buf.extend_from_slice(&word.to_be_bytes());
        }
        Self {
            buf,
            suffixes: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }

    fn name(&mut self, name: &Name) {
        for i in 0..name.labels.len() {
            let suffix = suffix_key(&name.labels[i..]);
            if let Some(&(_, offset)) = self.suffixes.iter().find(|(key, _)| *key == suffix) {
                self.buf.extend_from_slice(&(0xc000 | offset).to_be_bytes());
                return;
            }
            if let Ok(offset) = u16::try_from(self.buf.len())
                && offset < 0x4000
            {
                self.suffixes.push((suffix, offset));
            }
            let label = &name.labels[i];
            self.buf.push(label.len().min(63) as u8);
            self.buf.extend_from_slice(&label[..label.len().min(63)]);
        }
        self.buf.push(0);
    }

    pub(crate) fn question(&mut self, question: &Question) {
        self.name(&question.name);
        self.buf.extend_from_slice(&question.qtype.to_be_bytes());
        self.buf.extend_from_slice(&question.qclass.to_be_bytes());
    }

    pub(crate) fn record(&mut self, record: &Record) {
        self.name(&record.name);
        self.buf.extend_from_slice(&record.rtype.to_be_bytes());
        self.buf.extend_from_slice(&record.class.to_be_bytes());
        self.buf.extend_from_slice(&record.ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        match &record.data {
            RData::A(ip) => self.buf.extend_from_slice(&ip.octets()),
            RData::Cname(name) | RData::Ptr(name) => self.name(name),
            RData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                for word in [priority, weight, port] {
                    self.buf.extend_from_slice(&word.to_be_bytes());
                }
                // RFC 2782: the target is not compressed.
                self.uncompressed(target);
            }
            RData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                self.name(mname);
                self.name(rname);
                for word in [serial, refresh, retry, expire, minimum] {
                    self.buf.extend_from_slice(&word.to_be_bytes());
                }
            }
            RData::Other(bytes) => self.buf.extend_from_slice(bytes),
        }
        let len = u16::try_from(self.buf.len() - len_at - 2).unwrap_or(u16::MAX);
        self.buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }

    fn uncompressed(&mut self, name: &Name) {
        for label in &name.labels {
            self.buf.push(label.len().min(63) as u8);
            self.buf.extend_from_slice(&label[..label.len().min(63)]);
        }
        self.buf.push(0);
    }
}

fn suffix_key(labels: &[Vec<u8>]) -> Vec<u8> {
    let mut key = Vec::new();
    for label in labels {
        key.push(label.len() as u8);
        key.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    key
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query as a stub resolver sends it, optionally with an OPT record.
    pub(crate) fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
        let header = Header {
            id,
            flags: flag::RD,
            qdcount: 1,
            arcount: u16::from(edns.is_some()),
            ..Header::default()
        };
        let mut writer = Writer::new(&header);
        writer.question(&Question {
            name: Name::from_text(name),
            qtype,
            qclass: rtype::CLASS_IN,
        });
        if let Some(size) = edns {
            writer.record(&Record {
                name: Name::default(),
                rtype: rtype::OPT,
                class: size,
                ttl: 0,
                data: RData::Other(Vec::new()),
            });
        }
        writer.finish()
    }

    #[test]
    fn a_query_round_trips() {
        let bytes = query(
            0x1234,
            "Web.Default.svc.cluster.local",
            rtype::A,
            Some(4096),
        );
        let message = Message::parse(&bytes).unwrap();
        assert_eq!(message.header.id, 0x1234);
        assert!(message.header.has(flag::RD));
        assert_eq!(message.questions.len(), 1);
        let question = &message.questions[0];
        assert_eq!(question.name.key(), "web.default.svc.cluster.local");
        assert_eq!(question.name.labels()[0], b"Web");
        assert_eq!(question.qtype, rtype::A);
        assert_eq!(message.opt().map(|opt| opt.class), Some(4096));
    }

    #[test]
    fn names_are_compressed_when_written_and_followed_when_read() {
        let header = Header {
            id: 7,
            flags: flag::QR,
            qdcount: 1,
            ancount: 3,
            ..Header::default()
        };
        let mut writer = Writer::new(&header);
        let name = Name::from_text("web.default.svc.cluster.local");
        writer.question(&Question {
            name: name.clone(),
            qtype: rtype::SRV,
            qclass: rtype::CLASS_IN,
        });
        let records = vec![
            Record {
                name: Name::from_text("WEB.default.svc.cluster.local"),
                rtype: rtype::CNAME,
                class: rtype::CLASS_IN,
                ttl: 5,
                data: RData::Cname(Name::from_text("db.default.svc.cluster.local")),
            },
            Record {
                name: Name::from_text("db.default.svc.cluster.local"),
                rtype: rtype::A,
                class: rtype::CLASS_IN,
                ttl: 5,
                data: RData::A(Ipv4Addr::new(10, 0, 0, 1)),
            },
            Record {
                name: name.clone(),
                rtype: rtype::SRV,
                class: rtype::CLASS_IN,
                ttl: 5,
                data: RData::Srv {
                    priority: 0,
                    weight: 100,
                    port: 80,
                    target: Name::from_text("web-0.web.default.svc.cluster.local"),
                },
            },
        ];
        for record in &records {
            writer.record(record);
        }
        let bytes = writer.finish();
        // The question's name (31 bytes) is written once; the CNAME's owner is a pointer.
        assert_eq!(&bytes[12 + 31 + 4..12 + 31 + 6], &[0xc0, 12]);
        let parsed = Message::parse(&bytes).unwrap();
        // The pointer makes the owner read back in the question's case.
        assert_eq!(parsed.answers[0].name, name);
        assert_eq!(parsed.answers[1..], records[1..]);
        assert_eq!(
            parsed.answers[0].data,
            RData::Cname(Name::from_text("db.default.svc.cluster.local"))
        );
        assert!(bytes.len() < 150, "{} bytes", bytes.len());
    }

    #[test]
    fn pointer_loops_and_forward_pointers_are_rejected() {
        let mut bytes = query(1, "a.b", rtype::A, None);
        // A pointer to itself.
        bytes.truncate(12);
        bytes.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&bytes), Err(WireError::BadName));
        // A pointer forward.
        bytes.truncate(12);
        bytes.extend_from_slice(&[0xc0, 14, 1, b'a', 0, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&bytes), Err(WireError::BadName));
        // A label, then a pointer back to that label: a loop through a backward pointer.
        bytes.truncate(12);
        bytes.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&bytes), Err(WireError::BadName));
        // Reserved label types.
        bytes.truncate(12);
        bytes.extend_from_slice(&[0x41, 0, 0, 1, 0, 1]);
        assert_eq!(Message::parse(&bytes), Err(WireError::BadName));
    }

    #[test]
    fn names_longer_than_255_bytes_are_rejected() {
        let long = vec!["a".repeat(63); 4].join(".");
        let bytes = query(1, &long, rtype::A, None);
        assert_eq!(Message::parse(&bytes), Err(WireError::BadName));
        let fits = vec!["a".repeat(62); 4].join(".");
        assert!(Message::parse(&query(1, &fits, rtype::A, None)).is_ok());
    }

    #[test]
    fn every_truncation_of_a_query_is_an_error_not_a_panic() {
        let bytes = query(9, "web.default.svc.cluster.local", rtype::A, Some(1232));
        for len in 0..bytes.len() {
            assert!(Message::parse(&bytes[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn two_opt_records_are_malformed() {
        let mut bytes = query(9, "a", rtype::A, Some(1232));
        bytes[11] = 2;
        bytes.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Message::parse(&bytes), Err(WireError::BadOpt));
    }

    #[test]
    fn keys_escape_what_configured_names_cannot_hold() {
        let name = Name {
            labels: vec![b"a.b".to_vec(), b"C".to_vec()],
        };
        assert_eq!(name.key(), "a\\046b.c");
        assert_eq!(Name::from_text("cluster.local.").key(), "cluster.local");
        assert_eq!(Name::default().to_string(), ".");
    }
}
