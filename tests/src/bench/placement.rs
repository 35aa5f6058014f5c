//! What the scheduler benchmark's watch reads of each pod: its name, its node and its
//! phase, decoded without the rest. The watch shares the machine's cores with the cluster it
//! measures, so it decodes no more than it needs: a whole `Pod` (spec, status, managed
//! fields) for each of the three writes of 10,000 pods is CPU the daemon then lacks.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::NamespaceResourceScope;
use serde::{Deserialize, Deserializer};

/// A pod as the benchmark's watch sees it.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// Name, namespace and resourceVersion (the watch resumes from the last one).
    pub metadata: ObjectMeta,
    /// `spec.nodeName`.
    pub node: Option<String>,
    /// `status.phase`.
    pub phase: Option<String>,
}

impl<'de> Deserialize<'de> for Placement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            metadata: WireMeta,
            #[serde(default)]
            spec: WireSpec,
            #[serde(default)]
            status: WireStatus,
        }
        #[derive(Default, Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct WireMeta {
            name: Option<String>,
            namespace: Option<String>,
            resource_version: Option<String>,
        }
        #[derive(Default, Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct WireSpec {
            node_name: Option<String>,
        }
        #[derive(Default, Deserialize)]
        struct WireStatus {
            phase: Option<String>,
        }
        let wire = Wire::deserialize(deserializer)?;
        Ok(Self {
            metadata: ObjectMeta {
                name: wire.metadata.name,
                namespace: wire.metadata.namespace,
                resource_version: wire.metadata.resource_version,
                ..ObjectMeta::default()
            },
            node: wire.spec.node_name,
            phase: wire.status.phase,
        })
    }
}

impl Resource for Placement {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(&(): &()) -> Cow<'_, str> {
        Pod::kind(&())
    }

    fn group(&(): &()) -> Cow<'_, str> {
        Pod::group(&())
    }

    fn version(&(): &()) -> Cow<'_, str> {
        Pod::version(&())
    }

    fn plural(&(): &()) -> Cow<'_, str> {
        Pod::plural(&())
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_is_read_for_its_name_node_and_phase_alone() {
        let pod = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "pod-1", "namespace": "bench", "resourceVersion": "42",
                         "labels": {"app": "bench"}},
            "spec": {"nodeName": "node-7", "containers": [{"name": "app", "image": "kubarium/demo"}]},
            "status": {"phase": "Running", "podIP": "10.244.7.2"},
        });
        let placed: Placement = serde_json::from_value(pod).unwrap();
        assert_eq!(placed.metadata.name.as_deref(), Some("pod-1"));
        assert_eq!(placed.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(placed.metadata.labels, None);
        assert_eq!(placed.node.as_deref(), Some("node-7"));
        assert_eq!(placed.phase.as_deref(), Some("Running"));

        let pending: Placement =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "pod-2"}})).unwrap();
        assert_eq!((pending.node, pending.phase), (None, None));
        assert_eq!(
            Placement::url_path(&(), Some("bench")),
            "/api/v1/namespaces/bench/pods"
        );
    }
}
