//! How lists merge, per type: the `patchMergeKey`/`patchStrategy` facts of the built-in
//! types that strategic merge patch and server-side apply need. Maps always merge field by
//! field and lists are replaced whole unless listed here, so the table only names the types
//! on the way to a list that merges.

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

/// A position in a kind's type tree: the OpenAPI-style short type name, or `None` once we
/// are below anything that needs type knowledge.
pub(crate) type Ty = Option<&'static str>;

/// The root type of a kind.
pub(crate) fn root(kind: &str) -> Ty {
    Some(match kind {
        "Pod" => "Pod",
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => "Workload",
        "Job" => "Job",
        "CronJob" => "CronJob",
        "Service" => "Service",
        "Node" => "Node",
        "Namespace" | "PersistentVolumeClaim" => "WithConditions",
        "ServiceAccount" => "ServiceAccount",
        _ => "Object",
    })
}

/// The type of field `field` of `ty` (for a list: of its elements).
pub(crate) fn child(ty: Ty, field: &str) -> Ty {
    let ty = ty?;
    match (ty, field) {
        (_, "metadata") if is_top_level(ty) => Some("ObjectMeta"),
        ("JobTemplateSpec" | "PodTemplateSpec", "metadata") => Some("ObjectMeta"),
        ("Pod", "spec") | ("PodTemplateSpec", "spec") => Some("PodSpec"),
        ("Pod", "status") => Some("PodStatus"),
        ("Workload", "spec") => Some("WorkloadSpec"),
        ("Workload" | "Job" | "WithConditions", "status") => Some("Conditions"),
        ("WorkloadSpec" | "JobSpec", "template") => Some("PodTemplateSpec"),
        ("Job", "spec") | ("JobTemplateSpec", "spec") => Some("JobSpec"),
        ("CronJob", "spec") => Some("CronJobSpec"),
        ("CronJobSpec", "jobTemplate") => Some("JobTemplateSpec"),
        ("PodSpec", "containers" | "initContainers" | "ephemeralContainers") => Some("Container"),
        ("Service", "spec") => Some("ServiceSpec"),
        ("Service", "status") => Some("Conditions"),
        ("Node", "spec") => Some("NodeSpec"),
        ("Node", "status") => Some("NodeStatus"),
        _ => None,
    }
}

fn is_top_level(ty: &str) -> bool {
    matches!(
        ty,
        "Pod"
            | "Workload"
            | "Job"
            | "CronJob"
            | "Service"
            | "Node"
            | "WithConditions"
            | "ServiceAccount"
            | "Object"
    )
}

/// How list field `field` of `ty` merges.
pub(crate) fn list(ty: Ty, field: &str) -> ListMerge {
    let Some(ty) = ty else {
        return ListMerge::Atomic;
    };
    match (ty, field) {
        ("ObjectMeta", "finalizers") => ListMerge::Set,
        ("ObjectMeta", "ownerReferences") => ListMerge::ByKey("uid"),
        (
            "PodSpec",
            "volumes"
            | "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "imagePullSecrets"
            | "schedulingGates"
            | "resourceClaims",
        ) => ListMerge::ByKey("name"),
        ("PodSpec", "hostAliases") => ListMerge::ByKey("ip"),
        ("PodSpec", "topologySpreadConstraints") => ListMerge::ByKey("topologyKey"),
        ("Container", "ports") => ListMerge::ByKey("containerPort"),
        ("Container", "env") => ListMerge::ByKey("name"),
        ("Container", "volumeMounts") => ListMerge::ByKey("mountPath"),
        ("Container", "volumeDevices") => ListMerge::ByKey("devicePath"),
        ("PodStatus" | "Conditions" | "NodeStatus", "conditions") => ListMerge::ByKey("type"),
        ("PodStatus", "podIPs" | "hostIPs") => ListMerge::ByKey("ip"),
        ("PodStatus", "resourceClaimStatuses") => ListMerge::ByKey("name"),
        ("NodeStatus", "addresses") => ListMerge::ByKey("type"),
        ("NodeSpec", "podCIDRs") => ListMerge::Set,
        ("ServiceSpec", "ports") => ListMerge::ByKey("port"),
        ("ServiceAccount", "secrets") => ListMerge::ByKey("name"),
        _ => ListMerge::Atomic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_of_a_cronjob_merge_by_name() {
        let mut ty = root("CronJob");
        for field in ["spec", "jobTemplate", "spec", "template", "spec"] {
            ty = child(ty, field);
        }
        assert_eq!(ty, Some("PodSpec"));
        assert_eq!(list(ty, "containers"), ListMerge::ByKey("name"));
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
}
