//! Label and field selectors, with upstream's syntax.
//!
//! Labels: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`,
//! joined by commas. Fields: `f=v`, `f==v`, `f!=v`, joined by commas, with `\` escaping.

use crate::validation::{label_value_problems, qualified_name_problems};

/// One label requirement.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses `text`; errors read like upstream's ("unable to parse requirement: …").
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let (requirement, after) = parse_requirement(rest)?;
            requirements.push(requirement);
            rest = after.trim_start();
            if let Some(after_comma) = rest.strip_prefix(',') {
                rest = after_comma.trim_start();
                if rest.is_empty() {
                    return Err("found '', expected: identifier after ','".to_owned());
                }
            } else if !rest.is_empty() {
                return Err(format!(
                    "found '{}', expected: ',' or 'end of string'",
                    rest.chars().next().unwrap_or(' ')
                ));
            }
        }
        Ok(Self(requirements))
    }

    /// Whether `labels` satisfy every requirement.
    pub(crate) fn matches<'a>(&self, labels: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Exists(k) => labels(k).is_some(),
            Requirement::NotExists(k) => labels(k).is_none(),
            Requirement::In(k, values) => labels(k).is_some_and(|v| values.iter().any(|x| x == v)),
            Requirement::NotIn(k, values) => {
                labels(k).is_none_or(|v| !values.iter().any(|x| x == v))
            }
            Requirement::Gt(k, n) => labels(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Requirement::Lt(k, n) => labels(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        })
    }

    /// Whether the selector has no requirement.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

fn check_key(key: &str) -> Result<(), String> {
    match qualified_name_problems(key).first() {
        Some(problem) => Err(format!(
            "unable to parse requirement: invalid label key \"{key}\": {problem}"
        )),
        None => Ok(()),
    }
}

fn check_value(value: &str) -> Result<(), String> {
    match label_value_problems(value).first() {
        Some(problem) => Err(format!(
            "unable to parse requirement: invalid label value: \"{value}\": {problem}"
        )),
        None => Ok(()),
    }
}

fn take_key(text: &str) -> (&str, &str) {
    let end = text.find(|c: char| !is_key_char(c)).unwrap_or(text.len());
    text.split_at(end)
}

fn parse_requirement(text: &str) -> Result<(Requirement, &str), String> {
    if let Some(after) = text.strip_prefix('!') {
        let (key, rest) = take_key(after.trim_start());
        check_key(key)?;
        return Ok((Requirement::NotExists(key.to_owned()), rest));
    }
    let (key, rest) = take_key(text);
    if key.is_empty() {
        return Err(format!(
            "found '{}', expected: identifier",
            text.chars().next().unwrap_or(' ')
        ));
    }
    check_key(key)?;
    let rest = rest.trim_start();
    let value = |rest: &str| -> (String, usize) {
        let end = rest
            .find(|c: char| c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        (rest[..end].to_owned(), end)
    };
    for (op, negate) in [("==", false), ("!=", true), ("=", false)] {
        if let Some(after) = rest.strip_prefix(op) {
            let after = after.trim_start();
            let (v, used) = value(after);
            check_value(&v)?;
            let requirement = if negate {
                Requirement::NotIn(key.to_owned(), vec![v])
            } else {
                Requirement::In(key.to_owned(), vec![v])
            };
            return Ok((requirement, &after[used..]));
        }
    }
    for (op, greater) in [(">", true), ("<", false)] {
        if let Some(after) = rest.strip_prefix(op) {
            let after = after.trim_start();
            let (v, used) = value(after);
            let n: i64 = v.parse().map_err(|_| format!("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer, got \"{v}\""))?;
            let requirement = if greater {
                Requirement::Gt(key.to_owned(), n)
            } else {
                Requirement::Lt(key.to_owned(), n)
            };
            return Ok((requirement, &after[used..]));
        }
    }
    for (word, negate) in [("notin", true), ("in", false)] {
        let Some(after) = rest.strip_prefix(word) else {
            continue;
        };
        let Some(after) = after.trim_start().strip_prefix('(') else {
            return Err(format!(
                "found '{}', expected: '('",
                after.trim_start().chars().next().unwrap_or(' ')
            ));
        };
        let Some(close) = after.find(')') else {
            return Err("found 'end of string', expected: ')'".to_owned());
        };
        let values: Vec<String> = after[..close]
            .split(',')
            .map(|v| v.trim().to_owned())
            .collect();
        for v in &values {
            check_value(v)?;
        }
        let requirement = if negate {
            Requirement::NotIn(key.to_owned(), values)
        } else {
            Requirement::In(key.to_owned(), values)
        };
        return Ok((requirement, &after[close + 1..]));
    }
    Ok((Requirement::Exists(key.to_owned()), rest))
}

/// A parsed field selector: (field, value, negated) terms, all of which must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    /// Parses `text`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in split_unescaped(text, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let (field, value, negated) = if let Some((f, v)) = split_once_unescaped(&term, "!=") {
                (f, v, true)
            } else if let Some((f, v)) = split_once_unescaped(&term, "==") {
                (f, v, false)
            } else if let Some((f, v)) = split_once_unescaped(&term, "=") {
                (f, v, false)
            } else {
                return Err(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                ));
            };
            if field.trim().is_empty() {
                return Err(format!(
                    "invalid selector: '{text}'; a field name is missing"
                ));
            }
            terms.push((field.trim().to_owned(), unescape(&value), negated));
        }
        Ok(Self(terms))
    }

    /// The fields it reads.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(f, _, _)| f.as_str())
    }

    /// Whether the object's field values (looked up by `field`) satisfy every term.
    pub(crate) fn matches(&self, field: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|(name, value, negated)| {
            let actual = field(name).unwrap_or_default();
            (actual == *value) != *negated
        })
    }

    /// The value an equality term requires of `field`, if any (lets a list by name or
    /// namespace read one key or one namespace instead of all).
    pub(crate) fn required(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _, negated)| f == field && !negated)
            .map(|(_, v, _)| v.as_str())
    }

    /// Whether there are no terms.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn split_unescaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let last = parts
                    .last_mut()
                    .unwrap_or_else(|| unreachable!("parts starts non-empty"));
                last.push('\\');
                if let Some(next) = chars.next() {
                    last.push(next);
                }
            }
            c if c == separator => parts.push(String::new()),
            c => parts
                .last_mut()
                .unwrap_or_else(|| unreachable!("parts starts non-empty"))
                .push(c),
        }
    }
    parts
}

fn split_once_unescaped(text: &str, operator: &str) -> Option<(String, String)> {
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            // The escaped character is part of the term, whatever it is.
            chars.next();
            continue;
        }
        if text[i..].starts_with(operator) {
            return Some((text[..i].to_owned(), text[i + operator.len()..].to_owned()));
        }
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn matches(selector: &str, labels: &[(&str, &str)]) -> bool {
        let map: HashMap<&str, &str> = labels.iter().copied().collect();
        LabelSelector::parse(selector)
            .unwrap()
            .matches(|k| map.get(k).copied())
    }

    #[test]
    fn every_label_operator() {
        let labels = [("app", "web"), ("tier", "front"), ("rank", "3")];
        assert!(matches("", &labels));
        assert!(matches("app=web", &labels));
        assert!(matches("app==web,tier=front", &labels));
        assert!(!matches("app!=web", &labels));
        assert!(matches("env!=prod", &labels));
        assert!(matches("app in (web, api)", &labels));
        assert!(!matches("app notin (web)", &labels));
        assert!(matches("env notin (prod)", &labels));
        assert!(matches("app", &labels));
        assert!(matches("!env", &labels));
        assert!(!matches("!app", &labels));
        assert!(matches("rank>2,rank<4", &labels));
        assert!(!matches("rank>3", &labels));
        assert!(matches("app.kubernetes.io/name notin (x)", &labels));
    }

    #[test]
    fn bad_label_selectors_say_why() {
        for bad in [
            "app=",
            "=web",
            "app in web",
            "app in (web",
            "a b",
            "rank>x",
            "app=web,",
            "Bad Key=1",
        ] {
            let result = LabelSelector::parse(bad);
            if bad == "app=" {
                assert!(result.is_ok(), "an empty value is valid: {bad}");
                continue;
            }
            assert!(result.is_err(), "{bad} parsed as {result:?}");
        }
    }

    #[test]
    fn field_selectors() {
        let selector =
            FieldSelector::parse("metadata.name=web,status.phase!=Running,spec.nodeName==")
                .unwrap();
        let fields = |f: &str| match f {
            "metadata.name" => Some("web".to_owned()),
            "status.phase" => Some("Pending".to_owned()),
            "spec.nodeName" => Some(String::new()),
            _ => None,
        };
        assert!(selector.matches(fields));
        assert_eq!(selector.required("metadata.name"), Some("web"));
        assert_eq!(
            selector.fields().collect::<Vec<_>>(),
            ["metadata.name", "status.phase", "spec.nodeName"]
        );
        let escaped = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(escaped.required("metadata.name"), Some("a,b"));
        assert!(FieldSelector::parse("nonsense").is_err());
        // Found by the fuzzer: multi-byte characters before the operator.
        assert_eq!(
            FieldSelector::parse("s\u{fffd}ec.x=y")
                .unwrap()
                .required("s\u{fffd}ec.x"),
            Some("y")
        );
    }
}
