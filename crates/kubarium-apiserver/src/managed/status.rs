//! Field ownership recorded for a write of nothing but the `status` (the status patches
//! nodes post for every pod), without parsing what the write cannot change.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{FieldSet, Level, Writer, changed_field, disown, new_entry, updated_entry};
use crate::schema;

/// [`super::record_update`] for a write that changed nothing but the `status`, which needs neither
/// the rest of the object nor the rest of each entry walked. `old` is the stored status,
/// `object` the new one as the only member of an object (`{"status": …}`, the part of the
/// object the walk reads); `entries` are the stored ones, as stored, and the entries to store
/// are returned. Only the entries the write can change are parsed: `writer`'s own and those
/// owning something under the status. Every other one is kept as its stored text, as the
/// walk would leave it.
pub(crate) fn record_status_update<'a>(
    entries: &[&'a RawValue],
    old: Option<&Value>,
    object: &Value,
    writer: &Writer<'_>,
) -> serde_json::Result<Vec<StatusEntry<'a>>> {
    let ty = schema::root(writer.kind);
    let mut changed = FieldSet::default();
    if let Some(new) = object.get("status")
        && old != Some(new)
        && let Some(inside) = changed_field(old, new, ty, "status")
    {
        changed.0.insert("f:status".to_owned(), inside);
    }
    let disown = |fields: &mut Map<String, Value>, changed: &FieldSet| {
        // The walk `record_update` makes, but only into `f:status`: nothing else changed,
        // and every other field an entry owns is still there.
        if let Some(owned) = fields.remove("f:status") {
            let mut status = Map::new();
            status.insert("f:status".to_owned(), owned);
            disown(&mut status, Some(changed), Some(object), ty, Level::Root);
            fields.extend(status);
        }
    };
    let mut list = Vec::with_capacity(entries.len() + 1);
    let mut credited = changed.is_empty();
    for &stored in entries {
        // An entry naming `f:status` anywhere is parsed at once: the walk may change it, and
        // the writer's own, the one every status patch credits, always does.
        let text = stored.get();
        let untouched = !text.contains("\"f:status\"")
            && serde_json::from_str::<EntryHead<'_>>(text)
                .is_ok_and(|head| head.untouched_by(writer, credited));
        if untouched {
            list.push(StatusEntry::Stored(stored));
        } else {
            let entry = serde_json::from_str(stored.get())?;
            if let Some(entry) = updated_entry(entry, &changed, writer, &disown, &mut credited) {
                list.push(StatusEntry::Changed(entry));
            }
        }
    }
    if !credited {
        list.push(StatusEntry::Changed(new_entry(changed, writer)));
    }
    Ok(list)
}

/// A `managedFields` entry as a status write leaves it.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub(crate) enum StatusEntry<'a> {
    /// As stored: the write changed nothing in it.
    Stored(&'a RawValue),
    /// Parsed and walked.
    Changed(Value),
}

/// What tells, without parsing its fields, whether a status write leaves an entry as it is.
#[derive(serde::Deserialize)]
struct EntryHead<'a> {
    #[serde(borrow)]
    manager: Option<Cow<'a, str>>,
    #[serde(borrow)]
    operation: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subresource: Option<Cow<'a, str>>,
    #[serde(rename = "fieldsV1", borrow)]
    fields: Option<&'a RawValue>,
}

impl EntryHead<'_> {
    /// Whether [`updated_entry`] would keep an entry that owns no `f:status` as it is: its
    /// fields are a non-empty object, and it is not the entry `writer` is to be credited in
    /// (`credited`: that one was found already, or nothing changed).
    fn untouched_by(&self, writer: &Writer<'_>, credited: bool) -> bool {
        let plain = self.fields.is_some_and(|fields| {
            let text = fields.get();
            text.starts_with('{') && text != "{}"
        });
        let mine = !credited
            && writer.records_in(
                self.manager.as_deref(),
                self.operation.as_deref(),
                self.subresource.as_deref(),
            );
        plain && !mine
    }
}
