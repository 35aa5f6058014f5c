//! Field ownership: `metadata.managedFields`, as server-side apply keeps it.
//!
//! Every write records which fields its manager set (`Update`), and every apply which fields
//! its configuration holds (`Apply`). Field sets use upstream's `FieldsV1` shape: `f:<field>`
//! for a map field, `k:{"name":"web"}` for a list element matched by its merge key,
//! `v:<value>` for a set element, and `.` for an element itself.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::schema::{self, ListMerge, Ty};

/// A set of field paths, as a tree; an empty node is a leaf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSet(BTreeMap<String, FieldSet>);

/// A path of `FieldsV1` elements.
pub(crate) type Path = Vec<String>;

impl FieldSet {
    /// The fields `value` holds (below its top level: `apiVersion`, `kind`, and the
    /// identifying metadata are not owned by anyone).
    pub(crate) fn of(value: &Value, ty: Ty) -> Self {
        let mut set = Self::of_map(value, ty);
        if let Some(meta) = set.0.get_mut("f:metadata") {
            for system in [
                "f:name",
                "f:namespace",
                "f:uid",
                "f:resourceVersion",
                "f:creationTimestamp",
                "f:generation",
                "f:managedFields",
                "f:deletionTimestamp",
                "f:deletionGracePeriodSeconds",
            ] {
                meta.0.remove(system);
            }
            if meta.0.is_empty() {
                set.0.remove("f:metadata");
            }
        }
        for top in ["f:apiVersion", "f:kind"] {
            set.0.remove(top);
        }
        set
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
            .position(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)));
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

/// The entries of `object`'s `metadata.managedFields`.
pub(crate) fn entries(object: &Value) -> Vec<Entry> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().to_owned(),
            operation: e["operation"].as_str().unwrap_or("Update").to_owned(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_owned(),
            subresource: e["subresource"].as_str().map(str::to_owned),
            fields: FieldSet::from_json(&e["fieldsV1"]),
            time: e["time"].as_str().map(str::to_owned),
        })
        .collect()
}

/// Writes `entries` into `object`'s metadata, dropping empty ones.
pub(crate) fn store(object: &mut Value, entries: &[Entry]) {
    store_keeping(object, entries, &[]);
}

/// As [`store`], writing the entry at index `i` as `kept[i]` where that is given (its JSON as
/// stored, for an entry the write left alone).
fn store_keeping(object: &mut Value, entries: &[Entry], kept: &[Option<&Value>]) {
    let now = crate::object::now();
    let list: Vec<Value> = entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| !entry.fields.is_empty())
        .map(|(index, entry)| match kept.get(index).copied().flatten() {
            Some(json) => json.clone(),
            None => entry_json(entry, &now),
        })
        .collect();
    crate::object::set_meta(
        object,
        "managedFields",
        (!list.is_empty()).then_some(Value::Array(list)),
    );
}

/// One entry as `managedFields` holds it; `now` is its time if it has none.
fn entry_json(entry: &Entry, now: &str) -> Value {
    let mut json = json!({
        "manager": entry.manager,
        "operation": entry.operation,
        "apiVersion": entry.api_version,
        "time": entry.time.as_deref().unwrap_or(now),
        "fieldsType": "FieldsV1",
        "fieldsV1": entry.fields.to_json(),
    });
    if let Some(sub) = &entry.subresource {
        json["subresource"] = Value::from(sub.clone());
    }
    json
}

/// Paths of `new_set` (the fields of `new`) whose values differ between `old` and `new`:
/// one walk down the set with the values it reaches on either side.
fn changed_within(new_set: &FieldSet, old: Option<&Value>, new: Option<&Value>) -> FieldSet {
    let mut out = FieldSet::default();
    for (element, child) in &new_set.0 {
        let new_child = new.and_then(|n| step(n, element));
        let old_child = old.and_then(|o| step(o, element));
        // Equal values hold equal values at every path below; an element's own `.` changes
        // only when the element is new (what changed inside it is owned field by field).
        if old_child == new_child || (element == "." && old_child.is_some()) {
            continue;
        }
        if child.0.is_empty() {
            out.0.insert(element.clone(), FieldSet::default());
        } else {
            let changed = changed_within(child, old_child, new_child);
            if !changed.is_empty() {
                out.0.insert(element.clone(), changed);
            }
        }
    }
    out
}

/// Drops from `owned` the leaves that `changed` holds or `present` no longer does, pruning
/// what that empties.
fn disown(owned: &mut FieldSet, changed: Option<&FieldSet>, present: Option<&FieldSet>) -> bool {
    let leaf = |set: Option<&FieldSet>, key: &str| {
        set.and_then(|s| s.0.get(key))
            .is_some_and(FieldSet::is_empty)
    };
    let before = owned.0.len();
    let mut modified = false;
    owned.0.retain(|key, child| {
        if child.is_empty() {
            return !leaf(changed, key) && leaf(present, key);
        }
        let below = (
            changed.and_then(|s| s.0.get(key)),
            present.and_then(|s| s.0.get(key)),
        );
        modified |= disown(child, below.0, below.1);
        !child.is_empty()
    });
    modified || owned.0.len() != before
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
    let ty = schema::root(kind);
    let mut entries = old.map(entries).unwrap_or_default();
    // Entries this write leaves alone keep their stored JSON.
    let stored: &[Value] = old
        .and_then(|o| o["metadata"]["managedFields"].as_array())
        .map_or(&[], Vec::as_slice);
    let mut modified = vec![false; entries.len()];
    let present = FieldSet::of(object, ty);
    let changed = changed_within(&present, old, Some(object));
    // What this write changed is no longer anyone else's; fields present no more belong to no
    // one.
    for (entry, modified) in entries.iter_mut().zip(&mut modified) {
        *modified = disown(&mut entry.fields, Some(&changed), Some(&present));
    }
    if !changed.is_empty() {
        let mine = entries.iter().position(|e| {
            e.manager == manager
                && e.operation == "Update"
                && e.subresource.as_deref() == subresource
        });
        match mine {
            Some(index) => {
                let entry = &mut entries[index];
                for path in changed.leaves() {
                    entry.fields.insert(&path);
                }
                entry.time = None;
                modified[index] = true;
            }
            None => {
                entries.push(Entry {
                    manager: manager.to_owned(),
                    operation: "Update".to_owned(),
                    api_version: api_version.to_owned(),
                    subresource: subresource.map(str::to_owned),
                    fields: changed,
                    time: None,
                });
                modified.push(true);
            }
        }
    }
    let kept: Vec<Option<&Value>> = modified
        .iter()
        .enumerate()
        .map(|(index, modified)| stored.get(index).filter(|_| !modified))
        .collect();
    store_keeping(object, &entries, &kept);
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
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "web"}, "finalizers": ["x"]},
            "spec": {"containers": [{"name": "web", "image": "web:1"}], "tolerations": [{"key": "a"}]},
        })
    }

    #[test]
    fn field_sets_read_like_fields_v1() {
        let set = FieldSet::of(&pod(), schema::root("Pod"));
        assert_eq!(
            set.to_json(),
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"x\"": {}}},
                "f:spec": {
                    "f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}},
                    "f:tolerations": {},
                },
            })
        );
        let path: Path = vec![
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"web\"}".into(),
            "f:image".into(),
        ];
        assert_eq!(lookup(&pod(), &path), Some(&json!("web:1")));
        assert!(set.contains(&path));
    }

    #[test]
    fn updates_take_ownership_of_what_they_change() {
        let mut created = pod();
        record_update(&mut created, None, "kubectl-create", "v1", None, "Pod");
        let mut edited = created.clone();
        edited["spec"]["containers"][0]["image"] = json!("web:2");
        record_update(
            &mut edited,
            Some(&created),
            "kubectl-edit",
            "v1",
            None,
            "Pod",
        );
        let entries = entries(&edited);
        assert_eq!(entries.len(), 2);
        let image: Path = vec![
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"web\"}".into(),
            "f:image".into(),
        ];
        assert!(!entries[0].fields.contains(&image));
        assert!(entries[1].fields.contains(&image));
        assert_eq!(entries[1].manager, "kubectl-edit");
    }

    #[test]
    fn an_update_disowns_what_it_changes_or_removes_and_keeps_other_entries_as_stored() {
        let mut created = pod();
        created["metadata"]["labels"]["tier"] = json!("front");
        record_update(&mut created, None, "kubectl-create", "v1", None, "Pod");
        let mut labelled = created.clone();
        labelled["metadata"]["annotations"] = json!({"note": "x"});
        record_update(
            &mut labelled,
            Some(&created),
            "annotator",
            "v1",
            None,
            "Pod",
        );
        let annotator = labelled["metadata"]["managedFields"][1].clone();
        // A stored time the writer would not produce shows the entry is kept as stored.
        labelled["metadata"]["managedFields"][1]["time"] = json!("2020-01-01T00:00:00Z");

        let mut edited = labelled.clone();
        edited["spec"]["containers"][0]["image"] = json!("web:2");
        edited["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("tier");
        record_update(
            &mut edited,
            Some(&labelled),
            "kubectl-edit",
            "v1",
            None,
            "Pod",
        );

        let entries = entries(&edited);
        let path = |p: &[&str]| p.iter().map(|e| (*e).to_owned()).collect::<Path>();
        let image = path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"]);
        let tier = path(&["f:metadata", "f:labels", "f:tier"]);
        let app = path(&["f:metadata", "f:labels", "f:app"]);
        assert!(entries[0].fields.contains(&app));
        assert!(!entries[0].fields.contains(&image));
        assert!(!entries[0].fields.contains(&tier));
        assert_eq!(entries[2].manager, "kubectl-edit");
        assert_eq!(entries[2].fields.leaves(), vec![image]);
        let mut kept = annotator;
        kept["time"] = json!("2020-01-01T00:00:00Z");
        assert_eq!(edited["metadata"]["managedFields"][1], kept);

        // A write that only removes a field takes it from its owner, and owns nothing.
        let tolerations = path(&["f:spec", "f:tolerations"]);
        assert!(entries[0].fields.contains(&tolerations));
        let mut removed = edited.clone();
        removed["spec"]
            .as_object_mut()
            .unwrap()
            .remove("tolerations");
        record_update(&mut removed, Some(&edited), "remover", "v1", None, "Pod");
        let after = super::entries(&removed);
        assert_eq!(after.len(), 3, "{after:?}");
        assert!(!after[0].fields.contains(&tolerations));
        assert!(after[0].fields.contains(&app));
        assert_eq!(removed["metadata"]["managedFields"][1], kept);

        // A write that changes nothing keeps every entry as it was.
        let mut again = edited.clone();
        record_update(&mut again, Some(&edited), "kubectl-edit", "v1", None, "Pod");
        assert_eq!(again, edited);
    }

    #[test]
    fn removing_paths() {
        let mut value = pod();
        remove_path(
            &mut value,
            &[
                "f:spec".into(),
                "f:containers".into(),
                "k:{\"name\":\"web\"}".into(),
                ".".into(),
            ],
        );
        assert_eq!(value["spec"]["containers"], json!([]));
        remove_path(
            &mut value,
            &["f:metadata".into(), "f:labels".into(), "f:app".into()],
        );
        assert_eq!(value["metadata"]["labels"], json!({}));
        assert_eq!(
            manager_name(None, Some("kubectl/v1.32.0 (linux/amd64)")),
            "kubectl"
        );
    }
}
