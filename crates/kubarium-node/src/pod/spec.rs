//! From a container in a pod spec to the [`ContainerConfig`] a runtime runs, as the
//! kubelet's `generateContainerConfig`: the environment, `$(VAR)` in command and args,
//! mounts, the image pull policy's default, resource limits and the security context
//! (the pod's merged under the container's).

use k8s_openapi::api::core::v1::{Container, Pod};

use super::downward::PodContext;
use super::env;
use super::sources::Lookup;
use super::volumes::{self, Prepared};
use crate::runtime::{ContainerConfig, Limits, PullPolicy, Security};
use kubarium_controllers::quantity::Quantity;

/// `imagePullPolicy`, or its default: `Always` for `:latest` or an untagged image,
/// `IfNotPresent` otherwise (a digest counts as a tag).
pub(crate) fn pull_policy(container: &Container) -> PullPolicy {
    match container.image_pull_policy.as_deref() {
        Some("Always") => PullPolicy::Always,
        Some("Never") => PullPolicy::Never,
        Some("IfNotPresent") => PullPolicy::IfNotPresent,
        _ => {
            let image = container.image.as_deref().unwrap_or_default();
            if image.contains('@') {
                return PullPolicy::IfNotPresent;
            }
            let last = image.rsplit('/').next().unwrap_or(image);
            match last.split_once(':') {
                Some((_, "latest")) | None => PullPolicy::Always,
                Some(_) => PullPolicy::IfNotPresent,
            }
        }
    }
}

/// `limits.cpu` in millicores and `limits.memory` in bytes.
pub(crate) fn limits(container: &Container) -> Limits {
    let limits = container.resources.as_ref().and_then(|r| r.limits.as_ref());
    let get = |name: &str| {
        limits
            .and_then(|l| l.get(name))
            .and_then(|q| Quantity::parse(&q.0))
    };
    Limits {
        cpu_millis: get("cpu").map(Quantity::milli),
        memory_bytes: get("memory").map(Quantity::value),
    }
}

/// The container's security context with the pod's `runAsUser`/`runAsGroup` beneath it,
/// and the pod's groups: `supplementalGroups`, then `fsGroup`, as the kubelet's
/// `determineEffectiveSecurityContext` appends them (Docker's `GroupAdd`).
pub(crate) fn security(pod: &Pod, container: &Container) -> Security {
    let pod_context = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let own = container.security_context.as_ref();
    Security {
        run_as_user: own
            .and_then(|c| c.run_as_user)
            .or_else(|| pod_context.and_then(|p| p.run_as_user)),
        run_as_group: own
            .and_then(|c| c.run_as_group)
            .or_else(|| pod_context.and_then(|p| p.run_as_group)),
        read_only_root_filesystem: own
            .and_then(|c| c.read_only_root_filesystem)
            .unwrap_or(false),
        privileged: own.and_then(|c| c.privileged).unwrap_or(false),
        supplemental_groups: pod_context
            .into_iter()
            .flat_map(|p| p.supplemental_groups.iter().flatten().chain(&p.fs_group))
            .copied()
            .collect(),
    }
}

/// Why a pod's privileged container may not run here (the old kubelet's
/// `--allow-privileged=false` check), or `None` if it may.
pub(crate) fn refuse_privileged(pod: &Pod, allowed: bool) -> Option<String> {
    if allowed {
        return None;
    }
    let spec = pod.spec.as_ref()?;
    let privileged = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| {
            c.security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false)
        });
    privileged.then(|| {
        format!(
            "pod with UID {:?} specified privileged container, but is disallowed; this node does not run privileged containers unless the cluster is started with privileged containers allowed",
            pod.metadata.uid.as_deref().unwrap_or_default()
        )
    })
}

/// The whole config of `container`, or why it cannot be made (the message of a
/// `CreateContainerConfigError`).
pub(crate) fn container_config(
    context: &PodContext<'_>,
    container: &Container,
    lookup: &dyn Lookup,
    volumes: &Prepared,
    allow_privileged: bool,
) -> Result<ContainerConfig, String> {
    if let Some(message) = refuse_privileged(context.pod, allow_privileged) {
        return Err(message);
    }
    let env = env::resolve(context, container, lookup)?;
    let mounts = volumes::mounts(container, volumes, &env)?;
    Ok(ContainerConfig {
        name: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        command: env::expand_all(container.command.as_deref().unwrap_or_default(), &env),
        args: env::expand_all(container.args.as_deref().unwrap_or_default(), &env),
        working_dir: container.working_dir.clone().filter(|d| !d.is_empty()),
        mounts,
        pull_policy: pull_policy(container),
        limits: limits(container),
        security: security(context.pod, container),
        tty: container.tty.unwrap_or(false),
        stdin: container.stdin.unwrap_or(false),
        stdin_once: container.stdin_once.unwrap_or(false),
        env,
        ..ContainerConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{
        PodSecurityContext, PodSpec, ResourceRequirements, SecurityContext,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

    use super::*;

    fn image(image: &str, policy: Option<&str>) -> Container {
        Container {
            name: "c".to_owned(),
            image: Some(image.to_owned()),
            image_pull_policy: policy.map(str::to_owned),
            ..Container::default()
        }
    }

    #[test]
    fn pull_policy_defaults_as_upstream() {
        let cases = [
            ("busybox", PullPolicy::Always),
            ("busybox:latest", PullPolicy::Always),
            ("kubarium.dev/busybox:test", PullPolicy::IfNotPresent),
            ("localhost:5000/app", PullPolicy::Always),
            ("localhost:5000/app:1.0", PullPolicy::IfNotPresent),
            ("app@sha256:abc", PullPolicy::IfNotPresent),
        ];
        for (name, expected) in cases {
            assert_eq!(pull_policy(&image(name, None)), expected, "{name}");
        }
        assert_eq!(
            pull_policy(&image("busybox", Some("Never"))),
            PullPolicy::Never
        );
        assert_eq!(
            pull_policy(&image("busybox:1", Some("Always"))),
            PullPolicy::Always
        );
    }

    #[test]
    fn limits_become_millicores_and_bytes() {
        let mut container = image("x:1", None);
        container.resources = Some(ResourceRequirements {
            limits: Some(BTreeMap::from([
                ("cpu".to_owned(), ApiQuantity("250m".to_owned())),
                ("memory".to_owned(), ApiQuantity("64Mi".to_owned())),
            ])),
            ..ResourceRequirements::default()
        });
        assert_eq!(
            limits(&container),
            Limits {
                cpu_millis: Some(250),
                memory_bytes: Some(64 << 20)
            }
        );
        assert_eq!(limits(&image("x:1", None)), Limits::default());
    }

    #[test]
    fn the_containers_security_context_wins_over_the_pods() {
        let mut container = image("x:1", None);
        container.security_context = Some(SecurityContext {
            run_as_user: Some(1000),
            read_only_root_filesystem: Some(true),
            ..SecurityContext::default()
        });
        let pod = Pod {
            spec: Some(PodSpec {
                security_context: Some(PodSecurityContext {
                    run_as_user: Some(1),
                    run_as_group: Some(2000),
                    fs_group: Some(3000),
                    supplemental_groups: Some(vec![4000, 4001]),
                    ..PodSecurityContext::default()
                }),
                containers: vec![container.clone()],
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        assert_eq!(
            security(&pod, &container),
            Security {
                run_as_user: Some(1000),
                run_as_group: Some(2000),
                read_only_root_filesystem: true,
                privileged: false,
                supplemental_groups: vec![4000, 4001, 3000],
            }
        );
        assert_eq!(refuse_privileged(&pod, false), None);
    }

    #[test]
    fn privileged_is_refused_unless_allowed() {
        let mut container = image("x:1", None);
        container.security_context = Some(SecurityContext {
            privileged: Some(true),
            ..SecurityContext::default()
        });
        let mut pod = Pod {
            spec: Some(PodSpec {
                containers: vec![container],
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        pod.metadata.uid = Some("u-1".to_owned());
        let refusal = refuse_privileged(&pod, false).unwrap_or_default();
        assert!(
            refusal.starts_with(
                "pod with UID \"u-1\" specified privileged container, but is disallowed"
            ),
            "{refusal}"
        );
        assert_eq!(refuse_privileged(&pod, true), None);
    }
}
