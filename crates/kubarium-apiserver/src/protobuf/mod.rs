//! Request bodies in Kubernetes' protobuf encoding, which client-go's typed clients send
//! for built-in kinds (`kubectl create deployment`, `create configmap`, `drain`'s evictions …).
//!
//! A body is the magic `k8s\0` and a `runtime.Unknown` wrapping the object's type and its
//! encoded bytes. They are decoded to the same JSON a JSON client would send, driven by
//! `schema.txt`: every message's field numbers with their JSON names (regenerate with
//! `cargo xtask protobuf-schema`). Kubernetes' protobuf fields are never renumbered, so the
//! table stays valid across versions; fields newer than it are skipped.

#[cfg(test)]
mod generate;

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::{Map, Value};

const MAGIC: &[u8] = b"k8s\0";

/// One field of a message, from `schema.txt`.
struct Field {
    json: &'static str,
    kind: &'static str,
    target: Option<&'static str>,
}

type Schema = HashMap<&'static str, HashMap<u32, Field>>;

fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut schema: Schema = HashMap::new();
        let mut current: Option<&'static str> = None;
        for line in include_str!("schema.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            if let Some(name) = line.strip_prefix("M ") {
                current = Some(name);
                schema.entry(name).or_default();
                continue;
            }
            let mut parts = line.split(' ');
            let (Some(number), Some(json), Some(kind)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Some(message), Ok(number)) = (current, number.parse()) else {
                continue;
            };
            schema.entry(message).or_default().insert(
                number,
                Field {
                    json,
                    kind,
                    target: parts.next(),
                },
            );
        }
        schema
    })
}

/// Decodes a protobuf request body into the JSON object it encodes.
pub(crate) fn decode(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("the protobuf body lacks the k8s magic prefix")?;
    let mut reader = Reader(envelope);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((number, wire)) = reader.key()? {
        match (number, wire) {
            (1, 2) => {
                let mut type_meta = Reader(reader.bytes()?);
                while let Some((n, w)) = type_meta.key()? {
                    match (n, w) {
                        (1, 2) => api_version = type_meta.string()?,
                        (2, 2) => kind = type_meta.string()?,
                        _ => type_meta.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = reader.bytes()?,
            _ => reader.skip(wire)?,
        }
    }
    let type_name = type_of(&api_version, &kind)
        .ok_or_else(|| format!("no protobuf schema for {api_version} {kind}"))?;
    let mut object = message(raw, type_name)?;
    if let Value::Object(map) = &mut object {
        map.insert("apiVersion".to_owned(), Value::from(api_version));
        map.insert("kind".to_owned(), Value::from(kind));
    }
    Ok(object)
}

/// The schema name of a served or subresource kind.
fn type_of(api_version: &str, kind: &str) -> Option<&'static str> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let name = match (group, kind) {
        ("autoscaling", "Scale") => "io.k8s.api.autoscaling.v1.Scale".to_owned(),
        ("policy", "Eviction") => "io.k8s.api.policy.v1.Eviction".to_owned(),
        ("", "Binding") => "io.k8s.api.core.v1.Binding".to_owned(),
        ("authentication.k8s.io", "TokenRequest") => {
            "io.k8s.api.authentication.v1.TokenRequest".to_owned()
        }
        (_, "DeleteOptions") => "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions".to_owned(),
        _ => crate::registry::RESOURCES
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)?
            .rules
            .schema_name(),
    };
    schema().get_key_value(name.as_str()).map(|(k, _)| *k)
}

/// Decodes one message of `type_name` into JSON.
fn message(bytes: &[u8], type_name: &str) -> Result<Value, String> {
    if let Some(special) = special(bytes, type_name)? {
        return Ok(special);
    }
    let fields = schema().get(type_name);
    let mut out = Map::new();
    let mut reader = Reader(bytes);
    while let Some((number, wire)) = reader.key()? {
        let Some(field) = fields.and_then(|f| f.get(&number)) else {
            reader.skip(wire)?;
            continue;
        };
        let repeated = field.kind.starts_with('r');
        let base = field.kind.trim_start_matches('r');
        if let Some(value_kind) = field.kind.strip_prefix("map_") {
            let mut entry = Reader(reader.bytes()?);
            let (mut key, mut value) = (String::new(), Value::Null);
            while let Some((n, w)) = entry.key()? {
                match (n, value_kind) {
                    (1, _) => key = entry.string()?,
                    (2, "s") => value = Value::from(entry.string()?),
                    (2, "y") => {
                        value = Value::from(
                            base64::engine::general_purpose::STANDARD.encode(entry.bytes()?),
                        )
                    }
                    (2, _) => value = message(entry.bytes()?, field.target.unwrap_or_default())?,
                    _ => entry.skip(w)?,
                }
            }
            let map = out
                .entry(field.json)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = map {
                map.insert(key, value);
            }
            continue;
        }
        if field.kind == "inline" {
            if let Value::Object(inner) =
                message(reader.bytes()?, field.target.unwrap_or_default())?
            {
                out.extend(inner);
            }
            continue;
        }
        // Repeated scalars may arrive packed (one length-delimited run) or one by one.
        let values: Vec<Value> = match (base, wire) {
            ("i", 2) if repeated => {
                let mut packed = Reader(reader.bytes()?);
                let mut values = Vec::new();
                while !packed.0.is_empty() {
                    values.push(Value::from(packed.varint()? as i64));
                }
                values
            }
            ("i", _) => vec![Value::from(reader.varint()? as i64)],
            ("b", _) => vec![Value::from(reader.varint()? != 0)],
            ("d", _) => vec![Value::from(f64::from_bits(reader.fixed64()?))],
            ("f", _) => vec![Value::from(f64::from(f32::from_bits(reader.fixed32()?)))],
            ("s", _) => vec![Value::from(reader.string()?)],
            ("y", _) => vec![Value::from(
                base64::engine::general_purpose::STANDARD.encode(reader.bytes()?),
            )],
            _ => vec![message(reader.bytes()?, field.target.unwrap_or_default())?],
        };
        for value in values {
            if repeated {
                let list = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.push(value);
                }
            } else if !omitted(&value) {
                out.insert(field.json.to_owned(), value);
            }
        }
    }
    if type_name == "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        && out.get("generation") == Some(&Value::from(0))
    {
        // The server sets generations; zero is protobuf's "unset".
        out.remove("generation");
    }
    Ok(Value::Object(out))
}

/// Protobuf writes every non-pointer field, JSON omits the empty ones: drop empty strings
/// and zero times so the object reads as a JSON client would have sent it.
fn omitted(value: &Value) -> bool {
    matches!(value, Value::Null) || value.as_str() == Some("")
}

/// Messages with their own JSON form: times, quantities, int-or-strings, raw JSON.
fn special(bytes: &[u8], type_name: &str) -> Result<Option<Value>, String> {
    let short = type_name.rsplit('.').next().unwrap_or_default();
    let mut reader = Reader(bytes);
    Ok(Some(
        match (type_name.starts_with("io.k8s.apimachinery."), short) {
            (true, "Time" | "MicroTime") => {
                let (mut seconds, mut nanos) = (0i64, 0i64);
                while let Some((n, w)) = reader.key()? {
                    match n {
                        1 => seconds = reader.varint()? as i64,
                        2 => nanos = reader.varint()? as i64,
                        _ => reader.skip(w)?,
                    }
                }
                // Go's zero time (or an empty message), which protobuf writes for unset
                // non-pointer times.
                if (seconds == -62_135_596_800 || seconds == 0) && nanos == 0 {
                    return Ok(Some(Value::Null));
                }
                let stamp = k8s_openapi::jiff::Timestamp::new(seconds, nanos as i32)
                    .map_err(|e| e.to_string())?;
                let format = if short == "Time" {
                    "%Y-%m-%dT%H:%M:%SZ"
                } else {
                    "%Y-%m-%dT%H:%M:%S.%6fZ"
                };
                Value::from(stamp.strftime(format).to_string())
            }
            (true, "IntOrString") => {
                let (mut kind, mut int, mut text) = (0, 0i64, String::new());
                while let Some((n, w)) = reader.key()? {
                    match n {
                        1 => kind = reader.varint()?,
                        2 => int = reader.varint()? as i64,
                        3 => text = reader.string()?,
                        _ => reader.skip(w)?,
                    }
                }
                if kind == 1 {
                    Value::from(text)
                } else {
                    Value::from(int)
                }
            }
            (true, "Quantity") => {
                let mut text = String::new();
                while let Some((n, w)) = reader.key()? {
                    if n == 1 {
                        text = reader.string()?
                    } else {
                        reader.skip(w)?
                    }
                }
                Value::from(text)
            }
            (true, "RawExtension" | "FieldsV1") => {
                let mut raw = &[][..];
                while let Some((n, w)) = reader.key()? {
                    if n == 1 {
                        raw = reader.bytes()?
                    } else {
                        reader.skip(w)?
                    }
                }
                serde_json::from_slice(raw).unwrap_or(Value::Null)
            }
            _ => return Ok(None),
        },
    ))
}

/// A cursor over protobuf wire data.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or("truncated varint")?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".to_owned())
    }

    fn key(&mut self) -> Result<Option<(u32, u8)>, String> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        Ok(Some(((key >> 3) as u32, (key & 7) as u8)))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
        if len > self.0.len() {
            return Err("truncated field".to_owned());
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec())
            .map_err(|_| "a string field is not UTF-8".to_owned())
    }

    fn fixed64(&mut self) -> Result<u64, String> {
        let (head, rest) = self.0.split_at_checked(8).ok_or("truncated fixed64")?;
        self.0 = rest;
        Ok(u64::from_le_bytes(
            head.try_into().map_err(|_| "truncated fixed64")?,
        ))
    }

    fn fixed32(&mut self) -> Result<u32, String> {
        let (head, rest) = self.0.split_at_checked(4).ok_or("truncated fixed32")?;
        self.0 = rest;
        Ok(u32::from_le_bytes(
            head.try_into().map_err(|_| "truncated fixed32")?,
        ))
    }

    fn skip(&mut self, wire: u8) -> Result<(), String> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.fixed64().map(drop),
            2 => self.bytes().map(drop),
            5 => self.fixed32().map(drop),
            other => Err(format!("unsupported wire type {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-encoded ConfigMap as client-go writes it.
    #[test]
    fn a_configmap_decodes_to_its_json() {
        fn field(n: u8, bytes: &[u8]) -> Vec<u8> {
            let mut out = vec![(n << 3) | 2, bytes.len() as u8];
            out.extend_from_slice(bytes);
            out
        }
        let meta = [field(1, b"c1"), field(2, b""), field(3, b"default")].concat();
        let entry = [field(1, b"a"), field(2, b"b")].concat();
        let configmap = [field(1, &meta), field(2, &entry)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let unknown = [field(1, &type_meta), field(2, &configmap)].concat();
        let body = [MAGIC, &unknown].concat();
        let decoded = decode(&body).unwrap();
        assert_eq!(
            decoded,
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "namespace": "default"}, "data": {"a": "b"}})
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"nope").is_err());
        assert!(decode(b"k8s\0\x0a\xff").is_err());
        assert!(decode(b"k8s\0\x0a\x02\x0a\x05").is_err());
    }
}
