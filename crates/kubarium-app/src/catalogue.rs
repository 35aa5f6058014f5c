//! The kinds the UI can browse: their API coordinates, sidebar category, short names and
//! `kubectl get` columns.
//!
//! **One source for kubectl's columns:** the columns (and, in `crate::rows`, the cells) come
//! from the API server's own Table printers (`kubarium_apiserver::registry`), the ones
//! `kubectl get` prints against a Kubarium cluster. Only how times are carried differs: the
//! UI gets timestamps for age-like columns and renders them live.

use std::sync::LazyLock;

use kubarium_apiserver::registry::{self, Resource};
use kube::core::ApiResource;

use crate::ipc::resources::{Category, Column, ColumnType, KindInfo};
use crate::{Error, Result};

/// What kind of summary a kind's rows carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SummaryKind {
    Pod,
    Node,
    Service,
    Ingress,
    Event,
    Workload,
    None,
}

/// Where an age-like cell takes its timestamp from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Time {
    /// `metadata.creationTimestamp` (the AGE column).
    Created,
    /// An Event's last occurrence (LAST SEEN).
    EventLastSeen,
    /// An Event's first occurrence (FIRST SEEN).
    EventFirstSeen,
    /// A CronJob's `status.lastScheduleTime` (LAST SCHEDULE).
    LastSchedule,
}

/// A kind as the app handles it.
pub(crate) struct Kind {
    pub(crate) info: KindInfo,
    pub(crate) api: ApiResource,
    /// The API server's description of it, whose printer gives the cells.
    pub(crate) resource: &'static Resource,
    /// Per printer column: `None` for the NAME column (a field of every row, not a cell),
    /// else how to turn the printer's cell into the UI's.
    pub(crate) cells: Vec<Option<CellSource>>,
    pub(crate) summary: SummaryKind,
}

/// How one of the UI's cells is made from the printer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellSource {
    /// The printer's cell as it is.
    Printed,
    /// The printer's cell, as a number when it is a whole number (RESTARTS, DATA).
    Integer,
    /// A timestamp instead of the printer's relative time.
    Time(Time),
}

/// (resource, group, version, category, summary), in the order `kinds()` returns them.
const CATALOGUE: &[(&str, &str, &str, Category, SummaryKind)] = &[
    ("pods", "", "v1", Category::Workloads, SummaryKind::Pod),
    (
        "deployments",
        "apps",
        "v1",
        Category::Workloads,
        SummaryKind::Workload,
    ),
    (
        "replicasets",
        "apps",
        "v1",
        Category::Workloads,
        SummaryKind::Workload,
    ),
    (
        "statefulsets",
        "apps",
        "v1",
        Category::Workloads,
        SummaryKind::Workload,
    ),
    (
        "daemonsets",
        "apps",
        "v1",
        Category::Workloads,
        SummaryKind::Workload,
    ),
    (
        "jobs",
        "batch",
        "v1",
        Category::Workloads,
        SummaryKind::Workload,
    ),
    (
        "cronjobs",
        "batch",
        "v1",
        Category::Workloads,
        SummaryKind::Workload,
    ),
    (
        "poddisruptionbudgets",
        "policy",
        "v1",
        Category::Workloads,
        SummaryKind::None,
    ),
    (
        "services",
        "",
        "v1",
        Category::Network,
        SummaryKind::Service,
    ),
    ("endpoints", "", "v1", Category::Network, SummaryKind::None),
    (
        "endpointslices",
        "discovery.k8s.io",
        "v1",
        Category::Network,
        SummaryKind::None,
    ),
    (
        "ingresses",
        "networking.k8s.io",
        "v1",
        Category::Network,
        SummaryKind::Ingress,
    ),
    (
        "ingressclasses",
        "networking.k8s.io",
        "v1",
        Category::Network,
        SummaryKind::None,
    ),
    ("configmaps", "", "v1", Category::Config, SummaryKind::None),
    ("secrets", "", "v1", Category::Config, SummaryKind::None),
    (
        "persistentvolumeclaims",
        "",
        "v1",
        Category::Storage,
        SummaryKind::None,
    ),
    (
        "persistentvolumes",
        "",
        "v1",
        Category::Storage,
        SummaryKind::None,
    ),
    (
        "storageclasses",
        "storage.k8s.io",
        "v1",
        Category::Storage,
        SummaryKind::None,
    ),
    ("nodes", "", "v1", Category::Cluster, SummaryKind::Node),
    ("namespaces", "", "v1", Category::Cluster, SummaryKind::None),
    ("events", "", "v1", Category::Cluster, SummaryKind::Event),
    (
        "serviceaccounts",
        "",
        "v1",
        Category::Cluster,
        SummaryKind::None,
    ),
    (
        "priorityclasses",
        "scheduling.k8s.io",
        "v1",
        Category::Cluster,
        SummaryKind::None,
    ),
];

static KINDS: LazyLock<Vec<Kind>> = LazyLock::new(|| {
    CATALOGUE
        .iter()
        .filter_map(|&(plural, group, version, category, summary)| {
            let Some(resource) = registry::find(group, version, plural) else {
                // A test checks every entry is served; this only guards a release build.
                tracing::error!(plural, group, "the API server does not serve this kind");
                return None;
            };
            Some(kind(resource, category, summary))
        })
        .collect()
});

fn kind(resource: &'static Resource, category: Category, summary: SummaryKind) -> Kind {
    let mut columns = Vec::new();
    let mut cells = Vec::new();
    for column in resource.columns() {
        if column.format == "name" {
            cells.push(None);
            continue;
        }
        let time = match (resource.kind, column.name) {
            (_, "Age") => Some(Time::Created),
            ("Event", "Last Seen") => Some(Time::EventLastSeen),
            ("Event", "First Seen") => Some(Time::EventFirstSeen),
            ("CronJob", "Last Schedule") => Some(Time::LastSchedule),
            _ => None,
        };
        let (column_type, source) = match (time, column.kind) {
            (Some(time), _) => (ColumnType::Age, CellSource::Time(time)),
            (None, "integer" | "number") => (ColumnType::Integer, CellSource::Integer),
            (None, _) => (ColumnType::String, CellSource::Printed),
        };
        columns.push(Column {
            name: column.name.to_uppercase(),
            column_type,
            priority: u8::try_from(column.priority).unwrap_or(1),
        });
        cells.push(Some(source));
    }
    let api = ApiResource {
        group: resource.group.to_owned(),
        version: resource.version.to_owned(),
        api_version: resource.api_version(),
        kind: resource.kind.to_owned(),
        plural: resource.plural.to_owned(),
    };
    Kind {
        info: KindInfo {
            resource: resource.plural.to_owned(),
            kind: resource.kind.to_owned(),
            group: resource.group.to_owned(),
            version: resource.version.to_owned(),
            namespaced: resource.namespaced,
            category,
            short_names: resource
                .short_names
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            columns,
        },
        api,
        resource,
        cells,
        summary,
    }
}

/// Every kind the UI can browse, in sidebar order.
pub fn kinds() -> Vec<KindInfo> {
    KINDS.iter().map(|k| k.info.clone()).collect()
}

/// The kind served as `resource` (`pods`, `deployments`).
pub(crate) fn find(resource: &str) -> Result<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.info.resource == resource)
        .ok_or_else(|| Error::UnknownResource(resource.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(resource: &str) -> Vec<(String, u8)> {
        find(resource)
            .unwrap()
            .info
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.priority))
            .collect()
    }

    #[test]
    fn every_kind_is_served_in_sidebar_order() {
        let resources: Vec<_> = kinds().into_iter().map(|k| k.resource).collect();
        let expected: Vec<_> = CATALOGUE.iter().map(|c| c.0.to_owned()).collect();
        assert_eq!(resources, expected);
        assert_eq!(resources.len(), 23);
    }

    #[test]
    fn columns_are_kubectls() {
        let wide = |names: &[&str]| -> Vec<(String, u8)> {
            names
                .iter()
                .map(|n| match n.strip_prefix('+') {
                    Some(n) => (n.to_owned(), 1),
                    None => ((*n).to_owned(), 0),
                })
                .collect()
        };
        assert_eq!(
            names("pods"),
            wide(&[
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "+IP",
                "+NODE",
                "+NOMINATED NODE",
                "+READINESS GATES"
            ])
        );
        assert_eq!(
            names("deployments"),
            wide(&[
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "AGE",
                "+CONTAINERS",
                "+IMAGES",
                "+SELECTOR"
            ])
        );
        assert_eq!(
            names("nodes"),
            wide(&[
                "STATUS",
                "ROLES",
                "AGE",
                "VERSION",
                "+INTERNAL-IP",
                "+EXTERNAL-IP",
                "+OS-IMAGE",
                "+KERNEL-VERSION",
                "+CONTAINER-RUNTIME"
            ])
        );
        assert_eq!(
            names("services"),
            wide(&[
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
                "+SELECTOR"
            ])
        );
        assert_eq!(names("configmaps"), wide(&["DATA", "AGE"]));
        assert_eq!(
            names("priorityclasses"),
            wide(&["VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"])
        );
        assert_eq!(
            names("poddisruptionbudgets"),
            wide(&[
                "MIN AVAILABLE",
                "MAX UNAVAILABLE",
                "ALLOWED DISRUPTIONS",
                "AGE"
            ])
        );
        assert_eq!(
            names("events"),
            wide(&[
                "LAST SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "+SUBOBJECT",
                "+SOURCE",
                "MESSAGE",
                "+FIRST SEEN",
                "+COUNT"
            ])
        );
    }

    #[test]
    fn age_like_columns_carry_times() {
        let kind = find("events").unwrap();
        let types: Vec<_> = kind.info.columns.iter().map(|c| c.column_type).collect();
        assert_eq!(types[0], ColumnType::Age);
        let pods = find("pods").unwrap();
        // RESTARTS is text to kubectl too (`3 (5m ago)`).
        assert_eq!(pods.info.columns[2].column_type, ColumnType::String);
        assert_eq!(pods.info.columns[3].column_type, ColumnType::Age);
        let configmaps = find("configmaps").unwrap();
        assert_eq!(configmaps.info.columns[0].column_type, ColumnType::Integer);
    }

    #[test]
    fn short_names_and_scope() {
        let pods = find("pods").unwrap();
        assert_eq!(pods.info.short_names, ["po"]);
        assert!(pods.info.namespaced);
        let nodes = find("nodes").unwrap();
        assert!(!nodes.info.namespaced);
        assert_eq!(find("deployments").unwrap().info.short_names, ["deploy"]);
        assert_eq!(find("events").unwrap().api.group, "");
        assert!(find("widgets").is_err());
    }
}
