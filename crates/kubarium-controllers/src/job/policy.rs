//! `spec.podFailurePolicy`: which failed pods fail the whole Job at once (`FailJob`), which
//! do not count against `backoffLimit` (`Ignore`) and which count as usual (`Count`), by
//! container exit codes or pod conditions, first matching rule wins (upstream's
//! `matchPodFailurePolicy`).

use k8s_openapi::api::batch::v1::{Job, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodStatus};

use super::pods::is_failed;

/// What a failed pod means under the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Fail the Job, with this message.
    FailJob(String),
    /// Not counted against the backoff limit.
    Ignore,
    /// Counted as usual.
    Count,
}

/// The verdict of the first rule matching `pod`, or `Count`.
pub(crate) fn verdict(policy: &PodFailurePolicy, pod: &Pod) -> Verdict {
    let status = pod.status.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched = if let Some(codes) = &rule.on_exit_codes {
            exit_code_match(&status, codes).map(|c| {
                let code = c
                    .state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .map_or(0, |t| t.exit_code);
                format!(
                    "Container {} for pod {namespace}/{name} failed with exit code {code} matching {} rule at index {index}",
                    c.name, rule.action
                )
            })
        } else {
            rule.on_pod_conditions.as_ref().and_then(|patterns| {
                status.conditions.iter().flatten().find_map(|c| {
                    patterns
                        .iter()
                        .any(|p| p.type_ == c.type_ && p.status == c.status)
                        .then(|| {
                            format!(
                                "Pod {namespace}/{name} has condition {} matching {} rule at index {index}",
                                c.type_, rule.action
                            )
                        })
                })
            })
        };
        let Some(message) = matched else { continue };
        return match rule.action.as_str() {
            "FailJob" => Verdict::FailJob(message),
            "Ignore" => Verdict::Ignore,
            _ => Verdict::Count,
        };
    }
    Verdict::Count
}

fn exit_code_match<'a>(
    status: &'a PodStatus,
    codes: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<&'a ContainerStatus> {
    let matching = |list: &'a Option<Vec<ContainerStatus>>| {
        list.iter().flatten().find(|c| {
            let Some(code) = c
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| t.exit_code)
            else {
                return false;
            };
            let named = codes.container_name.as_deref().is_none_or(|n| n == c.name);
            let listed = codes.values.contains(&code);
            let operator = match codes.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                _ => false,
            };
            named && code != 0 && operator
        })
    };
    matching(&status.container_statuses).or_else(|| matching(&status.init_container_statuses))
}

/// The message of the first failed pod whose rule says `FailJob`.
pub(crate) fn fail_job_message(job: &Job, pods: &[&Pod]) -> Option<String> {
    let policy = job.spec.as_ref()?.pod_failure_policy.as_ref()?;
    pods.iter()
        .filter(|p| is_failed(p, job))
        .find_map(|p| match verdict(policy, p) {
            Verdict::FailJob(message) => Some(message),
            _ => None,
        })
}

/// Whether a failed pod counts against the backoff limit.
pub(crate) fn counts(job: &Job, pod: &Pod) -> bool {
    job.spec
        .as_ref()
        .and_then(|s| s.pod_failure_policy.as_ref())
        .is_none_or(|policy| verdict(policy, pod) != Verdict::Ignore)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{
        JobSpec, PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
    };
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, PodCondition};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn failed(code: i32, condition: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("default".into()),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some("Failed".into()),
                conditions: condition.map(|c| {
                    vec![PodCondition {
                        type_: c.into(),
                        status: "True".into(),
                        ..PodCondition::default()
                    }]
                }),
                container_statuses: Some(vec![ContainerStatus {
                    name: "main".into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: code,
                            ..ContainerStateTerminated::default()
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }

    fn job() -> Job {
        let rules = vec![
            PodFailurePolicyRule {
                action: "Ignore".into(),
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".into(),
                    status: "True".into(),
                }]),
                ..PodFailurePolicyRule::default()
            },
            PodFailurePolicyRule {
                action: "FailJob".into(),
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: Some("main".into()),
                    operator: "In".into(),
                    values: vec![42],
                }),
                ..PodFailurePolicyRule::default()
            },
        ];
        Job {
            spec: Some(JobSpec {
                pod_failure_policy: Some(PodFailurePolicy { rules }),
                ..JobSpec::default()
            }),
            ..Job::default()
        }
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let job = job();
        let fatal = failed(42, None);
        assert_eq!(
            fail_job_message(&job, &[&fatal]).as_deref(),
            Some(
                "Container main for pod default/p failed with exit code 42 matching FailJob rule at index 1"
            )
        );
        let disrupted = failed(42, Some("DisruptionTarget"));
        assert!(!counts(&job, &disrupted));
        assert_eq!(fail_job_message(&job, &[&disrupted]), None);
        let ordinary = failed(1, None);
        assert!(counts(&job, &ordinary));
        assert_eq!(fail_job_message(&job, &[&ordinary]), None);
    }
}
