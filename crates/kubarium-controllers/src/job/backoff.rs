//! The delay before a Job replaces failed pods, as upstream's pod failure backoff: 10 s
//! after the first failure since the last success, doubling with each further failure, at
//! most 10 minutes, counted from the latest failure.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

/// The first delay (upstream's `DefaultJobPodFailureBackOff`).
const INITIAL: Duration = Duration::from_secs(10);
/// The longest delay (upstream's `MaxJobPodFailureBackOff`).
const MAX: Duration = Duration::from_secs(600);

/// Failures since a Job's last success, kept in memory per Job as upstream does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) failures_after_last_success: u32,
    pub(crate) last_failure: Option<Timestamp>,
}

impl Record {
    /// The record after newly finished pods are counted.
    pub(crate) fn with_finished(
        &self,
        succeeded: &[&Pod],
        failed: &[&Pod],
        now: Timestamp,
    ) -> Self {
        let last_success = succeeded.iter().map(|p| finish_time(p, now)).max();
        let mut failures: Vec<Timestamp> = failed.iter().map(|p| finish_time(p, now)).collect();
        failures.sort();
        match last_success {
            None => Record {
                failures_after_last_success: self.failures_after_last_success
                    + u32::try_from(failures.len()).unwrap_or(u32::MAX),
                last_failure: failures.last().copied().or(self.last_failure),
            },
            Some(success) => {
                let after: Vec<Timestamp> = failures.into_iter().filter(|f| *f > success).collect();
                Record {
                    failures_after_last_success: u32::try_from(after.len()).unwrap_or(u32::MAX),
                    last_failure: after.last().copied(),
                }
            }
        }
    }

    /// How long to wait before creating pods again.
    pub(crate) fn remaining(&self, now: Timestamp) -> Duration {
        let Some(last) = self.last_failure else {
            return Duration::ZERO;
        };
        if self.failures_after_last_success == 0 {
            return Duration::ZERO;
        }
        let exponent = (self.failures_after_last_success - 1).min(16);
        let backoff = INITIAL.saturating_mul(1 << exponent).min(MAX);
        let elapsed = now.duration_since(last);
        if elapsed.is_negative() {
            return backoff;
        }
        backoff.saturating_sub(elapsed.unsigned_abs())
    }
}

/// When a pod finished: its last container's exit, else when it stopped being ready, else
/// its deletion, else now (upstream's `getFinishedTime`).
pub(crate) fn finish_time(pod: &Pod, now: Timestamp) -> Timestamp {
    let status = pod.status.as_ref();
    let from_containers = status
        .into_iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    let from_ready = || {
        status?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready" && c.status == "False")?
            .last_transition_time
            .as_ref()
            .map(|t| t.0)
    };
    from_containers
        .or_else(from_ready)
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }

    fn failed_at(seconds: i64) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some("Failed".into()),
                conditions: Some(vec![k8s_openapi::api::core::v1::PodCondition {
                    type_: "Ready".into(),
                    status: "False".into(),
                    last_transition_time: Some(Time(at(seconds))),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn doubles_from_ten_seconds_and_counts_from_the_last_failure() {
        let first = failed_at(0);
        let record = Record::default().with_finished(&[], &[&first], at(1));
        assert_eq!(record.remaining(at(1)), Duration::from_secs(9));
        let second = failed_at(20);
        let record = record.with_finished(&[], &[&second], at(20));
        assert_eq!(record.failures_after_last_success, 2);
        assert_eq!(record.remaining(at(25)), Duration::from_secs(15));
        assert_eq!(record.remaining(at(60)), Duration::ZERO);
    }

    #[test]
    fn a_success_resets_the_count() {
        let record = Record {
            failures_after_last_success: 5,
            last_failure: Some(at(0)),
        };
        let success = failed_at(10);
        let record = record.with_finished(&[&success], &[], at(10));
        assert_eq!(record, Record::default());
        assert_eq!(record.remaining(at(10)), Duration::ZERO);
    }

    #[test]
    fn caps_at_ten_minutes() {
        let record = Record {
            failures_after_last_success: 30,
            last_failure: Some(at(0)),
        };
        assert_eq!(record.remaining(at(0)), MAX);
    }
}
