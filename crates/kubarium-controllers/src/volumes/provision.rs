//! The local provisioner: the default StorageClass `standard`, and a directory under the
//! cluster's data dir behind each volume it provisions (as kind's local-path-provisioner
//! does, but with every node in one process the volume needs no node affinity).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeSpec,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The provisioner name of the default class.
pub(crate) const PROVISIONER: &str = "kubarium.dev/local-path";
/// The default class's name.
pub(crate) const DEFAULT_CLASS: &str = "standard";
/// Marks the default class (read by the API server's PVC defaulting).
pub(crate) const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
/// Names the provisioner of a dynamically provisioned volume.
pub(crate) const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// The class every cluster starts with: provisioned here, deleted with its claim, bound
/// at once (every node reaches the same host directories).
pub(crate) fn default_class() -> StorageClass {
    StorageClass {
        metadata: ObjectMeta {
            name: Some(DEFAULT_CLASS.to_owned()),
            annotations: Some(BTreeMap::from([(
                DEFAULT_CLASS_ANNOTATION.to_owned(),
                "true".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        provisioner: PROVISIONER.to_owned(),
        reclaim_policy: Some("Delete".to_owned()),
        volume_binding_mode: Some("Immediate".to_owned()),
        ..StorageClass::default()
    }
}

/// The directory behind the volume of `claim`: `pvc-<uid>_<namespace>_<name>` under `root`.
pub(crate) fn directory(root: &Path, claim: &PersistentVolumeClaim) -> PathBuf {
    let meta = &claim.metadata;
    root.join(format!(
        "pvc-{}_{}_{}",
        meta.uid.as_deref().unwrap_or_default(),
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    ))
}

/// The volume provisioned for `claim` of `class`, at `path`, bound to the claim.
pub(crate) fn new_volume(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    path: &Path,
) -> PersistentVolume {
    let spec = claim.spec.clone().unwrap_or_default();
    let requests = spec.resources.and_then(|r| r.requests).unwrap_or_default();
    let capacity: BTreeMap<_, _> = requests
        .into_iter()
        .filter(|(k, _)| k == "storage")
        .collect();
    PersistentVolume {
        metadata: ObjectMeta {
            name: Some(format!(
                "pvc-{}",
                claim.metadata.uid.as_deref().unwrap_or_default()
            )),
            annotations: Some(BTreeMap::from([
                (PROVISIONED_BY.to_owned(), class.provisioner.clone()),
                (super::BOUND_BY_CONTROLLER.to_owned(), "yes".to_owned()),
            ])),
            finalizers: None,
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(capacity),
            access_modes: spec.access_modes,
            volume_mode: spec.volume_mode,
            storage_class_name: class.metadata.name.clone(),
            persistent_volume_reclaim_policy: Some(
                class
                    .reclaim_policy
                    .clone()
                    .unwrap_or_else(|| "Delete".to_owned()),
            ),
            mount_options: class.mount_options.clone(),
            claim_ref: Some(claim_reference(claim)),
            host_path: Some(HostPathVolumeSource {
                path: path.to_string_lossy().into_owned(),
                type_: Some("DirectoryOrCreate".to_owned()),
            }),
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    }
}

/// A volume's reference to `claim`.
pub(crate) fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("PersistentVolumeClaim".to_owned()),
        name: claim.metadata.name.clone(),
        namespace: claim.metadata.namespace.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Makes the volume's directory, writable by any container user.
pub(crate) async fn make_directory(path: &Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(path).await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).await?;
    }
    Ok(())
}

/// Removes a provisioned volume's directory, only if it lies under `root`.
pub(crate) async fn remove_directory(root: &Path, path: &Path) -> std::io::Result<()> {
    let inside = path.parent() == Some(root)
        && path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("pvc-"));
    if !inside {
        return Err(std::io::Error::other(format!(
            "{} is not a volume directory under {}",
            path.display(),
            root.display()
        )));
    }
    match tokio::fs::remove_dir_all(path).await {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, VolumeResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn claim() -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("data-web-0".to_owned()),
                namespace: Some("default".to_owned()),
                uid: Some("1234".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
                storage_class_name: Some("standard".to_owned()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_owned(),
                        Quantity("1Gi".to_owned()),
                    )])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn a_provisioned_volume_matches_its_claim() {
        let root = Path::new("/data/volumes");
        let path = directory(root, &claim());
        assert_eq!(path, Path::new("/data/volumes/pvc-1234_default_data-web-0"));
        let volume = new_volume(&claim(), &default_class(), &path);
        insta::assert_json_snapshot!(volume);
    }

    #[tokio::test]
    async fn only_volume_directories_are_removed() {
        let root = std::env::temp_dir().join(format!("kubarium-volumes-{}", std::process::id()));
        let path = directory(&root, &claim());
        make_directory(&path).await.unwrap();
        assert!(remove_directory(&root, &root.join("other")).await.is_err());
        assert!(remove_directory(&root, Path::new("/etc")).await.is_err());
        remove_directory(&root, &path).await.unwrap();
        assert!(!path.exists());
        remove_directory(&root, &path).await.unwrap();
        let _ = std::fs::remove_dir_all(&root);
    }
}
