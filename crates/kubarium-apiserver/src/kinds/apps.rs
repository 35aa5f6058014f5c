//! apps/v1: Deployments, ReplicaSets, StatefulSets, DaemonSets, ControllerRevisions.

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy,
    ReplicaSet, RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy,
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetUpdateStrategy,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::pod::default_spec;
use super::shared::{containers, images, selector, validate_workload, validate_workload_with};
use crate::registry::table::{AGE, NAME, col, wide};
use crate::registry::{Column, Kind, age, table_or_none};
use crate::validation::Causes;

const CONTAINERS: Column = wide(
    "Containers",
    "string",
    "Names of each container in the template.",
);
const IMAGES: Column = wide(
    "Images",
    "string",
    "Images referenced by each container in the template.",
);
const SELECTOR: Column = wide(
    "Selector",
    "string",
    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
);

fn percent(value: &str) -> IntOrString {
    IntOrString::String(value.to_owned())
}

impl Kind for Deployment {
    const GENERATION: bool = true;

    fn default(&mut self) {
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        let strategy = spec
            .strategy
            .get_or_insert_with(DeploymentStrategy::default);
        let kind = strategy
            .type_
            .get_or_insert_with(|| "RollingUpdate".to_owned())
            .clone();
        if kind == "RollingUpdate" {
            let rolling = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDeployment::default);
            rolling.max_surge.get_or_insert_with(|| percent("25%"));
            rolling
                .max_unavailable
                .get_or_insert_with(|| percent("25%"));
        }
        if let Some(template) = spec.template.spec.as_mut() {
            default_spec(template);
        }
    }

    fn validate(&self, causes: &mut Causes) {
        let Some(spec) = &self.spec else {
            causes.required("spec", "");
            return;
        };
        causes.at_least("spec.replicas", spec.replicas.map(i64::from), 0);
        causes.at_least(
            "spec.revisionHistoryLimit",
            spec.revision_history_limit.map(i64::from),
            0,
        );
        validate_workload(Some(&spec.selector), &spec.template, causes);
        if let Some(strategy) = &spec.strategy {
            causes.one_of(
                "spec.strategy.type",
                strategy.type_.as_deref(),
                &["Recreate", "RollingUpdate"],
            );
            if strategy.type_.as_deref() == Some("Recreate") && strategy.rolling_update.is_some() {
                causes.forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
        }
        if spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            .is_some_and(|p| p != "Always")
        {
            causes.not_supported(
                "spec.template.spec.restartPolicy",
                spec.template
                    .spec
                    .as_ref()
                    .and_then(|s| s.restart_policy.clone())
                    .unwrap_or_default()
                    .as_str(),
                &["Always"],
            );
        }
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        if let (Some(new), Some(old)) = (&self.spec, &old.spec) {
            causes.immutable("spec.selector", &new.selector, &old.selector);
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col("Ready", "string", "Number of the pod with ready state"),
            col(
                "Up-to-date",
                "string",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            col(
                "Available",
                "string",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        vec![
            Value::from(format!(
                "{}/{}",
                status.ready_replicas.unwrap_or(0),
                spec.replicas.unwrap_or(1)
            )),
            Value::from(status.updated_replicas.unwrap_or(0)),
            Value::from(status.available_replicas.unwrap_or(0)),
            age(self.metadata.creation_timestamp.as_ref(), now),
            containers(spec.template.spec.as_ref()),
            images(spec.template.spec.as_ref()),
            selector(Some(&spec.selector)),
        ]
    }
}

impl Kind for ReplicaSet {
    const GENERATION: bool = true;

    fn default(&mut self) {
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        spec.replicas.get_or_insert(1);
        if let Some(template) = spec.template.as_mut().and_then(|t| t.spec.as_mut()) {
            default_spec(template);
        }
    }

    fn validate(&self, causes: &mut Causes) {
        let Some(spec) = &self.spec else {
            causes.required("spec", "");
            return;
        };
        causes.at_least("spec.replicas", spec.replicas.map(i64::from), 0);
        match &spec.template {
            Some(template) => validate_workload(Some(&spec.selector), template, causes),
            None => causes.required("spec.template", ""),
        }
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        if let (Some(new), Some(old)) = (&self.spec, &old.spec) {
            causes.immutable("spec.selector", &new.selector, &old.selector);
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Desired",
                "integer",
                "Replicas is the number of desired pods.",
            ),
            col(
                "Current",
                "integer",
                "Replicas is the most recently observed number of replicas.",
            ),
            col(
                "Ready",
                "integer",
                "The number of ready replicas for this replica set.",
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let template = spec.template.as_ref().and_then(|t| t.spec.as_ref());
        vec![
            Value::from(spec.replicas.unwrap_or(1)),
            Value::from(status.replicas),
            Value::from(status.ready_replicas.unwrap_or(0)),
            age(self.metadata.creation_timestamp.as_ref(), now),
            containers(template),
            images(template),
            selector(Some(&spec.selector)),
        ]
    }

    fn selectable_fields() -> &'static [(&'static str, &'static str)] {
        &[("status.replicas", "status.replicas")]
    }
}

impl Kind for StatefulSet {
    const GENERATION: bool = true;

    fn default(&mut self) {
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        spec.pod_management_policy
            .get_or_insert_with(|| "OrderedReady".to_owned());
        let strategy = spec
            .update_strategy
            .get_or_insert_with(StatefulSetUpdateStrategy::default);
        if strategy
            .type_
            .get_or_insert_with(|| "RollingUpdate".to_owned())
            == "RollingUpdate"
        {
            strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateStatefulSetStrategy::default)
                .partition
                .get_or_insert(0);
        }
        let retention = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
        retention
            .when_deleted
            .get_or_insert_with(|| "Retain".to_owned());
        retention
            .when_scaled
            .get_or_insert_with(|| "Retain".to_owned());
        if let Some(template) = spec.template.spec.as_mut() {
            default_spec(template);
        }
    }

    fn validate(&self, causes: &mut Causes) {
        let Some(spec) = &self.spec else {
            causes.required("spec", "");
            return;
        };
        causes.at_least("spec.replicas", spec.replicas.map(i64::from), 0);
        causes.one_of(
            "spec.podManagementPolicy",
            spec.pod_management_policy.as_deref(),
            &["OrderedReady", "Parallel"],
        );
        // Claim templates become the pods' volumes.
        let claims: Vec<&str> = spec
            .volume_claim_templates
            .iter()
            .flatten()
            .filter_map(|c| c.metadata.name.as_deref())
            .collect();
        validate_workload_with(Some(&spec.selector), &spec.template, &claims, causes);
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        let (Some(new), Some(old)) = (&self.spec, &old.spec) else {
            return;
        };
        // Only some fields of a StatefulSet spec may change, as upstream allows.
        let mut a = new.clone();
        let b = old.clone();
        a.replicas = b.replicas;
        a.template = b.template.clone();
        a.update_strategy = b.update_strategy.clone();
        a.persistent_volume_claim_retention_policy =
            b.persistent_volume_claim_retention_policy.clone();
        a.min_ready_seconds = b.min_ready_seconds;
        a.ordinals = b.ordinals.clone();
        a.revision_history_limit = b.revision_history_limit;
        if a != b {
            causes.forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden");
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col("Ready", "string", "Number of the pod with ready state"),
            AGE,
            CONTAINERS,
            IMAGES,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        vec![
            Value::from(format!(
                "{}/{}",
                status.ready_replicas.unwrap_or(0),
                spec.replicas.unwrap_or(1)
            )),
            age(self.metadata.creation_timestamp.as_ref(), now),
            containers(spec.template.spec.as_ref()),
            images(spec.template.spec.as_ref()),
        ]
    }
}

impl Kind for DaemonSet {
    const GENERATION: bool = true;

    fn default(&mut self) {
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        spec.revision_history_limit.get_or_insert(10);
        let strategy = spec
            .update_strategy
            .get_or_insert_with(DaemonSetUpdateStrategy::default);
        if strategy
            .type_
            .get_or_insert_with(|| "RollingUpdate".to_owned())
            == "RollingUpdate"
        {
            let rolling = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDaemonSet::default);
            rolling.max_unavailable.get_or_insert(IntOrString::Int(1));
            rolling.max_surge.get_or_insert(IntOrString::Int(0));
        }
        if let Some(template) = spec.template.spec.as_mut() {
            default_spec(template);
        }
    }

    fn validate(&self, causes: &mut Causes) {
        let Some(spec) = &self.spec else {
            causes.required("spec", "");
            return;
        };
        validate_workload(Some(&spec.selector), &spec.template, causes);
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        if let (Some(new), Some(old)) = (&self.spec, &old.spec) {
            causes.immutable("spec.selector", &new.selector, &old.selector);
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Desired",
                "integer",
                "The total number of nodes that should be running the daemon pod.",
            ),
            col(
                "Current",
                "integer",
                "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
            ),
            col(
                "Ready",
                "integer",
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
            ),
            col(
                "Up-to-date",
                "integer",
                "The total number of nodes that are running updated daemon pod",
            ),
            col(
                "Available",
                "integer",
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
            ),
            col(
                "Node Selector",
                "string",
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let node_selector: Vec<String> = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        vec![
            Value::from(status.desired_number_scheduled),
            Value::from(status.current_number_scheduled),
            Value::from(status.number_ready),
            Value::from(status.updated_number_scheduled.unwrap_or(0)),
            Value::from(status.number_available.unwrap_or(0)),
            table_or_none(node_selector.join(",")),
            age(self.metadata.creation_timestamp.as_ref(), now),
            containers(spec.template.spec.as_ref()),
            images(spec.template.spec.as_ref()),
            selector(Some(&spec.selector)),
        ]
    }
}

impl Kind for ControllerRevision {
    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col("Controller", "string", "Controller of the object"),
            col(
                "Revision",
                "string",
                "Revision indicates the revision of the state represented by Data.",
            ),
            AGE,
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let controller = self
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| {
                let group = o
                    .api_version
                    .split_once('/')
                    .map(|(g, _)| g)
                    .unwrap_or_default();
                let kind = o.kind.to_lowercase();
                let resource = if group.is_empty() {
                    kind
                } else {
                    format!("{kind}.{group}")
                };
                format!("{resource}/{}", o.name)
            })
            .unwrap_or_else(|| "<none>".to_owned());
        vec![
            Value::from(controller),
            Value::from(self.revision),
            age(self.metadata.creation_timestamp.as_ref(), now),
        ]
    }
}
