//! The WebSocket channel protocols of `exec` and `attach` (`v5.channel.k8s.io`,
//! `v4.channel.k8s.io`), as pure framing: every binary message is one channel byte and its
//! data. Channel 0 is stdin, 1 stdout, 2 stderr, 3 the error channel (the final `Status` as
//! JSON), 4 terminal resizes (`{"Width":..,"Height":..}`); v5 adds the close signal
//! (`255`, then a channel), by which a client ends stdin without closing the connection.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::StatusError;
use crate::kubelet::TerminalSize;

/// The subprotocols served, preferred first.
pub(super) const PROTOCOLS: [&str; 2] = [V5, V4];
const V5: &str = "v5.channel.k8s.io";
const V4: &str = "v4.channel.k8s.io";

pub(super) const STDIN: u8 = 0;
pub(super) const STDOUT: u8 = 1;
pub(super) const STDERR: u8 = 2;
pub(super) const ERROR: u8 = 3;
pub(super) const RESIZE: u8 = 4;
/// v5's close signal.
const CLOSE: u8 = 255;

/// A negotiated subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    V4,
    V5,
}

impl Protocol {
    pub(super) fn from_name(name: &str) -> Option<Self> {
        match name {
            V5 => Some(Protocol::V5),
            V4 => Some(Protocol::V4),
            _ => None,
        }
    }
}

/// One message for `channel`.
pub(super) fn frame(channel: u8, data: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(data.len() + 1);
    framed.put_u8(channel);
    framed.put_slice(data);
    framed.freeze()
}

/// What a client's message asks for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Incoming {
    /// Bytes for the process's stdin.
    Stdin(Bytes),
    /// The terminal's new size.
    Resize(TerminalSize),
    /// The client has no more to send on this channel (v5).
    Close(u8),
    /// Nothing to act on (an empty message, a channel clients do not write).
    Nothing,
    /// A message the protocol does not allow, with why.
    Invalid(String),
}

#[derive(Deserialize)]
struct Size {
    #[serde(rename = "Width")]
    width: u16,
    #[serde(rename = "Height")]
    height: u16,
}

/// Reads one binary message from the client.
pub(super) fn decode(protocol: Protocol, message: &Bytes) -> Incoming {
    let Some((&channel, _)) = message.split_first() else {
        return Incoming::Nothing;
    };
    let data = message.slice(1..);
    match channel {
        CLOSE if protocol == Protocol::V5 => match data.as_ref() {
            [channel] => Incoming::Close(*channel),
            _ => Incoming::Invalid(format!(
                "a close signal names one channel, got {} bytes",
                data.len()
            )),
        },
        STDIN if data.is_empty() => Incoming::Nothing,
        STDIN => Incoming::Stdin(data),
        RESIZE => match serde_json::from_slice::<Size>(&data) {
            Ok(size) => Incoming::Resize(TerminalSize {
                width: size.width,
                height: size.height,
            }),
            Err(e) => Incoming::Invalid(format!(
                "a resize message must be {{\"Width\":..,\"Height\":..}}: {e}"
            )),
        },
        _ => Incoming::Nothing,
    }
}

/// The `Status` sent on the error channel when the process ends, as the kubelet's
/// remotecommand server writes it (`metav1.Status` with no type meta): `Success`, or
/// `Failure` with reason `NonZeroExitCode` and an `ExitCode` cause. An `attach` ends in
/// `Success` whatever its container did, as upstream.
pub(super) fn status(exit: &Result<Option<i32>, StatusError>, command: &[String]) -> Value {
    match exit {
        Ok(Some(code)) if *code != 0 && !command.is_empty() => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                command.join(" ")
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Ok(_) => json!({"metadata": {}, "status": "Success"}),
        Err(error) => {
            let mut status = json!({
                "metadata": {},
                "status": "Failure",
                "message": error.message,
                "reason": error.reason,
                "code": error.code.as_u16(),
            });
            if let Some(details) = &error.details {
                status["details"] = serde_json::to_value(details).unwrap_or(Value::Null);
            }
            status
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_channel_first() {
        assert_eq!(frame(STDOUT, b"hi"), Bytes::from_static(b"\x01hi"));
        assert_eq!(frame(ERROR, b""), Bytes::from_static(b"\x03"));
    }

    #[test]
    fn client_messages_decode_per_protocol() {
        let decode5 = |m: &'static [u8]| decode(Protocol::V5, &Bytes::from_static(m));
        assert_eq!(
            decode5(b"\x00ls\n"),
            Incoming::Stdin(Bytes::from_static(b"ls\n"))
        );
        assert_eq!(decode5(b"\x00"), Incoming::Nothing);
        assert_eq!(decode5(b""), Incoming::Nothing);
        assert_eq!(
            decode5(b"\x04{\"Width\":120,\"Height\":40}"),
            Incoming::Resize(TerminalSize {
                width: 120,
                height: 40
            })
        );
        assert!(matches!(
            decode5(b"\x04{\"Width\":-1}"),
            Incoming::Invalid(_)
        ));
        assert_eq!(decode5(b"\xff\x00"), Incoming::Close(STDIN));
        assert!(matches!(decode5(b"\xff\x00\x01"), Incoming::Invalid(_)));
        // v4 has no close signal: 255 is a channel nobody writes.
        assert_eq!(
            decode(Protocol::V4, &Bytes::from_static(b"\xff\x00")),
            Incoming::Nothing
        );
        assert_eq!(Protocol::from_name("v4.channel.k8s.io"), Some(Protocol::V4));
        assert_eq!(Protocol::from_name("channel.k8s.io"), None);
    }

    #[test]
    fn exit_statuses_are_upstreams() {
        let command = ["sh".to_owned(), "-c".to_owned(), "exit 3".to_owned()];
        insta::assert_json_snapshot!(status(&Ok(Some(0)), &command), @r#"
        {
          "metadata": {},
          "status": "Success"
        }
        "#);
        insta::assert_json_snapshot!(status(&Ok(Some(3)), &command), @r#"
        {
          "details": {
            "causes": [
              {
                "message": "3",
                "reason": "ExitCode"
              }
            ]
          },
          "message": "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
          "metadata": {},
          "reason": "NonZeroExitCode",
          "status": "Failure"
        }
        "#);
        // attach: the container's own process, reported as Success.
        assert_eq!(status(&Ok(Some(1)), &[])["status"], "Success");
        insta::assert_json_snapshot!(
            status(&Err(StatusError::bad_request("hollow containers run no processes")), &command),
            @r#"
        {
          "code": 400,
          "message": "hollow containers run no processes",
          "metadata": {},
          "reason": "BadRequest",
          "status": "Failure"
        }
        "#
        );
    }
}
