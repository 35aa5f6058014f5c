//! What the collector watches of each object: the metadata the ownership graph needs (identity,
//! owner references, finalizers, deletion), from metadata-only responses, decoded without
//! the rest (labels, annotations, managed fields), which the collector never reads.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::Resource;
use kube::core::DynamicResourceScope;
use kube::discovery::ApiResource;
use serde::{Deserialize, Deserializer};

/// An object as the collector sees it; only the fields named above are ever set.
#[derive(Clone, Debug, Default)]
pub(super) struct Owned {
    pub(super) metadata: ObjectMeta,
}

impl<'de> Deserialize<'de> for Owned {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            metadata: WireMeta,
        }
        #[derive(Default, Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct WireMeta {
            name: Option<String>,
            namespace: Option<String>,
            uid: Option<String>,
            resource_version: Option<String>,
            owner_references: Option<Vec<OwnerReference>>,
            finalizers: Option<Vec<String>>,
            deletion_timestamp: Option<Time>,
        }
        let meta = Wire::deserialize(deserializer)?.metadata;
        Ok(Self {
            metadata: ObjectMeta {
                name: meta.name,
                namespace: meta.namespace,
                uid: meta.uid,
                resource_version: meta.resource_version,
                owner_references: meta.owner_references,
                finalizers: meta.finalizers,
                deletion_timestamp: meta.deletion_timestamp,
                ..ObjectMeta::default()
            },
        })
    }
}

impl Resource for Owned {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    /// Requests ask for `PartialObjectMetadata`, as upstream's metadata informers do.
    fn metadata_api() -> bool {
        true
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
    use serde_json::json;

    use super::*;

    #[test]
    fn only_what_the_graph_needs_is_decoded() {
        let object = json!({
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": {
                "name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "web"}, "annotations": {"a": "b"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                     "uid": "u0", "controller": true, "blockOwnerDeletion": true}],
                "finalizers": ["foregroundDeletion"],
                "deletionTimestamp": "2026-11-30T00:00:00Z",
                "managedFields": [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:metadata": {"f:labels": {}}}}],
            },
        });
        let owned: Owned = serde_json::from_value(object).unwrap();
        let meta = owned.meta();
        assert_eq!(meta.name.as_deref(), Some("web-1"));
        assert_eq!(meta.namespace.as_deref(), Some("shop"));
        assert_eq!(meta.uid.as_deref(), Some("u1"));
        assert_eq!(meta.resource_version.as_deref(), Some("7"));
        let owners = meta.owner_references.as_deref().unwrap();
        assert_eq!(
            (owners[0].uid.as_str(), owners[0].controller),
            ("u0", Some(true))
        );
        assert_eq!(
            meta.finalizers.as_deref(),
            Some(&["foregroundDeletion".to_owned()][..])
        );
        assert!(meta.deletion_timestamp.is_some());
        assert!(
            meta.labels.is_none() && meta.annotations.is_none() && meta.managed_fields.is_none()
        );
        assert!(Owned::metadata_api());

        let bare: Owned = serde_json::from_value(json!({"kind": "Status"})).unwrap();
        assert_eq!(bare.meta(), &ObjectMeta::default());
    }
}
