//! Stored objects read one level deep ([`Members`]), for the busiest writes (`pods/binding`,
//! status patches): what they change is parsed, and every other member is copied back as
//! the text it was stored as. Stored objects are serialised from `serde_json` values, whose
//! maps keep their keys sorted, so writing a [`Members`] map gives the bytes a whole parse
//! and serialisation would.
//!
//! Every read here goes through `from_slice`, and every value written back is a `Value` or
//! `Members`: each other way would be one more copy of serde_json's code in the binary.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON object read one level deep: each member as the text it was stored as.
pub(super) type Members<'a> = BTreeMap<String, &'a RawValue>;

/// The text of a member, if there is one.
pub(super) fn raw<'a>(member: Option<&&'a RawValue>) -> Option<&'a [u8]> {
    member.map(|member| member.get().as_bytes())
}

/// The members of the object `value` holds; none when it is absent or `null`.
pub(super) fn members(value: Option<&[u8]>) -> Result<Members<'_>, serde_json::Error> {
    match value {
        Some(value) => Ok(serde_json::from_slice::<Option<Members>>(value)?.unwrap_or_default()),
        None => Ok(Members::new()),
    }
}

/// The string a member holds; none when it is absent, `null` or not a string.
pub(super) fn text(member: Option<&&RawValue>) -> Result<Option<String>, serde_json::Error> {
    match raw(member) {
        Some(value) => Ok(serde_json::from_slice::<Value>(value)?
            .as_str()
            .map(str::to_owned)),
        None => Ok(None),
    }
}

/// The value a member holds, parsed; none when it is absent.
pub(super) fn value(member: Option<&&RawValue>) -> Result<Option<Value>, serde_json::Error> {
    raw(member).map(serde_json::from_slice).transpose()
}

/// Asserts that a shallow write made the bytes the whole parse made, showing both as text.
#[cfg(test)]
pub(super) fn assert_same_bytes(shallow: Vec<u8>, whole: Vec<u8>, what: impl std::fmt::Display) {
    assert_eq!(
        String::from_utf8_lossy(&shallow),
        String::from_utf8_lossy(&whole),
        "{what}"
    );
}
