//! Field ownership: `metadata.managedFields`, as server-side apply keeps it.
//!
//! Every write records which fields its manager set (`Update`), and every apply which fields
//! its configuration holds (`Apply`). Field sets use upstream's `FieldsV1` shape: `f:<field>`
//! for a map field, `k:{"name":"web"}` for a list element matched by its merge key,
//! `v:<value>` for a set element, and `.` for an element itself.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::schema::{self, ListMerge, Ty};

mod status;

pub(crate) use status::record_status_update;

/// A set of field paths, as a tree; an empty node is a leaf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSet(BTreeMap<String, FieldSet>);

/// A path of `FieldsV1` elements.
pub(crate) type Path = Vec<String>;

impl FieldSet {
    /// The fields `value` holds (below its top level: `apiVersion`, `kind`, and the
    /// identifying metadata are not owned by anyone).
    pub(crate) fn of(value: &Value, ty: Ty) -> Self {
        Self::of_map(value, ty).without_system_fields()
    }

    /// This set of a whole object without the fields no one owns.
    fn without_system_fields(mut self) -> Self {
        if let Some(meta) = self.0.get_mut("f:metadata") {
            meta.0
                .retain(|key, _| !owned_by_no_one(Level::Metadata, key));
            if meta.0.is_empty() {
                self.0.remove("f:metadata");
            }
        }
        self.0.retain(|key, _| !owned_by_no_one(Level::Root, key));
        self
    }

    fn of_map(value: &Value, ty: Ty) -> Self {
        let mut set = BTreeMap::new();
        let Some(map) = value.as_object() else {
            return Self::default();
        };
        for (key, child) in map {
            set.insert(format!("f:{key}"), Self::of_field(child, ty, key));
        }
        Self(set)
    }

    fn of_field(value: &Value, ty: Ty, field: &str) -> Self {
        // Most fields are scalars: only a map or a list needs the field's type.
        match value {
            Value::Object(_) => Self::of_map(value, schema::child(ty, field)),
            Value::Array(items) => match schema::list(ty, field) {
                ListMerge::ByKey(key) => {
                    let child_ty = schema::child(ty, field);
                    let mut set = BTreeMap::new();
                    for item in items {
                        let mut node = Self::of_map(item, child_ty);
                        node.0.insert(".".to_owned(), Self::default());
                        set.insert(element_key(key, item), node);
                    }
                    Self(set)
                }
                ListMerge::Set => Self(
                    items
                        .iter()
                        .map(|item| (format!("v:{item}"), Self::default()))
                        .collect(),
                ),
                ListMerge::Atomic => Self::default(),
            },
            _ => Self::default(),
        }
    }

    /// Every leaf path.
    pub(crate) fn leaves(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for (key, child) in &self.0 {
            prefix.push(key.clone());
            if child.0.is_empty() {
                out.push(prefix.clone());
            } else {
                child.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    /// Whether `path` is a leaf of this set.
    pub(crate) fn contains(&self, path: &[String]) -> bool {
        let mut node = self;
        for element in path {
            match node.0.get(element) {
                Some(child) => node = child,
                None => return false,
            }
        }
        node.0.is_empty()
    }

    /// Adds `path`.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, path: &[String]) {
        let mut node = self;
        for element in path {
            node = node.0.entry(element.clone()).or_default();
        }
    }

    /// Removes `path` and prunes what it leaves empty; returns whether it was there.
    pub(crate) fn remove(&mut self, path: &[String]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        let Some(child) = self.0.get_mut(first) else {
            return false;
        };
        let removed = if rest.is_empty() {
            true
        } else {
            child.remove(rest)
        };
        if rest.is_empty() || (removed && child.0.is_empty()) {
            self.0.remove(first);
        }
        removed
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As `FieldsV1` JSON.
    pub(crate) fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<Map<_, _>>(),
        )
    }

    /// From `FieldsV1` JSON.
    pub(crate) fn from_json(value: &Value) -> Self {
        Self(
            value
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), Self::from_json(v)))
                .collect(),
        )
    }
}

/// Where a map sits in an object, for the fields no one owns there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Metadata,
    Below,
}

impl Level {
    fn of_child(self, field: &str) -> Self {
        if self == Self::Root && field == "metadata" {
            Self::Metadata
        } else {
            Self::Below
        }
    }
}

/// Whether `field` of a map at `level` is one no manager owns: `apiVersion`, `kind` and the
/// identifying metadata the server sets.
fn system(level: Level, field: &str) -> bool {
    match level {
        Level::Root => matches!(field, "apiVersion" | "kind"),
        Level::Metadata => matches!(
            field,
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "creationTimestamp"
                | "generation"
                | "managedFields"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
        ),
        Level::Below => false,
    }
}

/// Whether `element` of a map at `level` is a field no manager owns.
fn owned_by_no_one(level: Level, element: &str) -> bool {
    element
        .strip_prefix("f:")
        .is_some_and(|field| system(level, field))
}

/// `k:{"name":"web"}` for an element matched by `key`.
fn element_key(key: &str, item: &Value) -> String {
    format!(
        "k:{}",
        json!({ key: item.get(key).cloned().unwrap_or(Value::Null) })
    )
}

/// The value at `path` in `value`, if present.
pub(crate) fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut node = value;
    for element in path {
        node = step(node, element)?;
    }
    Some(node)
}

fn step<'a>(node: &'a Value, element: &str) -> Option<&'a Value> {
    if element == "." {
        return Some(node);
    }
    if let Some(field) = element.strip_prefix("f:") {
        return node.get(field);
    }
    node.as_array()?.get(position(node, element)?)
}

/// The index of the list element `element` (`k:…` or `v:…`) names.
fn position(node: &Value, element: &str) -> Option<usize> {
    let items = node.as_array()?;
    if let Some(key) = element.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        return items
            .iter()
            .position(|item| key.iter().all(|(k, v)| key_value(item, k) == v));
    }
    let wanted: Value = serde_json::from_str(element.strip_prefix("v:")?).ok()?;
    items.iter().position(|item| *item == wanted)
}

fn child_mut<'a>(node: &'a mut Value, element: &str) -> Option<&'a mut Value> {
    if let Some(field) = element.strip_prefix("f:") {
        return node.get_mut(field);
    }
    let index = position(node, element)?;
    node.as_array_mut()?.get_mut(index)
}

fn remove_child(node: &mut Value, element: &str) {
    if let Some(field) = element.strip_prefix("f:") {
        if let Some(map) = node.as_object_mut() {
            map.remove(field);
        }
    } else if let Some(index) = position(node, element)
        && let Some(items) = node.as_array_mut()
    {
        items.remove(index);
    }
}

/// Removes the value at `path` from `value` (a field, a keyed element, a set element).
pub(crate) fn remove_path(value: &mut Value, path: &[String]) {
    match path {
        [] => {}
        [last] => remove_child(value, last),
        [element, dot] if dot == "." => remove_child(value, element),
        [first, rest @ ..] => {
            if let Some(child) = child_mut(value, first) {
                remove_path(child, rest);
            }
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: String,
    pub(crate) api_version: String,
    pub(crate) subresource: Option<String>,
    pub(crate) fields: FieldSet,
    /// When the entry last changed; `None` for "now".
    pub(crate) time: Option<String>,
}

impl Entry {
    /// An entry as `managedFields` holds it.
    fn from_json(e: &Value) -> Self {
        Self {
            manager: e["manager"].as_str().unwrap_or_default().to_owned(),
            operation: operation(e).to_owned(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_owned(),
            subresource: e["subresource"].as_str().map(str::to_owned),
            fields: FieldSet::from_json(&e["fieldsV1"]),
            time: e["time"].as_str().map(str::to_owned),
        }
    }
}

/// An entry's `operation`; entries without one are updates.
fn operation(entry: &Value) -> &str {
    entry["operation"].as_str().unwrap_or("Update")
}

/// The entries of `object`'s `metadata.managedFields`.
pub(crate) fn entries(object: &Value) -> Vec<Entry> {
    stored_entries(object)
        .iter()
        .map(Entry::from_json)
        .collect()
}

/// `object`'s `metadata.managedFields` as stored.
fn stored_entries(object: &Value) -> &[Value] {
    object["metadata"]["managedFields"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// Writes `entries` into `object`'s metadata, dropping empty ones.
pub(crate) fn store(object: &mut Value, entries: &[Entry]) {
    let now = crate::object::now();
    let list = entries
        .iter()
        .filter(|entry| !entry.fields.is_empty())
        .map(|entry| entry_json(entry, &now))
        .collect();
    set_entries(object, list);
}

fn set_entries(object: &mut Value, list: Vec<Value>) {
    crate::object::set_meta(
        object,
        "managedFields",
        (!list.is_empty()).then_some(Value::Array(list)),
    );
}

/// One entry as `managedFields` holds it; `now` is its time if it has none. Built field by
/// field: `json!` would copy the field set's tree once more.
fn entry_json(entry: &Entry, now: &str) -> Value {
    let mut json = Map::new();
    json.insert("manager".to_owned(), Value::from(entry.manager.as_str()));
    json.insert(
        "operation".to_owned(),
        Value::from(entry.operation.as_str()),
    );
    json.insert(
        "apiVersion".to_owned(),
        Value::from(entry.api_version.as_str()),
    );
    let time = entry.time.as_deref().unwrap_or(now);
    json.insert("time".to_owned(), Value::from(time));
    json.insert("fieldsType".to_owned(), Value::from("FieldsV1"));
    json.insert("fieldsV1".to_owned(), entry.fields.to_json());
    if let Some(sub) = &entry.subresource {
        json.insert("subresource".to_owned(), Value::from(sub.as_str()));
    }
    Value::Object(json)
}

/// What a write changed: the leaves of the field set of `new` (of type `ty`) whose values
/// differ in `old`, the fields no one owns left out. One walk down `new` that descends only
/// where it differs from `old`; an element of a keyed list is new (its `.` changed) when
/// `old` has no element with its key.
fn changes(old: Option<&Value>, new: &Value, ty: Ty) -> FieldSet {
    changed_map(old, new, ty).without_system_fields()
}

fn changed_map(old: Option<&Value>, new: &Value, ty: Ty) -> FieldSet {
    let mut set = BTreeMap::new();
    for (field, value) in new.as_object().into_iter().flatten() {
        let before = old.and_then(|o| o.get(field));
        if before == Some(value) {
            continue;
        }
        if let Some(changed) = changed_field(before, value, ty, field) {
            set.insert(format!("f:{field}"), changed);
        }
    }
    FieldSet(set)
}

/// What changed in field `field` of `ty`, now `value` and `before` that: a leaf for a value
/// with no fields of its own (a scalar, an empty map or list, an atomic list), else what
/// changed inside it; `None` when nothing did.
fn changed_field(before: Option<&Value>, value: &Value, ty: Ty, field: &str) -> Option<FieldSet> {
    let inside = match value {
        Value::Object(map) if !map.is_empty() => {
            changed_map(before, value, schema::child(ty, field))
        }
        Value::Array(items) if !items.is_empty() => match schema::list(ty, field) {
            ListMerge::ByKey(key) => {
                let child_ty = schema::child(ty, field);
                let old_items = before
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                let mut set = BTreeMap::new();
                for (index, item) in items.iter().enumerate() {
                    // A missing key reads as null, as in `element_key`; a repeated key
                    // names its first element.
                    let this = key_value(item, key);
                    if items[..index].iter().any(|i| key_value(i, key) == this) {
                        continue;
                    }
                    let was = old_items.iter().find(|o| key_value(o, key) == this);
                    if was == Some(item) {
                        continue;
                    }
                    let mut changed = changed_map(was, item, child_ty);
                    if was.is_none() {
                        changed.0.insert(".".to_owned(), FieldSet::default());
                    }
                    if !changed.is_empty() {
                        set.insert(element_key(key, item), changed);
                    }
                }
                FieldSet(set)
            }
            ListMerge::Set => {
                let old_items = before.and_then(Value::as_array);
                FieldSet(
                    items
                        .iter()
                        .filter(|item| !old_items.is_some_and(|o| o.contains(item)))
                        .map(|item| (format!("v:{item}"), FieldSet::default()))
                        .collect(),
                )
            }
            ListMerge::Atomic => return Some(FieldSet::default()),
        },
        _ => return Some(FieldSet::default()),
    };
    (!inside.is_empty()).then_some(inside)
}

/// The value of `item`'s merge key `key`, null when it has none.
fn key_value<'a>(item: &'a Value, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    item.get(key).unwrap_or(&NULL)
}

/// Drops from `owned` (an entry's `FieldsV1`, edited in place: fields of `node`, of type
/// `ty`, at `level`) the leaves that `changed` holds or `node` no longer holds as leaves,
/// pruning what that empties.
fn disown(
    owned: &mut Map<String, Value>,
    changed: Option<&FieldSet>,
    node: Option<&Value>,
    ty: Ty,
    level: Level,
) {
    owned.retain(|element, child| {
        let changed_below = changed.and_then(|s| s.0.get(element));
        let Some(children) = child.as_object_mut().filter(|c| !c.is_empty()) else {
            let taken = changed_below.is_some_and(FieldSet::is_empty);
            return !taken && node.is_some_and(|n| holds_leaf(n, element, ty, level));
        };
        let below = node.and_then(|n| step(n, element));
        let (child_ty, child_level) = match element.strip_prefix("f:") {
            Some(field) => (schema::child(ty, field), level.of_child(field)),
            // A list element: its fields are of the list's element type.
            None => (ty, Level::Below),
        };
        disown(children, changed_below, below, child_ty, child_level);
        !children.is_empty()
    });
}

/// Adds the paths of `set` to `fields` (`FieldsV1` JSON).
fn credit(fields: &mut Map<String, Value>, set: &FieldSet) {
    for (element, child) in &set.0 {
        let node = fields
            .entry(element.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        if let Value::Object(below) = node {
            credit(below, child);
        }
    }
}

/// Whether `node` (of type `ty`, at `level`) holds `element` as a leaf of its field set.
fn holds_leaf(node: &Value, element: &str, ty: Ty, level: Level) -> bool {
    if element == "." {
        return true;
    }
    if let Some(field) = element.strip_prefix("f:") {
        if system(level, field) {
            return false;
        }
        return match node.get(field) {
            None => false,
            Some(Value::Object(map)) => map.is_empty(),
            Some(Value::Array(items)) => {
                items.is_empty() || schema::list(ty, field) == ListMerge::Atomic
            }
            Some(_) => true,
        };
    }
    // A keyed element always holds its `.`, so it is never a leaf itself.
    !element.starts_with("k:") && position(node, element).is_some()
}

/// Who made a non-apply write, through which API, and when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer<'a> {
    pub(crate) manager: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) subresource: Option<&'a str>,
    pub(crate) kind: &'a str,
    /// The time an entry this write touches gets.
    pub(crate) now: &'a str,
}

impl Writer<'_> {
    /// Whether an entry with these keys is the one this writer's updates are recorded in: its
    /// manager's, an `Update` (the operation when none is named), on the same subresource.
    fn records_in(
        &self,
        manager: Option<&str>,
        operation: Option<&str>,
        subresource: Option<&str>,
    ) -> bool {
        manager.unwrap_or_default() == self.manager
            && operation.unwrap_or("Update") == "Update"
            && subresource == self.subresource
    }
}

/// Records a non-apply write by `manager`: it now owns the fields it changed, which other
/// managers no longer do.
pub(crate) fn record_update(
    object: &mut Value,
    old: Option<&Value>,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    kind: &str,
) {
    let now = crate::object::now();
    let writer = Writer {
        manager,
        api_version,
        subresource,
        kind,
        now: &now,
    };
    record_update_by(object, old, &writer);
}

/// [`record_update`], by `writer`.
pub(crate) fn record_update_by(object: &mut Value, old: Option<&Value>, writer: &Writer<'_>) {
    let ty = schema::root(writer.kind);
    let changed = changes(old, object, ty);
    let stored = old.map_or(&[][..], stored_entries);
    // A client sends back the entries it read: those copies are moved into the result
    // instead of cloning the stored ones.
    let mut sent = match object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
    {
        Some(Value::Array(sent)) => sent,
        _ => Vec::new(),
    };
    let entries = stored
        .iter()
        .enumerate()
        .map(|(index, json)| match sent.get_mut(index) {
            Some(copy) if copy == json => std::mem::take(copy),
            _ => json.clone(),
        })
        .collect();
    // What this write changed is no longer anyone else's; fields present no more belong to
    // no one.
    let list = updated_entries(entries, changed, writer, |fields, changed| {
        disown(fields, Some(changed), Some(object), ty, Level::Root);
    });
    set_entries(object, list);
}

/// `entries` after a write by `writer` that changed `changed`: each walked by `disown`,
/// `writer`'s own entry credited with `changed` (or a new one added), and those left empty
/// dropped. Each entry is edited in place, so one the write leaves alone keeps its JSON.
fn updated_entries(
    entries: Vec<Value>,
    changed: FieldSet,
    writer: &Writer<'_>,
    disown: impl Fn(&mut Map<String, Value>, &FieldSet),
) -> Vec<Value> {
    let mut list = Vec::with_capacity(entries.len() + 1);
    let mut credited = changed.is_empty();
    for entry in entries {
        if let Some(entry) = updated_entry(entry, &changed, writer, &disown, &mut credited) {
            list.push(entry);
        }
    }
    if !credited {
        list.push(new_entry(changed, writer));
    }
    list
}

/// One entry of [`updated_entries`]: walked by `disown`, credited with `changed` if it is
/// `writer`'s and none was yet (`credited`), and `None` if that left it empty.
fn updated_entry(
    mut entry: Value,
    changed: &FieldSet,
    writer: &Writer<'_>,
    disown: &impl Fn(&mut Map<String, Value>, &FieldSet),
    credited: &mut bool,
) -> Option<Value> {
    let mine = !*credited
        && writer.records_in(
            entry["manager"].as_str(),
            entry["operation"].as_str(),
            entry["subresource"].as_str(),
        );
    let map = entry.as_object_mut()?;
    let Some(Value::Object(fields)) = map.get_mut("fieldsV1") else {
        return None;
    };
    disown(fields, changed);
    if mine {
        credit(fields, changed);
        map.insert("time".to_owned(), Value::from(writer.now));
        *credited = true;
    }
    map.get("fieldsV1")
        .and_then(Value::as_object)
        .is_some_and(|f| !f.is_empty())
        .then_some(entry)
}

/// The entry of `writer`'s first write, owning `changed`.
fn new_entry(changed: FieldSet, writer: &Writer<'_>) -> Value {
    let entry = Entry {
        manager: writer.manager.to_owned(),
        operation: "Update".to_owned(),
        api_version: writer.api_version.to_owned(),
        subresource: writer.subresource.map(str::to_owned),
        fields: changed,
        time: None,
    };
    entry_json(&entry, writer.now)
}

/// The manager name of a request: `fieldManager`, else the user agent's program name, as
/// upstream derives it.
pub(crate) fn manager_name(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    if let Some(manager) = field_manager.filter(|m| !m.is_empty()) {
        return manager.to_owned();
    }
    user_agent
        .and_then(|ua| ua.split('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown")
        .to_owned()
}

#[cfg(test)]
#[path = "managed_tests.rs"]
mod tests;
