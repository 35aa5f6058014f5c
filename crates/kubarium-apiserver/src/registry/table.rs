//! `kubectl get` tables: column definitions and the cell formats kube-apiserver prints.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use serde_json::value::RawValue;

use super::Rules;

/// A column of a `meta.k8s.io/v1 Table`.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The header as the Table names it (`Ready`, `Nominated Node`); kubectl upper-cases it.
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `number`, `boolean`, `date`.
    pub kind: &'static str,
    /// `name` for the name column, else empty.
    pub format: &'static str,
    pub description: &'static str,
    /// 0 for default columns, 1 for `-o wide` only.
    pub priority: i32,
}

pub(crate) const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
pub(crate) const AGE_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The name column every table starts with.
pub(crate) const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: NAME_DESCRIPTION,
    priority: 0,
};
/// The age column.
pub(crate) const AGE: Column = Column {
    name: "Age",
    kind: "string",
    format: "",
    description: AGE_DESCRIPTION,
    priority: 0,
};

/// Columns of kinds without a printer of their own.
pub(crate) const DEFAULT_COLUMNS: &[Column] = &[NAME, AGE];

/// A column shown by default.
pub(crate) const fn col(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 0,
    }
}

/// A column shown with `-o wide`.
pub(crate) const fn wide(
    name: &'static str,
    kind: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority: 1,
    }
}

/// The age cell: time since `created`, as kubectl shows it.
pub(crate) fn age(created: Option<&Time>, now: Timestamp) -> Value {
    match created {
        Some(created) => Value::from(human_duration(now.as_second() - created.0.as_second())),
        None => Value::from("<unknown>"),
    }
}

/// A duration in seconds the way `kubectl get` shows ages: coarser the older it is, with at
/// most two units (`45s`, `3m20s`, `5h12m`, `3d4h`, `1y30d`).
pub(crate) fn human_duration(seconds: i64) -> String {
    // Up to a second of clock skew reads as "now".
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    let hours = seconds / 3600;
    let days = hours / 24;
    let pair = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    match () {
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 => pair(minutes, "m", seconds % 60, "s"),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => pair(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => pair(days, "d", hours % 24, "h"),
        _ if days < 365 * 2 => format!("{days}d"),
        _ if days < 365 * 8 => pair(days / 365, "y", days % 365, "d"),
        _ => format!("{}y", days / 365),
    }
}

/// `<none>` for an empty cell, as kubectl prints it.
pub(crate) fn or_none(text: String) -> Value {
    if text.is_empty() {
        Value::from("<none>")
    } else {
        Value::from(text)
    }
}

/// What each row carries besides its cells (the `includeObject` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Include {
    None,
    /// The object's metadata as `PartialObjectMetadata` (the default).
    Metadata,
    Object,
}

impl Include {
    /// From `includeObject`: `None`, `Object`, anything else `Metadata` (as upstream).
    pub(crate) fn from_param(param: Option<&str>) -> Self {
        match param {
            Some("None") => Include::None,
            Some("Object") => Include::Object,
            _ => Include::Metadata,
        }
    }
}

/// A `meta.k8s.io/v1 Table` written straight out as JSON, one row per stored object, so a
/// table of ten thousand objects never holds them all parsed at once.
pub(crate) struct TableWriter {
    rules: &'static dyn Rules,
    include: Include,
    now: Timestamp,
    out: Vec<u8>,
    rows: usize,
}

impl TableWriter {
    /// Starts a table with list metadata `meta`; `column_definitions` is false for the
    /// watch events after the first, which upstream sends without them.
    pub(crate) fn new(
        rules: &'static dyn Rules,
        include: Include,
        meta: &Value,
        column_definitions: bool,
    ) -> Self {
        let columns: Vec<Value> = if column_definitions {
            rules
                .columns()
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "name": c.name,
                        "type": c.kind,
                        "format": c.format,
                        "description": c.description,
                        "priority": c.priority,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(br#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":"#);
        write_json(&mut out, meta);
        out.extend_from_slice(br#","columnDefinitions":"#);
        write_json(&mut out, &columns);
        out.extend_from_slice(br#","rows":["#);
        Self {
            rules,
            include,
            now: Timestamp::now(),
            out,
            rows: 0,
        }
    }

    /// Adds the row of one object, given as its JSON.
    pub(crate) fn row(&mut self, object: &[u8]) {
        if self.rows > 0 {
            self.out.push(b',');
        }
        self.rows += 1;
        self.out.extend_from_slice(br#"{"cells":"#);
        write_json(&mut self.out, &self.rules.row(object, self.now));
        match self.include {
            Include::None => {}
            Include::Object => {
                self.out.extend_from_slice(br#","object":"#);
                self.out.extend_from_slice(object);
            }
            Include::Metadata => {
                self.out.extend_from_slice(
                    br#","object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":"#,
                );
                let metadata = serde_json::from_slice::<Metadata<'_>>(object)
                    .ok()
                    .and_then(|m| m.metadata);
                match metadata {
                    Some(raw) => self.out.extend_from_slice(raw.get().as_bytes()),
                    None => self.out.extend_from_slice(b"{}"),
                }
                self.out.push(b'}');
            }
        }
        self.out.push(b'}');
    }

    /// The finished table.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(b"]}");
        self.out
    }
}

/// An object's metadata, left as the JSON it is.
#[derive(serde::Deserialize)]
struct Metadata<'a> {
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
}

fn write_json(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    // Writing JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (600, "10m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 12 * 60, "5h12m"),
            (47 * 3600, "47h"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (400 * 86400, "400d"),
            (395 * 86400 * 2, "2y60d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (seconds, want) in cases {
            assert_eq!(human_duration(seconds), want, "{seconds}s");
        }
    }
}
