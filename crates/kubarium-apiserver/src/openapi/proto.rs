//! `/openapi/v2` as protobuf (gnostic's `openapi.v2.Document`), which kubectl up to 1.29
//! asks for and accepts exclusively.
//!
//! Encodes the JSON document field by field: what the messages carry, kube-openapi reads
//! back; JSON Schema keywords the proto has no field for are left out, and vendor extensions
//! travel as `Any { yaml }` (JSON is YAML).

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, field: u32, text: &str) {
        if !text.is_empty() {
            self.bytes(field, text.as_bytes());
        }
    }

    fn boolean(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn message(&mut self, field: u32, message: Message) {
        self.bytes(field, &message.0);
    }

    /// `field` as an `Any { yaml }`.
    fn any(&mut self, field: u32, value: &Value) {
        let mut any = Message::default();
        any.string(2, &value.to_string());
        self.message(field, any);
    }

    /// `x-…` keys of `map` as repeated `NamedAny` in `field`.
    fn extensions(&mut self, field: u32, map: &Map<String, Value>) {
        for (key, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
            let mut named = Message::default();
            named.string(1, key);
            named.any(2, value);
            self.message(field, named);
        }
    }
}

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn strings<'a>(map: &'a Map<String, Value>, key: &str) -> impl Iterator<Item = &'a str> {
    map.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Encodes a Swagger 2.0 JSON document as `openapi.v2.Document`.
pub(super) fn document(doc: &Value) -> Vec<u8> {
    let mut out = Message::default();
    let Some(doc) = doc.as_object() else {
        return out.0;
    };
    out.string(1, text(doc, "swagger"));
    if let Some(info) = doc.get("info").and_then(Value::as_object) {
        let mut m = Message::default();
        m.string(1, text(info, "title"));
        m.string(2, text(info, "version"));
        out.message(2, m);
    }
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        let mut m = Message::default();
        for (path, item) in paths {
            let mut named = Message::default();
            named.string(1, path);
            named.message(2, path_item(item));
            m.message(2, named);
        }
        out.message(8, m);
    }
    if let Some(definitions) = doc.get("definitions").and_then(Value::as_object) {
        let mut m = Message::default();
        for (name, def) in definitions {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, schema(def));
            m.message(1, named);
        }
        out.message(9, m);
    }
    out.0
}

fn path_item(item: &Value) -> Message {
    let mut m = Message::default();
    let Some(item) = item.as_object() else {
        return m;
    };
    for (method, field) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("patch", 8),
    ] {
        if let Some(op) = item.get(method) {
            m.message(field, operation(op));
        }
    }
    for parameter in item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(9, parameters_item(parameter));
    }
    m
}

fn operation(op: &Value) -> Message {
    let mut m = Message::default();
    let Some(op) = op.as_object() else { return m };
    for tag in strings(op, "tags") {
        m.string(1, tag);
    }
    m.string(3, text(op, "description"));
    m.string(5, text(op, "operationId"));
    for produces in strings(op, "produces") {
        m.string(6, produces);
    }
    for consumes in strings(op, "consumes") {
        m.string(7, consumes);
    }
    for parameter in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(8, parameters_item(parameter));
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        let mut r = Message::default();
        for (code, response) in responses {
            let mut body = Message::default();
            body.string(
                1,
                response
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            );
            if let Some(s) = response.get("schema") {
                let mut item = Message::default();
                item.message(1, schema(s));
                body.message(2, item);
            }
            let mut value = Message::default();
            value.message(1, body);
            let mut named = Message::default();
            named.string(1, code);
            named.message(2, value);
            r.message(1, named);
        }
        m.message(9, r);
    }
    m.extensions(13, op);
    m
}

fn parameters_item(parameter: &Value) -> Message {
    let mut p = Message::default();
    let Some(map) = parameter.as_object() else {
        return p;
    };
    let place = text(map, "in");
    let required = map
        .get("required")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if place == "body" {
        let mut body = Message::default();
        body.string(1, text(map, "description"));
        body.string(2, text(map, "name"));
        body.string(3, place);
        body.boolean(4, required);
        if let Some(s) = map.get("schema") {
            body.message(5, schema(s));
        }
        p.message(1, body);
    } else {
        let mut sub = Message::default();
        sub.boolean(1, required);
        sub.string(2, place);
        sub.string(3, text(map, "description"));
        sub.string(4, text(map, "name"));
        let unique = map
            .get("uniqueItems")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut non_body = Message::default();
        if place == "path" {
            sub.string(5, text(map, "type"));
            sub.boolean(19, unique);
            non_body.message(4, sub);
        } else {
            sub.string(6, text(map, "type"));
            sub.boolean(20, unique);
            non_body.message(3, sub);
        }
        p.message(2, non_body);
    }
    let mut item = Message::default();
    item.message(1, p);
    item
}

fn schema(value: &Value) -> Message {
    let mut m = Message::default();
    let Some(map) = value.as_object() else {
        return m;
    };
    m.string(1, text(map, "$ref"));
    m.string(2, text(map, "format"));
    m.string(3, text(map, "title"));
    m.string(4, text(map, "description"));
    if let Some(default) = map.get("default") {
        m.any(5, default);
    }
    for required in strings(map, "required") {
        m.string(19, required);
    }
    for value in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.any(20, value);
    }
    match map.get("additionalProperties") {
        Some(nested @ Value::Object(_)) => {
            let mut item = Message::default();
            item.message(1, schema(nested));
            m.message(21, item);
        }
        Some(Value::Bool(allowed)) => {
            let mut item = Message::default();
            item.key(2, 0);
            item.varint(u64::from(*allowed));
            m.message(21, item);
        }
        _ => {}
    }
    let types: Vec<&str> = match map.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let mut t = Message::default();
        for kind in types {
            t.string(1, kind);
        }
        m.message(22, t);
    }
    if let Some(items) = map.get("items") {
        let mut item = Message::default();
        item.message(1, schema(items));
        m.message(23, item);
    }
    for part in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(24, schema(part));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        let mut p = Message::default();
        for (name, property) in properties {
            let mut named = Message::default();
            named.string(1, name);
            named.message(2, schema(property));
            p.message(1, named);
        }
        m.message(25, p);
    }
    m.extensions(31, map);
    m
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn varints_and_strings() {
        let mut m = Message::default();
        m.string(1, "2.0");
        m.key(2, 0);
        m.varint(300);
        assert_eq!(m.0, [0x0a, 3, b'2', b'.', b'0', 0x10, 0xac, 0x02]);
    }

    #[test]
    fn a_document_encodes() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "definitions": {"io.k8s.A": {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-group-version-kind": [{"group": "", "kind": "A", "version": "v1"}]}},
        });
        let bytes = document(&doc);
        assert!(bytes.starts_with(&[0x0a, 3, b'2', b'.', b'0']));
        assert!(bytes.windows(8).any(|w| w == b"io.k8s.A"));
    }
}
