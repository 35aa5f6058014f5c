//! Controller references: which controller owns an object (`ownerReferences` with
//! `controller: true`), and claiming objects as kube-controller-manager's
//! ControllerRefManager does — adopt orphans the selector matches, release owned objects it
//! no longer matches, leave other controllers' objects alone.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use kube::api::{Patch, PatchParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::objects::Objects;
use crate::{Error, Result};

/// The owner reference with `controller: true`, if any.
pub(crate) fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_deref()?
        .iter()
        .find(|reference| reference.controller == Some(true))
}

/// Whether `meta` is controlled by the object with `uid`.
pub(crate) fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|reference| reference.uid == uid)
}

/// A controller reference to `owner` (`controller` and `blockOwnerDeletion` set), as
/// `metav1.NewControllerRef` makes it.
pub(crate) fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// What a controller does with an object its informer shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Ours, and the selector matches.
    Owned,
    /// An orphan the selector matches: take it.
    Adopt,
    /// Ours, but the selector no longer matches: let it go.
    Release,
    /// Someone else's, or an orphan we do not want.
    Ignore,
}

/// How a controller with `owner_uid` (being deleted or not) claims an object with `meta`
/// whose labels the selector does or does not match.
pub(crate) fn claim(
    owner_uid: &str,
    owner_deleting: bool,
    matches: bool,
    meta: &ObjectMeta,
) -> Claim {
    match controller_of(meta) {
        Some(reference) if reference.uid != owner_uid => Claim::Ignore,
        Some(_) if matches => Claim::Owned,
        Some(_) if owner_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner_deleting || !matches || meta.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// Checks, with a fresh read, that `owner` still exists under the same UID and is not being
/// deleted before it adopts anything (upstream's `RecheckDeletionTimestamp`): the cache may
/// be behind a deletion.
pub(crate) async fn can_adopt<K>(api: &Objects<K>, owner: &K) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let name = owner.meta().name.clone().unwrap_or_default();
    let what = format!("{} {name}", K::kind(&()));
    let fresh = api
        .get(&name)
        .await
        .map_err(Error::api("get", what.clone()))?;
    let wanted = owner.meta().uid.clone().unwrap_or_default();
    let got = fresh.meta().uid.clone().unwrap_or_default();
    if got != wanted {
        return Err(Error::Invalid {
            what,
            reason: format!("original {name} is gone: got uid {got}, wanted {wanted}"),
        });
    }
    if let Some(at) = &fresh.meta().deletion_timestamp {
        return Err(Error::Invalid {
            what,
            reason: format!("{name} has just been deleted at {}", at.0),
        });
    }
    Ok(())
}

/// Sets `owner` as the controller of `object` (a strategic merge patch guarded by the
/// object's UID, as upstream's adopt patch).
pub(crate) async fn adopt<Owner, K>(api: &Objects<K>, owner: &Owner, object: &K) -> Result<K>
where
    Owner: Resource<DynamicType = ()>,
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let reference = serde_json::to_value(controller_ref(owner)).unwrap_or(Value::Null);
    patch_owners(api, object, json!([reference]), "adopt").await
}

/// Removes `owner_uid` from `object`'s owners.
pub(crate) async fn release<K>(api: &Objects<K>, owner_uid: &str, object: &K) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    patch_owners(
        api,
        object,
        json!([{"$patch": "delete", "uid": owner_uid}]),
        "release",
    )
    .await
}

async fn patch_owners<K>(
    api: &Objects<K>,
    object: &K,
    owners: Value,
    verb: &'static str,
) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let patch = json!({"metadata": {"ownerReferences": owners, "uid": object.meta().uid}});
    api.patch(&name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .map_err(Error::api(verb, format!("{} {name}", K::kind(&()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned_by(uid: &str, controller: bool) -> ObjectMeta {
        ObjectMeta {
            owner_references: Some(vec![OwnerReference {
                uid: uid.to_owned(),
                controller: Some(controller),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn claims_as_the_controller_ref_manager() {
        let orphan = ObjectMeta::default();
        assert_eq!(claim("a", false, true, &owned_by("a", true)), Claim::Owned);
        assert_eq!(
            claim("a", false, false, &owned_by("a", true)),
            Claim::Release
        );
        assert_eq!(claim("a", true, false, &owned_by("a", true)), Claim::Ignore);
        assert_eq!(claim("a", false, true, &owned_by("b", true)), Claim::Ignore);
        // A non-controller owner reference leaves the object an orphan.
        assert_eq!(claim("a", false, true, &owned_by("b", false)), Claim::Adopt);
        assert_eq!(claim("a", false, true, &orphan), Claim::Adopt);
        assert_eq!(claim("a", false, false, &orphan), Claim::Ignore);
        assert_eq!(claim("a", true, true, &orphan), Claim::Ignore);
    }
}
