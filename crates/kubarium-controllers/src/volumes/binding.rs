//! Which PersistentVolume a claim binds to, as the PV controller's `findBestMatchForClaim`
//! chooses: a volume pre-bound to the claim first, else the smallest available volume of
//! the claim's class, volume mode and selector that offers every access mode asked for and
//! at least the storage requested. Pure functions of the objects, tested here.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A quantity in bytes (fractions rounded up, as apimachinery's `Value`), or `None` if it
/// does not parse.
pub(crate) fn bytes(quantity: &Quantity) -> Option<f64> {
    // Sizes compare as f64 below; byte counts up to 2^53 (8 PiB) convert exactly.
    crate::quantity::Quantity::parse(&quantity.0).map(|q| q.value() as f64)
}

/// The storage a claim requests.
pub(crate) fn requested(claim: &PersistentVolumeClaim) -> Option<&Quantity> {
    claim
        .spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")
}

fn capacity(volume: &PersistentVolume) -> Option<&Quantity> {
    volume.spec.as_ref()?.capacity.as_ref()?.get("storage")
}

/// The claim's class (`""` for none).
pub(crate) fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

fn volume_class(volume: &PersistentVolume) -> &str {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or_default()
}

/// Whether `labels` satisfy `selector` (no selector: everything does).
pub(crate) fn selects(
    selector: Option<&LabelSelector>,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let get = |key: &str| labels.and_then(|l| l.get(key));
    let equal = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| get(k) == Some(v));
    equal
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            match e.operator.as_str() {
                "In" => get(&e.key).is_some_and(|v| values.contains(v)),
                "NotIn" => get(&e.key).is_none_or(|v| !values.contains(v)),
                "Exists" => get(&e.key).is_some(),
                "DoesNotExist" => get(&e.key).is_none(),
                _ => false,
            }
        })
}

/// Whether `volume`'s claim reference names `claim` (the uid too, if it holds one).
pub(crate) fn refers_to(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.claim_ref.as_ref())
        .is_some_and(|r| {
            r.name == claim.metadata.name
                && r.namespace == claim.metadata.namespace
                && (r.uid.is_none() || r.uid == claim.metadata.uid)
        })
}

/// Whether `volume` can serve `claim`, ignoring who else might want it.
fn fits(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let (Some(vspec), Some(cspec)) = (volume.spec.as_ref(), claim.spec.as_ref()) else {
        return false;
    };
    if volume.metadata.deletion_timestamp.is_some() || volume_class(volume) != claim_class(claim) {
        return false;
    }
    let mode = |m: Option<&String>| m.map_or("Filesystem", String::as_str).to_owned();
    if mode(vspec.volume_mode.as_ref()) != mode(cspec.volume_mode.as_ref()) {
        return false;
    }
    let offered = vspec.access_modes.as_deref().unwrap_or_default();
    if !cspec
        .access_modes
        .iter()
        .flatten()
        .all(|m| offered.contains(m))
    {
        return false;
    }
    let enough = match (
        requested(claim).and_then(bytes),
        capacity(volume).and_then(bytes),
    ) {
        (Some(want), Some(have)) => have >= want,
        (None, _) => true,
        (Some(_), None) => false,
    };
    enough && selects(cspec.selector.as_ref(), volume.metadata.labels.as_ref())
}

/// The volume `claim` should bind to, if any.
pub(crate) fn best_match<'a>(
    volumes: &[&'a PersistentVolume],
    claim: &PersistentVolumeClaim,
) -> Option<&'a PersistentVolume> {
    if let Some(pre_bound) = volumes
        .iter()
        .find(|v| refers_to(v, claim) && fits(v, claim))
    {
        return Some(pre_bound);
    }
    volumes
        .iter()
        .copied()
        .filter(|v| {
            let phase = v.status.as_ref().and_then(|s| s.phase.as_deref());
            let free = v.spec.as_ref().is_some_and(|s| s.claim_ref.is_none());
            free && matches!(phase, None | Some("Available" | "Pending")) && fits(v, claim)
        })
        .min_by(|a, b| {
            let size = |v: &PersistentVolume| capacity(v).and_then(bytes).unwrap_or(f64::MAX);
            size(a).total_cmp(&size(b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ObjectReference, PersistentVolumeClaimSpec, PersistentVolumeSpec,
        VolumeResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn claim(size: &str, class: &str, modes: &[&str]) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("data".to_owned()),
                namespace: Some("default".to_owned()),
                uid: Some("c1".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(modes.iter().map(|m| (*m).to_owned()).collect()),
                storage_class_name: Some(class.to_owned()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some([("storage".to_owned(), Quantity(size.to_owned()))].into()),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            status: None,
        }
    }

    fn volume(name: &str, size: &str, class: &str, modes: &[&str]) -> PersistentVolume {
        PersistentVolume {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeSpec {
                capacity: Some([("storage".to_owned(), Quantity(size.to_owned()))].into()),
                access_modes: Some(modes.iter().map(|m| (*m).to_owned()).collect()),
                storage_class_name: Some(class.to_owned()),
                ..PersistentVolumeSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn quantities_parse_in_both_unit_systems() {
        let b = |s: &str| bytes(&Quantity(s.to_owned()));
        assert_eq!(b("1Gi"), Some(1_073_741_824.0));
        assert_eq!(b("500M"), Some(500_000_000.0));
        assert_eq!(b("1.5Ki"), Some(1536.0));
        assert_eq!(b("1e3"), Some(1000.0));
        assert_eq!(b("12"), Some(12.0));
        assert_eq!(b("x"), None);
    }

    #[test]
    fn the_smallest_fitting_volume_wins() {
        let c = claim("1Gi", "", &["ReadWriteOnce"]);
        let small = volume("small", "500Mi", "", &["ReadWriteOnce"]);
        let big = volume("big", "10Gi", "", &["ReadWriteOnce", "ReadOnlyMany"]);
        let fit = volume("fit", "2Gi", "", &["ReadWriteOnce"]);
        let other_class = volume("fast", "1Gi", "fast", &["ReadWriteOnce"]);
        let rox = volume("rox", "1Gi", "", &["ReadOnlyMany"]);
        let all = [&small, &big, &fit, &other_class, &rox];
        assert_eq!(
            best_match(&all, &c).and_then(|v| v.metadata.name.as_deref()),
            Some("fit")
        );
        let mut taken = fit.clone();
        taken.spec.as_mut().unwrap().claim_ref = Some(ObjectReference {
            name: Some("other".to_owned()),
            namespace: Some("default".to_owned()),
            ..ObjectReference::default()
        });
        assert_eq!(
            best_match(&[&taken, &big], &c).and_then(|v| v.metadata.name.as_deref()),
            Some("big")
        );
    }

    #[test]
    fn a_volume_pre_bound_to_the_claim_comes_first() {
        let c = claim("1Gi", "", &["ReadWriteOnce"]);
        let fit = volume("fit", "1Gi", "", &["ReadWriteOnce"]);
        let mut mine = volume("mine", "5Gi", "", &["ReadWriteOnce"]);
        mine.spec.as_mut().unwrap().claim_ref = Some(ObjectReference {
            name: Some("data".to_owned()),
            namespace: Some("default".to_owned()),
            ..ObjectReference::default()
        });
        assert_eq!(
            best_match(&[&fit, &mine], &c).and_then(|v| v.metadata.name.as_deref()),
            Some("mine")
        );
    }

    #[test]
    fn selectors_filter_volumes() {
        let mut c = claim("1Gi", "", &["ReadWriteOnce"]);
        c.spec.as_mut().unwrap().selector = Some(LabelSelector {
            match_labels: Some([("tier".to_owned(), "db".to_owned())].into()),
            ..LabelSelector::default()
        });
        let plain = volume("plain", "1Gi", "", &["ReadWriteOnce"]);
        let mut db = volume("db", "1Gi", "", &["ReadWriteOnce"]);
        db.metadata.labels = Some([("tier".to_owned(), "db".to_owned())].into());
        assert_eq!(
            best_match(&[&plain, &db], &c).and_then(|v| v.metadata.name.as_deref()),
            Some("db")
        );
    }
}
