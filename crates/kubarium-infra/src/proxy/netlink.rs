//! A `NETLINK_NETFILTER` socket that sends one nf_tables batch and reads the kernel's
//! answer to each of its messages, turning a refusal into an [`Error`] that names the
//! message, the errno and the kernel's extended-ack text when it gave one. With `sys`, the
//! crate's only `unsafe`: socket calls std does not offer, each with its reason.
#![allow(unsafe_code, reason = "libc calls for a netlink socket")]

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::nft;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NLMSG_ERROR: u16 = 2;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
/// `nlmsghdr`.
const HEADER: usize = 16;

/// Why the kernel path could not be programmed.
#[derive(Debug)]
pub(crate) enum Error {
    /// The socket could not be made or used.
    Socket {
        action: &'static str,
        error: io::Error,
    },
    /// The kernel refused a message of the batch (the whole batch is then undone).
    Refused {
        request: &'static str,
        errno: i32,
        message: Option<String>,
    },
    /// The kernel did not answer every message.
    NoAnswer,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Socket { action, error } => write!(f, "netlink: cannot {action}: {error}"),
            Self::Refused {
                request,
                errno,
                message,
            } => {
                let error = io::Error::from_raw_os_error(*errno);
                write!(f, "nf_tables refused {request}: {error}")?;
                if let Some(message) = message {
                    write!(f, " ({message})")?;
                }
                if *errno == libc::EPERM {
                    f.write_str("; the container needs CAP_NET_ADMIN")?;
                }
                Ok(())
            }
            Self::NoAnswer => f.write_str("nf_tables did not acknowledge the whole batch"),
        }
    }
}

fn os(action: &'static str) -> Error {
    Error::Socket {
        action,
        error: io::Error::last_os_error(),
    }
}

/// A netfilter netlink socket bound to the kernel.
pub(crate) struct Socket {
    fd: OwnedFd,
}

impl Socket {
    pub(crate) fn open() -> Result<Self, Error> {
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(os("open a NETLINK_NETFILTER socket"));
        }
        // SAFETY: `fd` was just returned by socket(2) and is owned by nothing else.
        let socket = Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        };
        // Best effort: the kernel's error text, without the refused message echoed back.
        socket.option(SOL_NETLINK, NETLINK_EXT_ACK, &1i32);
        socket.option(SOL_NETLINK, NETLINK_CAP_ACK, &1i32);
        // Never wait forever for an answer.
        let timeout = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        if !socket.option(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout) {
            return Err(os("set a receive timeout"));
        }
        // SAFETY: a zeroed sockaddr_nl is valid; family set below, pid 0 = the kernel picks.
        let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `address` is a sockaddr_nl of the size given.
        let rc = unsafe {
            libc::bind(
                socket.fd.as_raw_fd(),
                (&raw const address).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(os("bind the netlink socket"));
        }
        Ok(socket)
    }

    fn option<T>(&self, level: libc::c_int, name: libc::c_int, value: &T) -> bool {
        // SAFETY: `value` points at a `T` of the size given.
        unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (value as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            ) == 0
        }
    }

    /// Sends `batch` and waits for the acknowledgement of the last of `requests` (sequence
    /// number, message type), or the first refusal.
    pub(crate) fn apply(&self, batch: &[u8], requests: &[(u32, u16)]) -> Result<(), Error> {
        // One send carries the whole batch, so the send buffer must hold it (as nft does;
        // the forced size needs CAP_NET_ADMIN, which programming nf_tables needs anyway).
        let size = libc::c_int::try_from(batch.len().saturating_mul(2)).unwrap_or(libc::c_int::MAX);
        if size > 200 * 1024 && !self.option(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &size) {
            self.option(libc::SOL_SOCKET, libc::SO_SNDBUF, &size);
        }
        // SAFETY: zeroed sockaddr_nl with pid 0 addresses the kernel.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `batch` and `kernel` are valid for the lengths given.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                batch.as_ptr().cast(),
                batch.len(),
                0,
                (&raw const kernel).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if usize::try_from(sent).ok() != Some(batch.len()) {
            return Err(os("send the nf_tables batch"));
        }
        let Some(&(last, _)) = requests.last() else {
            return Ok(());
        };
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: `buffer` is writable for its length.
            let read = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    0,
                )
            };
            let Ok(read) = usize::try_from(read) else {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                if error.kind() == io::ErrorKind::WouldBlock {
                    return Err(Error::NoAnswer);
                }
                return Err(Error::Socket {
                    action: "read the kernel's answer",
                    error,
                });
            };
            for answer in answers(&buffer[..read]) {
                if answer.errno != 0 {
                    let kind = requests
                        .iter()
                        .find(|&&(seq, _)| seq == answer.seq)
                        .map(|&(_, kind)| kind);
                    return Err(Error::Refused {
                        request: request_name(kind),
                        errno: answer.errno,
                        message: answer.message,
                    });
                }
                if answer.seq == last {
                    return Ok(());
                }
            }
        }
    }
}

fn request_name(kind: Option<u16>) -> &'static str {
    match kind {
        Some(nft::NFT_MSG_NEWTABLE) => "NEWTABLE",
        Some(nft::NFT_MSG_DELTABLE) => "DELTABLE",
        Some(nft::NFT_MSG_NEWCHAIN) => "NEWCHAIN",
        Some(nft::NFT_MSG_NEWRULE) => "NEWRULE",
        // EPERM and a missing subsystem answer the batch itself.
        _ => "the batch",
    }
}

/// The kernel's answer to one message: `NLMSG_ERROR` with errno 0 is an acknowledgement.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) seq: u32,
    /// Positive errno; 0 = done.
    pub(crate) errno: i32,
    pub(crate) message: Option<String>,
}

/// The `NLMSG_ERROR` messages in `bytes`; anything else is skipped.
pub(crate) fn answers(bytes: &[u8]) -> Vec<Answer> {
    let mut found = Vec::new();
    let mut rest = bytes;
    while rest.len() >= HEADER {
        let len = u32_at(rest, 0) as usize;
        if len < HEADER || len > rest.len() {
            break;
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let flags = u16::from_ne_bytes([rest[6], rest[7]]);
        let payload = &rest[HEADER..len];
        if kind == NLMSG_ERROR && payload.len() >= 4 + HEADER {
            let error = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
            // The refused message's header follows; its sequence number says which it was.
            let seq = u32_at(payload, 4 + 8);
            let mut message = None;
            if flags & NLM_F_ACK_TLVS != 0 {
                let echoed = if flags & NLM_F_CAPPED != 0 {
                    HEADER
                } else {
                    (u32_at(payload, 4) as usize).max(HEADER)
                };
                message = extack_message(payload.get(4 + echoed..).unwrap_or_default());
            }
            found.push(Answer {
                seq,
                errno: error.saturating_neg(),
                message,
            });
        }
        rest = &rest[len.next_multiple_of(4).min(rest.len())..];
    }
    found
}

/// `NLMSGERR_ATTR_MSG` among the extended-ack attributes.
fn extack_message(mut attrs: &[u8]) -> Option<String> {
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if len < 4 || len > attrs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &attrs[4..len];
            let text = text.split(|&b| b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        attrs = &attrs[len.next_multiple_of(4).min(attrs.len())..];
    }
    None
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `NLMSG_ERROR` answering message `seq`, as the kernel writes it with
    /// `NETLINK_CAP_ACK` and `NETLINK_EXT_ACK`.
    fn error(seq: u32, errno: i32, text: Option<&str>) -> Vec<u8> {
        let mut payload = (-errno).to_ne_bytes().to_vec();
        let mut echoed = vec![0u8; HEADER];
        echoed[0..4].copy_from_slice(&40u32.to_ne_bytes());
        echoed[8..12].copy_from_slice(&seq.to_ne_bytes());
        payload.extend(echoed);
        let mut flags = NLM_F_CAPPED;
        if let Some(text) = text {
            flags |= NLM_F_ACK_TLVS;
            let len = u16::try_from(4 + text.len() + 1).unwrap();
            payload.extend(len.to_ne_bytes());
            payload.extend(NLMSGERR_ATTR_MSG.to_ne_bytes());
            payload.extend(text.as_bytes());
            payload.push(0);
            while !payload.len().is_multiple_of(4) {
                payload.push(0);
            }
        }
        let mut message = u32::try_from(HEADER + payload.len())
            .unwrap()
            .to_ne_bytes()
            .to_vec();
        message.extend(NLMSG_ERROR.to_ne_bytes());
        message.extend(flags.to_ne_bytes());
        message.extend([0; 8]);
        message.extend(payload);
        message
    }

    #[test]
    fn acknowledgements_and_refusals_are_read() {
        let mut bytes = error(7, 0, None);
        bytes.extend(error(8, libc::ENOENT, Some("Table does not exist")));
        bytes.extend([1, 2, 3]);
        assert_eq!(
            answers(&bytes),
            [
                Answer {
                    seq: 7,
                    errno: 0,
                    message: None
                },
                Answer {
                    seq: 8,
                    errno: libc::ENOENT,
                    message: Some("Table does not exist".to_owned())
                },
            ]
        );
    }

    #[test]
    fn a_refusal_names_the_message_and_the_remedy() {
        let refused = Error::Refused {
            request: request_name(Some(nft::NFT_MSG_NEWRULE)),
            errno: libc::EOPNOTSUPP,
            message: None,
        };
        assert!(
            refused
                .to_string()
                .starts_with("nf_tables refused NEWRULE: "),
            "{refused}"
        );
        let denied = Error::Refused {
            request: request_name(None),
            errno: libc::EPERM,
            message: None,
        };
        assert!(
            denied
                .to_string()
                .ends_with("the container needs CAP_NET_ADMIN"),
            "{denied}"
        );
    }
}
