//! What a resource request asks for: which resource, namespace, name and subresource (parsed
//! from the path as kube-apiserver's request-info resolver does), its query parameters, and
//! the representation the client accepts.

use http::HeaderMap;
use serde::Deserialize;

use crate::StatusError;
use crate::registry::{self, Resource};

/// The object or collection a request is about.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) resource: &'static Resource,
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) subresource: Option<String>,
    /// The path used the legacy `/watch/` prefix.
    pub(crate) watch_prefix: bool,
}

impl Target {
    /// Parses the path segments after `/api/v1` or `/apis/<group>/<version>`.
    pub(crate) fn parse(group: &str, version: &str, path: &str) -> Result<Self, StatusError> {
        let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let watch_prefix = segments.first() == Some(&"watch");
        if watch_prefix {
            segments.remove(0);
        }
        let find = |plural: &str| registry::find(group, version, plural);
        let owned = |s: Option<&&str>| s.map(|s| (*s).to_owned());
        let target = match segments.as_slice() {
            // namespaces/{ns}/{resource}[/{name}[/{sub}]], when {resource} is namespaced.
            ["namespaces", namespace, plural, rest @ ..]
                if rest.len() <= 2 && find(plural).is_some_and(|r| r.namespaced) =>
            {
                Target {
                    resource: find(plural).ok_or_else(StatusError::path_not_found)?,
                    namespace: Some((*namespace).to_owned()),
                    name: owned(rest.first()),
                    subresource: owned(rest.get(1)),
                    watch_prefix,
                }
            }
            // {resource}[/{name}[/{sub}]]: cluster-scoped objects, and lists across namespaces.
            [plural, rest @ ..] if rest.len() <= 2 => {
                let resource = find(plural).ok_or_else(StatusError::path_not_found)?;
                if resource.namespaced && !rest.is_empty() {
                    return Err(StatusError::path_not_found());
                }
                Target {
                    resource,
                    namespace: None,
                    name: owned(rest.first()),
                    subresource: owned(rest.get(1)),
                    watch_prefix,
                }
            }
            _ => return Err(StatusError::path_not_found()),
        };
        if let Some(sub) = &target.subresource
            && target.resource.subresource(sub).is_none()
        {
            return Err(StatusError::path_not_found());
        }
        Ok(target)
    }
}

/// Query parameters of resource requests (upstream's names).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Params {
    pub(crate) watch: Option<String>,
    pub(crate) label_selector: Option<String>,
    pub(crate) field_selector: Option<String>,
    pub(crate) limit: Option<i64>,
    #[serde(rename = "continue")]
    pub(crate) continue_token: Option<String>,
    pub(crate) resource_version: Option<String>,
    pub(crate) resource_version_match: Option<String>,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) allow_watch_bookmarks: Option<String>,
    pub(crate) send_initial_events: Option<String>,
    pub(crate) dry_run: Option<String>,
    pub(crate) field_validation: Option<String>,
    pub(crate) field_manager: Option<String>,
    pub(crate) force: Option<String>,
    pub(crate) propagation_policy: Option<String>,
    pub(crate) grace_period_seconds: Option<i64>,
    pub(crate) orphan_dependents: Option<String>,
    pub(crate) include_object: Option<String>,
}

/// `true`, `1` and an empty value (`?watch`) count as true, as in upstream's parameter codec.
pub(crate) fn flag(value: &Option<String>) -> bool {
    matches!(value.as_deref(), Some("" | "true" | "1" | "True"))
}

impl Params {
    /// Parses a raw query string.
    pub(crate) fn parse(query: Option<&str>) -> Result<Self, StatusError> {
        serde_urlencoded::from_str(query.unwrap_or_default())
            .map_err(|e| StatusError::bad_request(format!("invalid query parameters: {e}")))
    }

    pub(crate) fn dry_run(&self) -> Result<bool, StatusError> {
        match self.dry_run.as_deref() {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(StatusError::bad_request(format!(
                "Invalid dry run value: {other}; the only supported value is All"
            ))),
        }
    }

    /// `Strict`, `Warn` (the default) or `Ignore`.
    pub(crate) fn field_validation(&self) -> Result<FieldValidation, StatusError> {
        match self.field_validation.as_deref() {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(StatusError::bad_request(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", not {other:?}"
            ))),
        }
    }
}

/// What to do about fields the kind does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

/// The representation of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// The objects themselves.
    Json,
    /// A `meta.k8s.io/v1 Table` (`kubectl get`).
    Table,
    /// Only metadata: `PartialObjectMetadata(List)`.
    Metadata,
}

impl Output {
    /// Picks the first representation in `Accept` the server can produce.
    pub(crate) fn negotiate(headers: &HeaderMap) -> Result<Self, StatusError> {
        let accept = headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        for media in accept.split(',') {
            let mut parts = media.split(';').map(str::trim);
            let mime = parts.next().unwrap_or_default();
            let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
            let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
            if !matches!(
                mime,
                "application/json" | "application/*" | "*/*" | "application/yaml"
            ) {
                continue;
            }
            match (param("as"), param("g")) {
                (Some("Table"), Some("meta.k8s.io")) => return Ok(Output::Table),
                (
                    Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                    Some("meta.k8s.io"),
                ) => {
                    return Ok(Output::Metadata);
                }
                (None, _) => return Ok(Output::Json),
                // A conversion we do not offer: try the next media type.
                _ => continue,
            }
        }
        Err(StatusError::not_acceptable(format!(
            "only the following media types are accepted: application/json, application/yaml (asked for {accept})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(group: &str, version: &str, path: &str) -> Result<Target, StatusError> {
        Target::parse(group, version, path)
    }

    #[test]
    fn paths_resolve_like_upstream() {
        let t = target("", "v1", "namespaces/default/pods/web/status").unwrap();
        assert_eq!(
            (
                t.resource.plural,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("pods", Some("default"), Some("web"), Some("status"))
        );
        let t = target("", "v1", "namespaces/default").unwrap();
        assert_eq!(
            (t.resource.plural, t.name.as_deref()),
            ("namespaces", Some("default"))
        );
        let t = target("", "v1", "namespaces/kube-system/status").unwrap();
        assert_eq!(
            (
                t.resource.plural,
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("namespaces", Some("kube-system"), Some("status"))
        );
        let t = target("", "v1", "pods").unwrap();
        assert_eq!((t.resource.plural, t.namespace), ("pods", None));
        let t = target("apps", "v1", "watch/namespaces/x/deployments").unwrap();
        assert!(t.watch_prefix);
        assert_eq!(
            target("", "v1", "nodes/n1").unwrap().name.as_deref(),
            Some("n1")
        );
        assert!(
            target("", "v1", "pods/web").is_err(),
            "namespaced objects need their namespace"
        );
        assert!(target("", "v1", "namespaces/default/pods/web/bogus").is_err());
        assert!(target("", "v1", "nosuch").is_err());
        assert!(target("apps", "v1", "namespaces/default/pods").is_err());
    }

    #[test]
    fn accept_negotiation() {
        let with = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::ACCEPT, accept.parse().unwrap());
            Output::negotiate(&headers)
        };
        assert_eq!(
            with("application/json;as=Table;v=v1;g=meta.k8s.io,application/json").unwrap(),
            Output::Table
        );
        assert_eq!(
            with("application/json;as=Unknown;g=x,application/json").unwrap(),
            Output::Json
        );
        assert_eq!(with("*/*").unwrap(), Output::Json);
        assert!(with("application/vnd.kubernetes.protobuf").is_err());
        assert_eq!(Output::negotiate(&HeaderMap::new()).unwrap(), Output::Json);
    }
}
