//! The files of configMap, secret, downwardAPI and projected volumes, computed from the
//! objects they name as the kubelet's volume plugins do (`MakePayload`, `CollectData`):
//! every key, or only `items` at their paths; each file's mode is the item's `mode`, else
//! the volume's `defaultMode` (0644).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, DownwardAPIVolumeFile, KeyToPath, ProjectedVolumeSource, Secret,
};

use super::atomic::{File, Payload};
use crate::pod::downward::PodContext;
use crate::pod::sources::Lookup;

/// The mode of a file when neither its item nor its volume names one.
pub(crate) const DEFAULT_MODE: i32 = 0o644;

fn mode(mode: Option<i32>, default: Option<i32>) -> u32 {
    u32::try_from(mode.or(default).unwrap_or(DEFAULT_MODE) & 0o7777).unwrap_or(0o644)
}

/// Files from `data` (every key, or the `items`); `what` names the kind in the error for a
/// missing key (`configmap`, `secret`).
fn from_data(
    data: BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
    missing_key: impl Fn(&str) -> String,
) -> Result<Payload, String> {
    let mut payload = Payload::new();
    if optional && data.is_empty() {
        return Ok(payload);
    }
    match items {
        None | Some([]) => {
            for (key, data) in data {
                let mode = mode(None, default_mode);
                payload.insert(key, File { data, mode });
            }
        }
        Some(items) => {
            for item in items {
                let Some(data) = data.get(&item.key) else {
                    if optional {
                        continue;
                    }
                    return Err(missing_key(&item.key));
                };
                payload.insert(
                    item.path.clone(),
                    File {
                        data: data.clone(),
                        mode: mode(item.mode, default_mode),
                    },
                );
            }
        }
    }
    Ok(payload)
}

/// A configMap volume's (or projection's) files.
pub(crate) fn config_map(
    map: Option<&ConfigMap>,
    name: &str,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, String> {
    let Some(map) = map else {
        if optional {
            return Ok(Payload::new());
        }
        return Err(format!("configmap {name:?} not found"));
    };
    let mut data: BTreeMap<String, Vec<u8>> = map
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    for (k, v) in map.binary_data.iter().flatten() {
        data.insert(k.clone(), v.0.clone());
    }
    from_data(data, items, default_mode, optional, |key| {
        format!("configmap references non-existent config key: {key}")
    })
}

/// A secret volume's (or projection's) files.
pub(crate) fn secret(
    secret: Option<&Secret>,
    name: &str,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, String> {
    let Some(secret) = secret else {
        if optional {
            return Ok(Payload::new());
        }
        return Err(format!("secret {name:?} not found"));
    };
    let mut data: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        data.entry(k.clone())
            .or_insert_with(|| v.clone().into_bytes());
    }
    from_data(data, items, default_mode, optional, |key| {
        format!("references non-existent secret key: {key}")
    })
}

/// A downwardAPI volume's (or projection's) files.
pub(crate) fn downward(
    context: &PodContext<'_>,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
) -> Result<Payload, String> {
    let mut payload = Payload::new();
    for item in items {
        let value = if let Some(field) = &item.field_ref {
            context.field(field)?
        } else if let Some(resource) = &item.resource_field_ref {
            context.resource(resource, None)?
        } else {
            String::new()
        };
        payload.insert(
            item.path.clone(),
            File {
                data: value.into_bytes(),
                mode: mode(item.mode, default_mode),
            },
        );
    }
    Ok(payload)
}

/// A projected volume's files, but for its service account tokens, which
/// [`super::token`] asks the API for; errors of every source are reported together.
pub(crate) fn projected(
    context: &PodContext<'_>,
    source: &ProjectedVolumeSource,
    lookup: &dyn Lookup,
) -> Result<Payload, String> {
    let namespace = context.namespace();
    let default_mode = source.default_mode;
    let mut payload = Payload::new();
    let mut errors = Vec::new();
    for projection in source.sources.iter().flatten() {
        let part = if let Some(map) = &projection.config_map {
            config_map(
                lookup.config_map(namespace, &map.name).as_deref(),
                &map.name,
                map.items.as_deref(),
                default_mode,
                map.optional == Some(true),
            )
        } else if let Some(s) = &projection.secret {
            secret(
                lookup.secret(namespace, &s.name).as_deref(),
                &s.name,
                s.items.as_deref(),
                default_mode,
                s.optional == Some(true),
            )
        } else if let Some(d) = &projection.downward_api {
            downward(
                context,
                d.items.as_deref().unwrap_or_default(),
                default_mode,
            )
        } else {
            continue;
        };
        match part {
            Ok(part) => payload.extend(part),
            Err(error) => errors.push(error),
        }
    }
    match errors.len() {
        0 => Ok(payload),
        1 => Err(errors.remove(0)),
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn map(data: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ConfigMap::default()
        }
    }

    fn item(key: &str, path: &str, mode: Option<i32>) -> KeyToPath {
        KeyToPath {
            key: key.to_owned(),
            path: path.to_owned(),
            mode,
        }
    }

    fn show(payload: &Payload) -> String {
        payload
            .iter()
            .map(|(path, file)| {
                format!(
                    "{path} {:o} {:?}",
                    file.mode,
                    String::from_utf8_lossy(&file.data)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_key_with_the_default_mode() {
        let m = map(&[("a", "1"), ("b", "2")]);
        let payload = config_map(Some(&m), "m", None, None, false).unwrap();
        insta::assert_snapshot!(show(&payload), @r#"
        a 644 "1"
        b 644 "2"
        "#);
        let payload = config_map(Some(&m), "m", None, Some(0o400), false).unwrap();
        insta::assert_snapshot!(show(&payload), @r#"
        a 400 "1"
        b 400 "2"
        "#);
    }

    #[test]
    fn items_pick_keys_paths_and_modes() {
        let m = map(&[("a", "1"), ("b", "2")]);
        let items = [
            item("a", "dir/first", Some(0o600)),
            item("b", "second", None),
        ];
        let payload = config_map(Some(&m), "m", Some(&items), Some(0o440), false).unwrap();
        insta::assert_snapshot!(show(&payload), @r#"
        dir/first 600 "1"
        second 440 "2"
        "#);
    }

    #[test]
    fn missing_objects_and_keys() {
        let m = map(&[("a", "1")]);
        let items = [item("nope", "x", None)];
        assert_eq!(
            config_map(Some(&m), "m", Some(&items), None, false).unwrap_err(),
            "configmap references non-existent config key: nope"
        );
        assert!(
            config_map(Some(&m), "m", Some(&items), None, true)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            config_map(None, "m", None, None, false).unwrap_err(),
            "configmap \"m\" not found"
        );
        assert!(config_map(None, "m", None, None, true).unwrap().is_empty());
        assert_eq!(
            secret(None, "s", None, None, false).unwrap_err(),
            "secret \"s\" not found"
        );
        let s = Secret {
            data: Some(BTreeMap::from([(
                "password".to_owned(),
                ByteString(b"hunter2".to_vec()),
            )])),
            ..Secret::default()
        };
        assert_eq!(
            secret(Some(&s), "s", Some(&[item("user", "u", None)]), None, false).unwrap_err(),
            "references non-existent secret key: user"
        );
        let payload = secret(Some(&s), "s", None, Some(0o400), false).unwrap();
        insta::assert_snapshot!(show(&payload), @r#"password 400 "hunter2""#);
    }
}
