//! A pod's volumes on the host, as the kubelet's volume manager sets them up before any
//! container starts, and the bind mounts each container gets from its `volumeMounts`.
//!
//! Volumes of the pod live under `<data_dir>/pods/<uid>/volumes/<plugin>/<name>` with the
//! kubelet's plugin names (`kubernetes.io~empty-dir`, `~configmap`, `~secret`,
//! `~downward-api`, `~projected`); `<data_dir>/pods` is 0700, so no other user of the host
//! reads a Secret's files, whatever their mode inside the volume. hostPath volumes and
//! persistent volumes are where they are. ConfigMap, Secret, downwardAPI and projected
//! volumes are written atomically ([`atomic`]) and re-synced when what they show changes;
//! they are mounted read-only, as upstream. An emptyDir with `medium: Memory` is no directory
//! here: it is a [`MemoryVolume`] the runtime makes with the pod's sandbox (on Docker a tmpfs
//! volume of the local driver that the sandbox and a volume keeper keep mounted, so it lives
//! as long as the pod, not as its containers or its sandbox), sized as the kubelet sizes its tmpfs ([`memory_volumes`]);
//! pages written there count against the memory limit of the container that wrote them.
//! `subPath` into one is refused (Docker Engine 20.10's volumes have no sub-paths). Hollow
//! pods plan it as a plain directory, as before. A pod's `fsGroup` is applied to the volumes
//! written here as the kubelet does ([`ownership`]).

mod atomic;
mod host;
mod ownership;
mod payload;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Container, ServiceAccount, Volume};
use kube::Api;
use kube::api::PostParams;

use self::atomic::{File, Payload};
use self::ownership::FsGroup;
use super::downward::PodContext;
use super::env;
use super::sources::{Lookup, Sources};
use crate::NodeCapacity;
use crate::runtime::{MemoryVolume, Mount, MountSource};
use kubarium_controllers::quantity::Quantity;

/// One volume, ready on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ready {
    /// Where it is.
    pub(crate) host_path: PathBuf,
    /// Mounted read-only whatever the mount says (configMap, secret, downwardAPI,
    /// projected, and claims marked `readOnly`).
    pub(crate) read_only: bool,
    /// Planned for a hollow pod: nothing is on disk.
    pub(crate) simulated: bool,
    /// An emptyDir with `medium: Memory` the runtime keeps (`host_path` is not used).
    pub(crate) memory: Option<MemoryVolume>,
}

/// A pod's volumes by name.
pub(crate) type Prepared = HashMap<String, Ready>;

/// A volume that could not be set up; the kubelet's `FailedMount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountFailure {
    /// The volume's name.
    pub(crate) volume: String,
    /// Why.
    pub(crate) message: String,
}

impl MountFailure {
    /// The event's message, as the kubelet's operation executor words it.
    pub(crate) fn event(&self) -> String {
        format!(
            "MountVolume.SetUp failed for volume {:?} : {}",
            self.volume, self.message
        )
    }
}

/// The plugin directory of a volume kept under the pod's directory.
fn plugin(volume: &Volume) -> Option<&'static str> {
    if volume.empty_dir.is_some() {
        Some("kubernetes.io~empty-dir")
    } else if volume.config_map.is_some() {
        Some("kubernetes.io~configmap")
    } else if volume.secret.is_some() {
        Some("kubernetes.io~secret")
    } else if volume.downward_api.is_some() {
        Some("kubernetes.io~downward-api")
    } else if volume.projected.is_some() {
        Some("kubernetes.io~projected")
    } else {
        None
    }
}

fn mkdir(path: &Path, mode: u32) -> Result<(), String> {
    if !path.is_dir() {
        fs::create_dir_all(path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The files a configMap, secret, downwardAPI or projected volume should hold now (a
/// projected volume's tokens aside); `None` for other kinds.
fn payload_of(
    volume: &Volume,
    context: &PodContext<'_>,
    lookup: &dyn Lookup,
) -> Option<Result<Payload, String>> {
    let namespace = context.namespace();
    if let Some(source) = &volume.config_map {
        Some(payload::config_map(
            lookup.config_map(namespace, &source.name).as_deref(),
            &source.name,
            source.items.as_deref(),
            source.default_mode,
            source.optional == Some(true),
        ))
    } else if let Some(source) = &volume.secret {
        let name = source.secret_name.as_deref().unwrap_or_default();
        Some(payload::secret(
            lookup.secret(namespace, name).as_deref(),
            name,
            source.items.as_deref(),
            source.default_mode,
            source.optional == Some(true),
        ))
    } else if let Some(source) = &volume.downward_api {
        Some(payload::downward(
            context,
            source.items.as_deref().unwrap_or_default(),
            source.default_mode,
        ))
    } else {
        volume
            .projected
            .as_ref()
            .map(|source| payload::projected(context, source, lookup))
    }
}

/// Writes `payload` into `dir` unless another write holds the lock; with the pod's
/// `fsGroup`, files are group-readable and everything written is of that group.
fn write(
    sources: &Sources,
    dir: &Path,
    payload: &Payload,
    fs_group: Option<FsGroup>,
) -> Result<bool, String> {
    let _writing = sources
        .writing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let grouped;
    let payload = match fs_group {
        Some(group) => {
            grouped = payload
                .iter()
                .map(|(path, file)| {
                    let mode = group.file_mode(file.mode);
                    (
                        path.clone(),
                        File {
                            mode,
                            ..file.clone()
                        },
                    )
                })
                .collect();
            &grouped
        }
        None => payload,
    };
    let changed =
        atomic::write(dir, payload).map_err(|e| format!("write {}: {e}", dir.display()))?;
    if changed && let Some(group) = fs_group {
        group.apply_or_warn(dir, true)?;
    }
    Ok(changed)
}

/// Adds the service account tokens of a projected volume to `payload`, asking the API for
/// a token when the one on disk is missing or past 80% of its life.
async fn add_tokens(
    sources: &Sources,
    context: &PodContext<'_>,
    volume: &Volume,
    dir: &Path,
    payload: &mut Payload,
) -> Result<(), String> {
    let Some(projected) = &volume.projected else {
        return Ok(());
    };
    let pod = context.pod;
    let mode = u32::try_from(projected.default_mode.unwrap_or(payload::DEFAULT_MODE) & 0o7777)
        .unwrap_or(0o644);
    for source in projected.sources.iter().flatten() {
        let Some(token) = &source.service_account_token else {
            continue;
        };
        let seconds = token.expiration_seconds.unwrap_or(3600);
        let existing = dir.join(atomic::DATA).join(&token.path);
        let fresh = fs::metadata(&existing)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .is_some_and(|age| {
                age < Duration::from_secs(u64::try_from(seconds).unwrap_or(3600) * 8 / 10)
            });
        let data = match fs::read(&existing) {
            Ok(data) if fresh => data,
            _ => {
                let account = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.service_account_name.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "default".to_owned());
                let request = TokenRequest {
                    spec: TokenRequestSpec {
                        audiences: token.audience.iter().cloned().collect(),
                        expiration_seconds: Some(seconds),
                        bound_object_ref: Some(BoundObjectReference {
                            api_version: Some("v1".to_owned()),
                            kind: Some("Pod".to_owned()),
                            name: pod.metadata.name.clone(),
                            uid: pod.metadata.uid.clone(),
                        }),
                    },
                    ..TokenRequest::default()
                };
                let api =
                    Api::<ServiceAccount>::namespaced(sources.client.clone(), context.namespace());
                let response = api
                    .create_token_request(&account, &PostParams::default(), &request)
                    .await
                    .map_err(|e| format!("failed to fetch token: {e}"))?;
                response
                    .status
                    .map(|s| s.token.into_bytes())
                    .ok_or_else(|| {
                        "failed to fetch token: the API server returned none".to_owned()
                    })?
            }
        };
        payload.insert(token.path.clone(), File { data, mode });
    }
    Ok(())
}

/// Sets up every volume of the pod (again: set-up is idempotent, and a repeat re-syncs
/// contents); returns where each one is.
pub(crate) async fn prepare(
    sources: &Sources,
    context: &PodContext<'_>,
) -> Result<Prepared, MountFailure> {
    let pod = context.pod;
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let fail = |volume: &Volume| {
        let volume = volume.name.clone();
        move |message: String| MountFailure { volume, message }
    };
    let pods = sources.data_dir.join("pods");
    let pod_dir = sources.pod_dir(uid);
    let general = |message: String| MountFailure {
        volume: String::new(),
        message,
    };
    mkdir(&pods, 0o700).map_err(general)?;
    mkdir(&pod_dir, 0o750).map_err(general)?;
    let mut prepared = Prepared::new();
    let fs_group = FsGroup::of(pod);
    let mut in_memory = memory_volumes(pod, context.allocatable);
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let memory = in_memory
            .iter()
            .position(|m| m.name == volume.name)
            .map(|at| in_memory.swap_remove(at));
        let ready = if let Some(memory) = memory {
            Ready {
                host_path: PathBuf::new(),
                read_only: false,
                simulated: false,
                memory: Some(memory),
            }
        } else if let Some(plugin) = plugin(volume) {
            let dir = pod_dir.join("volumes").join(plugin).join(&volume.name);
            if volume.empty_dir.is_some() {
                let fresh = !dir.is_dir();
                mkdir(&dir, 0o777).map_err(fail(volume))?;
                // Once, when made (the kubelet sets an emptyDir up once per pod): later
                // content is the pod's, and the setgid root keeps it in the group.
                if fresh && let Some(group) = fs_group {
                    group.apply_or_warn(&dir, false).map_err(fail(volume))?;
                }
            } else {
                mkdir(&dir, 0o755).map_err(fail(volume))?;
                let mut files = payload_of(volume, context, sources)
                    .unwrap_or_else(|| Ok(Payload::new()))
                    .map_err(fail(volume))?;
                add_tokens(sources, context, volume, &dir, &mut files)
                    .await
                    .map_err(fail(volume))?;
                write(sources, &dir, &files, fs_group).map_err(fail(volume))?;
            }
            Ready {
                host_path: dir,
                read_only: volume.empty_dir.is_none(),
                simulated: false,
                memory: None,
            }
        } else if let Some(source) = &volume.host_path {
            let path = PathBuf::from(&source.path);
            host::check_type(&path, source.type_.as_deref()).map_err(fail(volume))?;
            Ready {
                host_path: path,
                read_only: false,
                simulated: false,
                memory: None,
            }
        } else if let Some(source) = &volume.persistent_volume_claim {
            let path = host::claim_path(&sources.client, context.namespace(), &source.claim_name)
                .await
                .map_err(fail(volume))?;
            Ready {
                host_path: path,
                read_only: source.read_only == Some(true),
                simulated: false,
                memory: None,
            }
        } else {
            return Err(fail(volume)(
                "this node mounts only emptyDir, configMap, secret, hostPath, persistentVolumeClaim, downwardAPI and projected volumes; use one of those".to_owned(),
            ));
        };
        prepared.insert(volume.name.clone(), ready);
    }
    Ok(prepared)
}

/// The pod's emptyDirs with `medium: Memory`, each sized as the kubelet's
/// `calculateEmptyDirMemorySize`: the node's allocatable memory, or the pod's memory limit
/// when that is less, or the volume's `sizeLimit` when that is less still.
pub(crate) fn memory_volumes(
    pod: &k8s_openapi::api::core::v1::Pod,
    allocatable: &NodeCapacity,
) -> Vec<MemoryVolume> {
    let positive = |text: &str| {
        Quantity::parse(text)
            .map(Quantity::value)
            .filter(|v| *v > 0)
    };
    let node = positive(&allocatable.memory);
    let pod_limit = pod.spec.as_ref().and_then(pod_memory_limit);
    let group = FsGroup::of(pod).map(|group| i64::from(group.gid));
    let least = |size: Option<i64>, other: Option<i64>| match (size, other) {
        (Some(size), Some(other)) => Some(size.min(other)),
        (size, other) => size.or(other),
    };
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|volume| {
            let empty_dir = volume.empty_dir.as_ref()?;
            if empty_dir.medium.as_deref() != Some("Memory") {
                return None;
            }
            let size_limit = empty_dir.size_limit.as_ref().and_then(|q| positive(&q.0));
            Some(MemoryVolume {
                name: volume.name.clone(),
                size_bytes: least(least(node, pod_limit), size_limit),
                group,
            })
        })
        .collect()
}

/// The pod's memory limit, as the kubelet's pod cgroup has it: only when every container
/// declares one, the sum of the app containers' or the largest init container's, whichever
/// is more (the pod's overhead added).
fn pod_memory_limit(spec: &k8s_openapi::api::core::v1::PodSpec) -> Option<i64> {
    let limit = |c: &Container| super::spec::limits(c).memory_bytes.filter(|v| *v > 0);
    let init: Option<Vec<i64>> = spec.init_containers.iter().flatten().map(limit).collect();
    let app: Option<Vec<i64>> = spec.containers.iter().map(limit).collect();
    let overhead = spec
        .overhead
        .as_ref()
        .and_then(|o| o.get("memory"))
        .and_then(|q| Quantity::parse(&q.0))
        .map_or(0, Quantity::value);
    let sum: i64 = app?.iter().sum();
    let largest_init = init?.into_iter().max().unwrap_or(0);
    Some(sum.max(largest_init) + overhead)
}

/// Where the pod's volumes would be, with nothing touched: for hollow pods, whose
/// containers are simulated.
pub(crate) fn plan(sources: &Sources, pod: &k8s_openapi::api::core::v1::Pod) -> Prepared {
    let pod_dir = sources.pod_dir(pod.metadata.uid.as_deref().unwrap_or_default());
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .map(|volume| {
            let host_path = match (plugin(volume), &volume.host_path) {
                (Some(plugin), _) => pod_dir.join("volumes").join(plugin).join(&volume.name),
                (None, Some(source)) => PathBuf::from(&source.path),
                (None, None) => pod_dir.join("volumes").join(&volume.name),
            };
            let ready = Ready {
                host_path,
                read_only: false,
                simulated: true,
                memory: None,
            };
            (volume.name.clone(), ready)
        })
        .collect()
}

/// Re-writes the configMap, secret, downwardAPI and projected volumes the pod has set up,
/// so changes reach running containers (not through `subPath` mounts, which bind one file
/// of the old data, as upstream). Failures leave the old files.
pub(crate) async fn resync(sources: &Sources, context: &PodContext<'_>) {
    let uid = context.pod.metadata.uid.as_deref().unwrap_or_default();
    let pod_dir = sources.pod_dir(uid);
    for volume in context
        .pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
    {
        let Some(plugin) = plugin(volume).filter(|_| volume.empty_dir.is_none()) else {
            continue;
        };
        let dir = pod_dir.join("volumes").join(plugin).join(&volume.name);
        if !dir.is_dir() {
            continue;
        }
        let Some(Ok(mut files)) = payload_of(volume, context, sources) else {
            continue;
        };
        if add_tokens(sources, context, volume, &dir, &mut files)
            .await
            .is_err()
        {
            continue;
        }
        match write(sources, &dir, &files, FsGroup::of(context.pod)) {
            Ok(true) => tracing::debug!(volume = volume.name, pod = uid, "volume re-synced"),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(volume = volume.name, pod = uid, %error, "could not re-sync a volume")
            }
        }
    }
}

/// Whether the pod's volumes show `kind` (`ConfigMap` or `Secret`) `name`.
pub(crate) fn uses(pod: &k8s_openapi::api::core::v1::Pod, secret: bool, name: &str) -> bool {
    let spec = pod.spec.as_ref();
    let volumes = spec.into_iter().flat_map(|s| s.volumes.iter().flatten());
    let in_volumes = volumes.into_iter().any(|v| {
        let direct = if secret {
            v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(name)
        } else {
            v.config_map.as_ref().map(|c| c.name.as_str()) == Some(name)
        };
        direct
            || v.projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
                .any(|p| {
                    if secret {
                        p.secret.as_ref().map(|s| s.name.as_str()) == Some(name)
                    } else {
                        p.config_map.as_ref().map(|c| c.name.as_str()) == Some(name)
                    }
                })
    });
    let containers = spec.into_iter().flat_map(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
    });
    in_volumes
        || containers.into_iter().any(|c| {
            c.env_from.iter().flatten().any(|e| {
                if secret {
                    e.secret_ref.as_ref().map(|r| r.name.as_str()) == Some(name)
                } else {
                    e.config_map_ref.as_ref().map(|r| r.name.as_str()) == Some(name)
                }
            }) || c.env.iter().flatten().any(|e| {
                let from = e.value_from.as_ref();
                if secret {
                    from.and_then(|f| f.secret_key_ref.as_ref())
                        .map(|r| r.name.as_str())
                        == Some(name)
                } else {
                    from.and_then(|f| f.config_map_key_ref.as_ref())
                        .map(|r| r.name.as_str())
                        == Some(name)
                }
            })
        })
}

/// Whether the pod has downwardAPI files (plain or projected), which change with its
/// labels and annotations.
pub(crate) fn shows_fields(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .any(|v| {
            v.downward_api.is_some()
                || v.projected
                    .iter()
                    .flat_map(|p| p.sources.iter().flatten())
                    .any(|p| p.downward_api.is_some())
        })
}

/// Whether the pod has projected service account tokens, which are renewed.
pub(crate) fn has_tokens(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .flat_map(|v| v.projected.iter().flat_map(|p| p.sources.iter().flatten()))
        .any(|p| p.service_account_token.is_some())
}

/// Removes everything the agent kept for pod `uid`. hostPath and persistent volumes are
/// elsewhere and stay.
pub(crate) fn remove(sources: &Sources, uid: &str) {
    if uid.is_empty() {
        return;
    }
    let dir = sources.pod_dir(uid);
    match fs::remove_dir_all(&dir) {
        Ok(()) => tracing::debug!(pod = uid, "pod directory removed"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(pod = uid, %error, "could not remove the pod's directory"),
    }
}

/// Removes the directories of pods not in `keep` (pods deleted while the agents were down).
pub(crate) fn remove_others(sources: &Sources, keep: &std::collections::HashSet<String>) {
    let Ok(entries) = fs::read_dir(sources.data_dir.join("pods")) else {
        return;
    };
    for entry in entries.flatten() {
        if let Ok(uid) = entry.file_name().into_string()
            && !keep.contains(&uid)
        {
            remove(sources, &uid);
        }
    }
}

/// The mounts of `container` (`volumeMounts`, with `subPath` and `subPathExpr`).
pub(crate) fn mounts(
    container: &Container,
    prepared: &Prepared,
    env: &[(String, String)],
) -> Result<Vec<Mount>, String> {
    let mut mounts = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let Some(volume) = prepared.get(&mount.name) else {
            return Err(format!(
                "cannot find volume {:?} to mount into container {:?}",
                mount.name, container.name
            ));
        };
        let sub_path = match mount.sub_path_expr.as_deref().filter(|s| !s.is_empty()) {
            Some(expr) => env::expand_sub_path(expr, env)?,
            None => mount.sub_path.clone().unwrap_or_default(),
        };
        if let Some(memory) = &volume.memory {
            if !sub_path.is_empty() {
                return Err(format!(
                    "subPath {sub_path:?} of volumeMount {:?} of container {:?}: an emptyDir with medium Memory is mounted whole on this node (Docker Engine's volumes have no sub-paths before API 1.45); mount it without subPath, or use an emptyDir on disk",
                    mount.name, container.name
                ));
            }
            mounts.push(Mount {
                source: MountSource::Memory(memory.clone()),
                container_path: mount.mount_path.clone(),
                read_only: mount.read_only == Some(true),
            });
            continue;
        }
        let mut host_path = volume.host_path.clone();
        if !sub_path.is_empty() {
            if Path::new(&sub_path).is_absolute() {
                return Err(format!(
                    "error SubPath `{sub_path}` must not be an absolute path"
                ));
            }
            if Path::new(&sub_path)
                .components()
                .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(format!(
                    "unable to provision SubPath `{sub_path}`: must not contain '..'"
                ));
            }
            host_path = volume.host_path.join(&sub_path);
            if volume.simulated {
                // A hollow pod's volume: nothing on disk to make or check.
            } else if fs::symlink_metadata(&host_path).is_err() {
                let mode = fs::metadata(&volume.host_path)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o755);
                mkdir(&host_path, mode).map_err(|_| {
                    format!(
                        "failed to create subPath directory for volumeMount {:?} of container {:?}",
                        mount.name, container.name
                    )
                })?;
            }
            let inside = match (host_path.canonicalize(), volume.host_path.canonicalize()) {
                (Ok(path), Ok(root)) => path.starts_with(root),
                _ => volume.simulated,
            };
            if !inside {
                return Err(format!(
                    "failed to prepare subPath for volumeMount {:?} of container {:?}",
                    mount.name, container.name
                ));
            }
        }
        mounts.push(Mount {
            source: MountSource::Host(host_path),
            container_path: mount.mount_path.clone(),
            read_only: volume.read_only || mount.read_only == Some(true),
        });
    }
    Ok(mounts)
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
