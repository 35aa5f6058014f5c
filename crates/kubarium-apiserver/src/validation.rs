//! Validation with upstream's field paths and messages: each problem becomes a `StatusCause`
//! (`reason`, `field`, `message`), and a 422 `Invalid` lists them all.

use std::fmt::Display;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, StatusCause};
use serde_json::Value;

/// How a kind's object names must look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// RFC 1123 subdomain: most kinds.
    Subdomain,
    /// RFC 1123 label: namespaces.
    Label,
    /// RFC 1035 label: services (their names become DNS labels that must not start with a
    /// digit).
    Dns1035,
    /// Anything a path segment can hold (events, leases use subdomains but tolerate more).
    PathSegment,
}

/// The causes found so far.
#[derive(Debug, Default)]
pub(crate) struct Causes(Vec<StatusCause>);

/// A value as upstream quotes it in messages: strings in quotes, numbers and booleans bare.
pub(crate) fn show(value: impl serde::Serialize) -> String {
    serde_json::to_string(&value).unwrap_or_default()
}

impl Causes {
    fn push(&mut self, reason: &str, field: &str, message: String) {
        self.0.push(StatusCause {
            reason: Some(reason.to_owned()),
            field: Some(field.to_owned()),
            message: Some(message),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn into_inner(self) -> Vec<StatusCause> {
        self.0
    }

    /// `Required value`, with an optional explanation.
    pub(crate) fn required(&mut self, field: &str, detail: &str) {
        let message = if detail.is_empty() {
            "Required value".to_owned()
        } else {
            format!("Required value: {detail}")
        };
        self.push("FieldValueRequired", field, message);
    }

    /// `Invalid value: <value>: <detail>`.
    pub(crate) fn invalid(
        &mut self,
        field: &str,
        value: impl serde::Serialize,
        detail: impl Display,
    ) {
        self.push(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {}: {detail}", show(value)),
        );
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub(crate) fn not_supported(&mut self, field: &str, value: &str, supported: &[&str]) {
        let listed: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        self.push(
            "FieldValueNotSupported",
            field,
            format!(
                "Unsupported value: \"{value}\": supported values: {}",
                listed.join(", ")
            ),
        );
    }

    /// `Duplicate value: <value>`.
    pub(crate) fn duplicate(&mut self, field: &str, value: impl serde::Serialize) {
        self.push(
            "FieldValueDuplicate",
            field,
            format!("Duplicate value: {}", show(value)),
        );
    }

    /// `Not found: <value>`: a reference to something that is not there.
    pub(crate) fn push_not_found(&mut self, field: &str, value: &str) {
        self.push(
            "FieldValueNotFound",
            field,
            format!("Not found: {}", show(value)),
        );
    }

    /// `Forbidden: <detail>`.
    pub(crate) fn forbidden(&mut self, field: &str, detail: impl Display) {
        self.push("FieldValueForbidden", field, format!("Forbidden: {detail}"));
    }

    /// A field that may not change: `Invalid value: …: field is immutable`.
    pub(crate) fn immutable<T: PartialEq + serde::Serialize>(
        &mut self,
        field: &str,
        new: &T,
        old: &T,
    ) {
        if new != old {
            self.invalid(field, new, "field is immutable");
        }
    }

    /// Checks that an optional integer is at least `min`.
    pub(crate) fn at_least(&mut self, field: &str, value: Option<i64>, min: i64) {
        if let Some(v) = value.filter(|v| *v < min) {
            self.invalid(field, v, format!("must be greater than or equal to {min}"));
        }
    }

    /// Checks `value` is one of `supported` (when set).
    pub(crate) fn one_of(&mut self, field: &str, value: Option<&str>, supported: &[&str]) {
        if let Some(v) = value.filter(|v| !supported.contains(v)) {
            self.not_supported(field, v, supported);
        }
    }

    /// Checks a name against `rule`.
    pub(crate) fn name(&mut self, field: &str, name: &str, rule: NameRule) {
        for problem in name_problems(name, rule) {
            self.invalid(field, name, problem);
        }
    }

    /// Checks a map of labels: qualified-name keys and label values.
    pub(crate) fn labels(
        &mut self,
        field: &str,
        labels: Option<&std::collections::BTreeMap<String, String>>,
    ) {
        for (key, value) in labels.into_iter().flatten() {
            for problem in qualified_name_problems(key) {
                self.invalid(field, key, problem);
            }
            for problem in label_value_problems(value) {
                self.invalid(&format!("{field}[{key}]"), value, problem);
            }
        }
    }
}

const SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MESSAGE: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MESSAGE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_label(s: &str, first_alpha: bool) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let first_ok = if first_alpha {
        first.is_ascii_lowercase()
    } else {
        first.is_ascii_lowercase() || first.is_ascii_digit()
    };
    first_ok
        && (last.is_ascii_lowercase() || last.is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Whether `s` is an RFC 1123 label (at most 63 characters).
pub(crate) fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && is_label(s, false)
}

/// Whether `s` is an RFC 1123 subdomain (at most 253 characters).
pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|part| is_label(part, false))
}

/// What is wrong with `name` under `rule`, in upstream's words.
pub(crate) fn name_problems(name: &str, rule: NameRule) -> Vec<String> {
    let mut problems = Vec::new();
    match rule {
        NameRule::Subdomain => {
            if name.len() > 253 {
                problems.push("must be no more than 253 characters".to_owned());
            }
            if !name.split('.').all(|part| is_label(part, false)) {
                problems.push(SUBDOMAIN_MESSAGE.to_owned());
            }
        }
        NameRule::Label => {
            if name.len() > 63 {
                problems.push("must be no more than 63 characters".to_owned());
            }
            if !is_label(name, false) {
                problems.push(LABEL_MESSAGE.to_owned());
            }
        }
        NameRule::Dns1035 => {
            if name.len() > 63 {
                problems.push("must be no more than 63 characters".to_owned());
            }
            if !is_label(name, true) {
                problems.push(DNS1035_MESSAGE.to_owned());
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                problems.push(format!("may not be '{name}'"));
            }
            for bad in ['/', '%'] {
                if name.contains(bad) {
                    problems.push(format!("may not contain '{bad}'"));
                }
            }
        }
    }
    problems
}

fn is_qualified_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Problems with a label or annotation key (`[prefix/]name`).
pub(crate) fn qualified_name_problems(key: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            problems.push("prefix part must be non-empty".to_owned());
        } else if !is_dns_subdomain(prefix) {
            problems.push(format!("prefix part {SUBDOMAIN_MESSAGE}"));
        }
    }
    if name.is_empty() {
        problems.push("name part must be non-empty".to_owned());
    } else {
        if name.len() > 63 {
            problems.push("name part must be no more than 63 characters".to_owned());
        }
        if !is_qualified_part(name) {
            problems.push(QUALIFIED_NAME_MESSAGE.to_owned());
        }
    }
    problems
}

/// Problems with a label value.
pub(crate) fn label_value_problems(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if value.len() > 63 {
        problems.push("must be no more than 63 characters".to_owned());
    }
    if !value.is_empty() && !is_qualified_part(value) {
        problems.push(LABEL_VALUE_MESSAGE.to_owned());
    }
    problems
}

/// Upstream's limit on the total size of an object's annotations.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Validates the metadata every kind shares.
pub(crate) fn object_meta(meta: &ObjectMeta, rule: NameRule, causes: &mut Causes) {
    match meta.name.as_deref() {
        None | Some("") => causes.required("metadata.name", "name or generateName is required"),
        Some(name) => causes.name("metadata.name", name, rule),
    }
    causes.labels("metadata.labels", meta.labels.as_ref());
    if let Some(annotations) = &meta.annotations {
        let mut total = 0;
        for (key, value) in annotations {
            total += key.len() + value.len();
            for problem in qualified_name_problems(key) {
                causes.invalid("metadata.annotations", key, problem);
            }
        }
        if total > ANNOTATIONS_MAX_BYTES {
            causes.push(
                "FieldValueTooLong",
                "metadata.annotations",
                format!("Too long: may not be more than {ANNOTATIONS_MAX_BYTES} bytes"),
            );
        }
    }
    for (i, finalizer) in meta.finalizers.iter().flatten().enumerate() {
        for problem in qualified_name_problems(finalizer) {
            causes.invalid(&format!("metadata.finalizers[{i}]"), finalizer, problem);
        }
    }
}

/// `value` as a JSON value, for messages about composite fields.
pub(crate) fn json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name_problems("web-0.example", NameRule::Subdomain).is_empty());
        assert!(!name_problems("Web", NameRule::Subdomain).is_empty());
        assert!(!name_problems("-web", NameRule::Label).is_empty());
        assert!(name_problems("123-abc", NameRule::Label).is_empty());
        assert!(!name_problems("123-abc", NameRule::Dns1035).is_empty());
        assert!(!name_problems(&"a".repeat(64), NameRule::Label).is_empty());
        assert!(name_problems("Any Thing", NameRule::PathSegment).is_empty());
        assert!(!name_problems("a/b", NameRule::PathSegment).is_empty());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(qualified_name_problems("app.kubernetes.io/name").is_empty());
        assert!(qualified_name_problems("app").is_empty());
        assert!(!qualified_name_problems("/app").is_empty());
        assert!(!qualified_name_problems("Bad_Prefix/app").is_empty());
        assert!(!qualified_name_problems("app-").is_empty());
        assert!(label_value_problems("").is_empty());
        assert!(label_value_problems("v1.2_3").is_empty());
        assert!(!label_value_problems("has space").is_empty());
    }

    #[test]
    fn messages_read_like_upstream() {
        let mut causes = Causes::default();
        causes.invalid("spec.replicas", -1, "must be greater than or equal to 0");
        causes.not_supported("spec.type", "Bogus", &["ClusterIP", "NodePort"]);
        let causes = causes.into_inner();
        assert_eq!(
            causes[0].message.as_deref(),
            Some("Invalid value: -1: must be greater than or equal to 0")
        );
        assert_eq!(
            causes[1].message.as_deref(),
            Some("Unsupported value: \"Bogus\": supported values: \"ClusterIP\", \"NodePort\"")
        );
    }
}
