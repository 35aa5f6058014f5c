//! How lists merge, per type: the `patchMergeKey`/`patchStrategy` facts of the built-in
//! types that strategic merge patch, server-side apply and the OpenAPI documents need.
//!
//! Types are named as their OpenAPI definitions (`io.k8s.api.core.v1.PodSpec`), and which
//! type a field holds is read from those definitions, so only the merge facts are written
//! here. Maps always merge field by field; a list not listed is replaced whole.

use serde_json::Value;

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListMerge {
    /// Replaced whole (no patch strategy).
    Atomic,
    /// Elements matched by this key and merged; others appended.
    ByKey(&'static str),
    /// A list of scalars merged as a set (finalizers, podCIDRs).
    Set,
}

/// A position in a kind's type tree: the OpenAPI definition name, or `None` below anything
/// with a definition.
pub(crate) type Ty = Option<&'static str>;

const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";
const CONTAINER: &str = "io.k8s.api.core.v1.Container";
const EPHEMERAL: &str = "io.k8s.api.core.v1.EphemeralContainer";

/// Lists that merge, as upstream's types declare them.
pub(crate) const LISTS: &[(&str, &str, ListMerge)] = &[
    (META, "finalizers", ListMerge::Set),
    (META, "ownerReferences", ListMerge::ByKey("uid")),
    (POD_SPEC, "volumes", ListMerge::ByKey("name")),
    (POD_SPEC, "containers", ListMerge::ByKey("name")),
    (POD_SPEC, "initContainers", ListMerge::ByKey("name")),
    (POD_SPEC, "ephemeralContainers", ListMerge::ByKey("name")),
    (POD_SPEC, "imagePullSecrets", ListMerge::ByKey("name")),
    (POD_SPEC, "hostAliases", ListMerge::ByKey("ip")),
    (
        POD_SPEC,
        "topologySpreadConstraints",
        ListMerge::ByKey("topologyKey"),
    ),
    (POD_SPEC, "schedulingGates", ListMerge::ByKey("name")),
    (POD_SPEC, "resourceClaims", ListMerge::ByKey("name")),
    (CONTAINER, "ports", ListMerge::ByKey("containerPort")),
    (CONTAINER, "env", ListMerge::ByKey("name")),
    (CONTAINER, "volumeMounts", ListMerge::ByKey("mountPath")),
    (CONTAINER, "volumeDevices", ListMerge::ByKey("devicePath")),
    (EPHEMERAL, "ports", ListMerge::ByKey("containerPort")),
    (EPHEMERAL, "env", ListMerge::ByKey("name")),
    (EPHEMERAL, "volumeMounts", ListMerge::ByKey("mountPath")),
    (EPHEMERAL, "volumeDevices", ListMerge::ByKey("devicePath")),
    (
        "io.k8s.api.core.v1.PodStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        "podIPs",
        ListMerge::ByKey("ip"),
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        "hostIPs",
        ListMerge::ByKey("ip"),
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        "resourceClaimStatuses",
        ListMerge::ByKey("name"),
    ),
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        ListMerge::ByKey("port"),
    ),
    (
        "io.k8s.api.core.v1.ServiceStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs", ListMerge::Set),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "addresses",
        ListMerge::ByKey("type"),
    ),
    (
        "io.k8s.api.core.v1.NamespaceStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        "secrets",
        ListMerge::ByKey("name"),
    ),
    (
        "io.k8s.api.apps.v1.DeploymentStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
    (
        "io.k8s.api.apps.v1.ReplicaSetStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
    (
        "io.k8s.api.apps.v1.DaemonSetStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
    (
        "io.k8s.api.batch.v1.JobStatus",
        "conditions",
        ListMerge::ByKey("type"),
    ),
];

/// Struct fields patched with `retainKeys` (a strategy switch clears the old one's fields).
pub(crate) const RETAIN_KEYS_FIELDS: &[(&str, &str)] =
    &[("io.k8s.api.apps.v1.DeploymentSpec", "strategy")];

/// Lists whose elements are patched with `retainKeys` as well as merged.
pub(crate) fn retains_keys(ty: &str, field: &str) -> bool {
    matches!((ty, field), (POD_SPEC, "volumes" | "resourceClaims"))
}

/// The root type of a kind (`Scale` included, for the scale subresource).
pub(crate) fn root(kind: &str) -> Ty {
    let name = match kind {
        "Scale" => "io.k8s.api.autoscaling.v1.Scale".to_owned(),
        _ => crate::registry::RESOURCES
            .iter()
            .find(|r| r.kind == kind)?
            .rules
            .schema_name(),
    };
    crate::openapi::v3_definitions()
        .get_key_value(&name)
        .map(|(k, _)| k.as_str())
}

/// The type of field `field` of `ty` (for a list or map: of its elements).
pub(crate) fn child(ty: Ty, field: &str) -> Ty {
    let definitions = crate::openapi::v3_definitions();
    let property = definitions.get(ty?)?.get("properties")?.get(field)?;
    let target = [
        property,
        property.get("items").unwrap_or(&Value::Null),
        property.get("additionalProperties").unwrap_or(&Value::Null),
    ]
    .into_iter()
    .find_map(reference)?;
    definitions.get_key_value(target).map(|(k, _)| k.as_str())
}

/// The definition a schema refers to, directly or through a one-element `allOf`.
fn reference(schema: &Value) -> Option<&str> {
    let direct = schema.get("$ref").and_then(Value::as_str);
    let wrapped = || schema.get("allOf")?.get(0)?.get("$ref")?.as_str();
    direct.or_else(wrapped).and_then(|r| r.rsplit('/').next())
}

/// How list field `field` of `ty` merges.
pub(crate) fn list(ty: Ty, field: &str) -> ListMerge {
    let Some(ty) = ty else {
        return ListMerge::Atomic;
    };
    LISTS
        .iter()
        .find(|(t, f, _)| *t == ty && *f == field)
        .map_or(ListMerge::Atomic, |(_, _, m)| *m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_of_a_cronjob_merge_by_name() {
        let mut ty = root("CronJob");
        assert_eq!(ty, Some("io.k8s.api.batch.v1.CronJob"));
        for field in ["spec", "jobTemplate", "spec", "template", "spec"] {
            ty = child(ty, field);
        }
        assert_eq!(ty, Some(POD_SPEC));
        assert_eq!(list(ty, "containers"), ListMerge::ByKey("name"));
        assert_eq!(child(ty, "containers"), Some(CONTAINER));
        assert_eq!(
            list(child(ty, "containers"), "env"),
            ListMerge::ByKey("name")
        );
        assert_eq!(
            list(child(root("Deployment"), "metadata"), "finalizers"),
            ListMerge::Set
        );
        assert_eq!(
            list(child(root("ConfigMap"), "data"), "x"),
            ListMerge::Atomic
        );
    }

    #[test]
    fn every_listed_field_exists() {
        let definitions = crate::openapi::v3_definitions();
        for (ty, field, _) in LISTS {
            if ty.contains("EphemeralContainer") || ty.contains("ServiceAccount") {
                // Present in the definitions only when a served kind uses them.
                continue;
            }
            assert!(
                definitions
                    .get(*ty)
                    .and_then(|d| d["properties"].get(*field))
                    .is_some(),
                "{ty}.{field}"
            );
        }
    }
}
