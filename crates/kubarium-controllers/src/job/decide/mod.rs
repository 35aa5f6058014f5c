//! What a Job needs, decided from the Job and its pods alone (no API calls), so each rule
//! of upstream's `syncJob` is a function with tests: the counters, the finish condition,
//! how many pods to create or delete, and the bookkeeping of finished pods through
//! `status.uncountedTerminatedPods` and the tracking finalizer.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::backoff::Record;
use super::indexes;
use super::pods::{self, has_tracking_finalizer, is_active, is_failed, is_ready, is_terminating};
use super::policy;

/// Most pods created or deleted in one sync (upstream's `MaxPodCreateDeletePerSync`).
pub(crate) const MAX_PER_SYNC: usize = 500;

pub(crate) const BACKOFF_REASON: &str = "BackoffLimitExceeded";
pub(crate) const BACKOFF_MESSAGE: &str = "Job has reached the specified backoff limit";
pub(crate) const DEADLINE_REASON: &str = "DeadlineExceeded";
pub(crate) const DEADLINE_MESSAGE: &str = "Job was active longer than specified deadline";
pub(crate) const POD_FAILURE_POLICY_REASON: &str = "PodFailurePolicy";
pub(crate) const COMPLETIONS_REASON: &str = "CompletionsReached";
pub(crate) const COMPLETIONS_MESSAGE: &str = "Reached expected number of succeeded pods";

/// Whether the Job has a true `Complete` or `Failed` condition.
pub(crate) fn is_finished(job: &Job) -> bool {
    finished_condition(job).is_some()
}

/// The Job's true `Complete` or `Failed` condition.
pub(crate) fn finished_condition(job: &Job) -> Option<&JobCondition> {
    conditions(job)
        .iter()
        .find(|c| matches!(c.type_.as_str(), "Complete" | "Failed") && c.status == "True")
}

fn conditions(job: &Job) -> &[JobCondition] {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
}

fn true_condition<'a>(job: &'a Job, kind: &str) -> Option<&'a JobCondition> {
    conditions(job)
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
}

pub(crate) fn condition(
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: kind.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets the condition of `kind` to `status`; whether anything changed. A missing condition
/// is added only when it would be true (upstream's `ensureJobConditionStatus`).
pub(crate) fn ensure_condition(
    status: &mut JobStatus,
    kind: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let list = status.conditions.get_or_insert_with(Vec::new);
    if let Some(existing) = list.iter_mut().find(|c| c.type_ == kind) {
        if existing.status == value {
            return false;
        }
        *existing = condition(kind, value, reason, message, now);
        return true;
    }
    if value == "True" {
        list.push(condition(kind, value, reason, message, now));
        return true;
    }
    false
}

pub(crate) fn is_suspended(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.suspend) == Some(true)
}

pub(crate) fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

fn completions(job: &Job) -> Option<i32> {
    job.spec.as_ref().and_then(|s| s.completions)
}

/// The counts and decisions of one sync before any request is made.
#[derive(Debug)]
pub(crate) struct Assessment<'a> {
    /// The status being built: the Job's, with `startTime` set on first start.
    pub(crate) status: JobStatus,
    pub(crate) active: Vec<&'a Pod>,
    pub(crate) ready: i32,
    pub(crate) terminating: i32,
    pub(crate) succeeded: i32,
    /// The backoff record once this sync's finished pods are counted.
    pub(crate) backoff: Record,
    /// Why the Job is finishing: an interim `FailureTarget` or `SuccessCriteriaMet`, or
    /// the final condition when the interim one is already recorded.
    pub(crate) finish: Option<JobCondition>,
    /// Sync again then, for `activeDeadlineSeconds`.
    pub(crate) requeue: Option<Duration>,
    /// Indexed Jobs: the indexes recorded as succeeded, and those plus the pods' own.
    pub(crate) recorded_indexes: BTreeSet<i32>,
    pub(crate) succeeded_indexes: BTreeSet<i32>,
}

/// Counts the Job's pods and decides whether it is finishing. `removed` are pods whose
/// tracking finalizer this controller removed but the cache may not show yet.
pub(crate) fn assess<'a>(
    job: &Job,
    pods: &[&'a Pod],
    removed: &HashSet<String>,
    backoff: &Record,
    now: Timestamp,
) -> Assessment<'a> {
    let mut status = job.status.clone().unwrap_or_default();
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(Default::default)
        .clone();
    let uncounted_succeeded: HashSet<&str> = uncounted
        .succeeded
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let uncounted_failed: HashSet<&str> = uncounted
        .failed
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let active: Vec<&Pod> = pods.iter().copied().filter(|p| is_active(p)).collect();
    let ready = count(active.iter().filter(|p| is_ready(p)));
    let terminating = count(pods.iter().filter(|p| is_terminating(p)));
    let tracked = |pod: &&&Pod| has_tracking_finalizer(pod) && !removed.contains(uid(pod));
    let new_succeeded: Vec<&Pod> = pods
        .iter()
        .filter(tracked)
        .filter(|p| pods::phase(p) == "Succeeded" && !uncounted_succeeded.contains(uid(p)))
        .copied()
        .collect();
    let new_failed: Vec<&Pod> = pods
        .iter()
        .filter(tracked)
        .filter(|p| is_failed(p, job) && !uncounted_failed.contains(uid(p)))
        .copied()
        .collect();
    let mut succeeded = status.succeeded.unwrap_or(0)
        + count(new_succeeded.iter())
        + count(uncounted_succeeded.iter());
    let failed = status.failed.unwrap_or(0)
        + count(new_failed.iter().filter(|p| policy::counts(job, p)))
        + count(uncounted_failed.iter());
    if status.start_time.is_none() && !is_suspended(job) {
        status.start_time = Some(Time(now));
    }
    let backoff = backoff.with_finished(&new_succeeded, &new_failed, now);

    let spec = job.spec.clone().unwrap_or_default();
    let mut requeue = None;
    let mut finish = true_condition(job, "SuccessCriteriaMet").cloned();
    if finish.is_none() {
        if let Some(target) = true_condition(job, "FailureTarget") {
            let reason = target.reason.clone().unwrap_or_default();
            let message = target.message.clone().unwrap_or_default();
            finish = Some(condition("Failed", "True", &reason, &message, now));
        } else if let Some(message) = policy::fail_job_message(job, pods) {
            finish = Some(condition(
                "FailureTarget",
                "True",
                POD_FAILURE_POLICY_REASON,
                &message,
                now,
            ));
        } else if failed > spec.backoff_limit.unwrap_or(6)
            || past_backoff_limit_on_failure(job, &active)
        {
            finish = Some(condition(
                "FailureTarget",
                "True",
                BACKOFF_REASON,
                BACKOFF_MESSAGE,
                now,
            ));
        } else if let Some(left) = deadline_left(job, &status, now) {
            if left.is_zero() {
                finish = Some(condition(
                    "FailureTarget",
                    "True",
                    DEADLINE_REASON,
                    DEADLINE_MESSAGE,
                    now,
                ));
            } else {
                requeue = Some(left);
            }
        }
    }

    let mut recorded_indexes = BTreeSet::new();
    let mut succeeded_indexes = BTreeSet::new();
    if is_indexed(job) {
        let total = spec.completions.unwrap_or(0);
        recorded_indexes = indexes::parse(status.completed_indexes.as_deref().unwrap_or(""), total);
        succeeded_indexes = recorded_indexes.clone();
        succeeded_indexes.extend(
            pods.iter()
                .filter(|p| pods::phase(p) == "Succeeded")
                .filter_map(|p| indexes::of_pod(p))
                .filter(|i| *i < total),
        );
        succeeded = count(succeeded_indexes.iter());
    }

    Assessment {
        status,
        active,
        ready,
        terminating,
        succeeded,
        backoff,
        finish,
        requeue,
        recorded_indexes,
        succeeded_indexes,
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> i32 {
    i32::try_from(items.count()).unwrap_or(i32::MAX)
}

pub(crate) fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// For `restartPolicy: OnFailure`, container restarts count against `backoffLimit`.
fn past_backoff_limit_on_failure(job: &Job, active: &[&Pod]) -> bool {
    let spec = job.spec.as_ref();
    let policy = spec
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.restart_policy.as_deref());
    if policy != Some("OnFailure") {
        return false;
    }
    let limit = spec.and_then(|s| s.backoff_limit).unwrap_or(6);
    let restarts = pods::restarts(active);
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

/// Time left before `activeDeadlineSeconds` runs out (zero once it has), when it applies.
pub(crate) fn deadline_left(job: &Job, status: &JobStatus, now: Timestamp) -> Option<Duration> {
    let seconds = job.spec.as_ref()?.active_deadline_seconds?;
    if is_suspended(job) {
        return None;
    }
    let start = status.start_time.as_ref()?.0;
    let elapsed = now.duration_since(start);
    let deadline = jiff::SignedDuration::from_secs(seconds);
    Some(if elapsed >= deadline {
        Duration::ZERO
    } else {
        (deadline - elapsed).unsigned_abs()
    })
}

/// How many pods should run now (upstream's `wantActive`).
pub(crate) fn want_active(job: &Job, active: i32, succeeded: i32) -> i32 {
    let parallelism = job.spec.as_ref().and_then(|s| s.parallelism).unwrap_or(1);
    match completions(job) {
        // Work queue: once any pod succeeded, no new ones; the rest finish on their own.
        None if succeeded > 0 => active,
        None => parallelism,
        Some(total) => (total - succeeded).clamp(0, parallelism),
    }
}

/// Active pods to delete: for Indexed Jobs those with a missing, out-of-range, duplicate or
/// already-succeeded index, then the cheapest `at_least` of the rest.
pub(crate) fn pods_to_delete<'a>(
    job: &Job,
    active: &[&'a Pod],
    succeeded_indexes: &BTreeSet<i32>,
    at_least: usize,
) -> Vec<&'a Pod> {
    let mut delete = Vec::new();
    let mut keep: Vec<&Pod> = Vec::new();
    if is_indexed(job) {
        let total = completions(job).unwrap_or(0);
        let mut seen = HashSet::new();
        let mut sorted = active.to_vec();
        sorted.sort_by_key(|p| {
            (
                indexes::of_pod(p),
                p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            )
        });
        for pod in sorted {
            match indexes::of_pod(pod) {
                Some(i) if i < total && !succeeded_indexes.contains(&i) && seen.insert(i) => {
                    keep.push(pod)
                }
                _ => delete.push(pod),
            }
        }
    } else {
        keep = active.to_vec();
    }
    let more = at_least.saturating_sub(delete.len());
    pods::deletion_order(&mut keep);
    delete.extend(keep.into_iter().take(more));
    delete
}

/// The lowest `count` indexes that have neither succeeded nor an active pod.
pub(crate) fn pending_indexes(
    job: &Job,
    active: &[&Pod],
    succeeded: &BTreeSet<i32>,
    count: usize,
) -> Vec<i32> {
    let total = completions(job).unwrap_or(0);
    let running: HashSet<i32> = active.iter().filter_map(|p| indexes::of_pod(p)).collect();
    (0..total)
        .filter(|i| !succeeded.contains(i) && !running.contains(i))
        .take(count)
        .collect()
}

/// Whether the Job has all the completions it needs and nothing left running.
pub(crate) fn is_complete(job: &Job, succeeded: i32, active: i32) -> bool {
    match completions(job) {
        None => succeeded > 0 && active == 0,
        Some(total) => succeeded >= total && active == 0,
    }
}

/// What counting finished pods needs this sync.
#[derive(Debug, Default)]
pub(crate) struct Tracking<'a> {
    /// Pods whose tracking finalizer can go, once the status records them.
    pub(crate) remove_finalizer: Vec<&'a Pod>,
    /// Whether the status must be written before the finalizers are removed.
    pub(crate) flush: bool,
}

/// Records finished pods in `status.uncountedTerminatedPods` (succeeded indexes directly
/// for Indexed Jobs) and picks the pods whose finalizer may then be removed (upstream's
/// `trackJobStatusAndRemoveFinalizers`, first half). A finishing Job counts every pod it
/// has not seen succeed as failed.
pub(crate) fn track<'a>(
    job: &Job,
    pods: &[&'a Pod],
    removed: &HashSet<String>,
    assessment: &mut Assessment<'_>,
) -> Tracking<'a> {
    let mut tracking = Tracking::default();
    let indexed = is_indexed(job);
    let total = completions(job).unwrap_or(0);
    let finishing_as_failure = assessment
        .finish
        .as_ref()
        .is_some_and(|c| c.type_ != "SuccessCriteriaMet" && c.type_ != "Complete");
    let job_gone = job.metadata.deletion_timestamp.is_some() || assessment.finish.is_some();
    let status = &mut assessment.status;
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(UncountedTerminatedPods::default);
    let mut new_indexes = Vec::new();
    for &pod in pods {
        if !has_tracking_finalizer(pod) || removed.contains(uid(pod)) {
            continue;
        }
        let failed = is_failed(pod, job);
        let succeeded = pods::phase(pod) == "Succeeded";
        if !(job_gone || succeeded || failed) {
            continue;
        }
        tracking.remove_finalizer.push(pod);
        let id = uid(pod).to_owned();
        let in_failed = uncounted.failed.iter().flatten().any(|u| *u == id);
        if succeeded && !in_failed {
            if indexed {
                if let Some(i) = indexes::of_pod(pod)
                    .filter(|i| *i < total && !assessment.recorded_indexes.contains(i))
                {
                    new_indexes.push(i);
                }
            } else if !uncounted.succeeded.iter().flatten().any(|u| *u == id) {
                uncounted.succeeded.get_or_insert_with(Vec::new).push(id);
                tracking.flush = true;
            }
        } else if (failed || finishing_as_failure) && !in_failed {
            let valid = !indexed || indexes::of_pod(pod).is_some_and(|i| i < total);
            if valid && policy::counts(job, pod) {
                uncounted.failed.get_or_insert_with(Vec::new).push(id);
                tracking.flush = true;
            }
        }
    }
    if indexed {
        let mut all = assessment.recorded_indexes.clone();
        all.extend(new_indexes);
        let text = indexes::format(&all);
        if status.completed_indexes.as_deref().unwrap_or("") != text {
            tracking.flush = true;
        }
        status.succeeded = Some(count(all.iter())).filter(|n| *n > 0);
        status.completed_indexes = (!text.is_empty()).then_some(text);
    }
    tracking
}

/// Moves pods that no longer carry the finalizer (or are gone) from
/// `uncountedTerminatedPods` into the counters; whether anything moved.
pub(crate) fn count_uncounted(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(UncountedTerminatedPods::default);
    let mut moved = false;
    let take = |list: &mut Option<Vec<String>>| {
        let mut counted = 0;
        if let Some(uids) = list.as_mut() {
            uids.retain(|u| {
                let keep = with_finalizer.contains(u);
                if !keep {
                    counted += 1;
                }
                keep
            });
            if uids.is_empty() {
                *list = None;
            }
        }
        counted
    };
    let succeeded = take(&mut uncounted.succeeded);
    let failed = take(&mut uncounted.failed);
    if succeeded > 0 {
        status.succeeded = Some(status.succeeded.unwrap_or(0) + succeeded);
        moved = true;
    }
    if failed > 0 {
        status.failed = Some(status.failed.unwrap_or(0) + failed);
        moved = true;
    }
    moved
}

/// Whether every finished pod is counted and none is still stopping, so the final
/// condition can be written.
pub(crate) fn can_finish(status: &JobStatus, terminating: i32) -> bool {
    let uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    uncounted.succeeded.unwrap_or_default().is_empty()
        && uncounted.failed.unwrap_or_default().is_empty()
        && terminating == 0
}

#[cfg(test)]
mod tests;
