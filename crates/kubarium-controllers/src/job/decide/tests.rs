//! The decisions of a Job sync, checked on hand-made Jobs and pods.

use std::collections::{BTreeSet, HashSet};

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobSpec, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::*;
use crate::job::backoff::Record;
use crate::job::pods::{TRACKING_FINALIZER, new_pod};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap()
}

fn job(completions: Option<i32>, parallelism: i32) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some("pi".into()),
            namespace: Some("default".into()),
            uid: Some("job-uid".into()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            completions,
            parallelism: Some(parallelism),
            backoff_limit: Some(1),
            completion_mode: Some("NonIndexed".into()),
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

fn indexed(completions: i32, parallelism: i32) -> Job {
    let mut job = job(Some(completions), parallelism);
    if let Some(spec) = job.spec.as_mut() {
        spec.completion_mode = Some("Indexed".into());
    }
    job
}

fn pod(job: &Job, uid: &str, phase: &str, index: Option<i32>) -> Pod {
    let mut pod = new_pod(job, index);
    pod.metadata.uid = Some(uid.into());
    pod.metadata.name = Some(format!("pi-{uid}"));
    pod.status = Some(PodStatus {
        phase: Some(phase.into()),
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: if phase == "Running" { "True" } else { "False" }.into(),
            last_transition_time: Some(Time(at(0))),
            ..PodCondition::default()
        }]),
        ..PodStatus::default()
    });
    pod
}

fn released(mut pod: Pod) -> Pod {
    pod.metadata.finalizers = Some(vec![]);
    pod
}

#[test]
fn want_active_follows_completions_and_parallelism() {
    assert_eq!(want_active(&job(Some(3), 2), 0, 0), 2);
    assert_eq!(want_active(&job(Some(3), 2), 2, 2), 1);
    assert_eq!(want_active(&job(Some(3), 2), 0, 3), 0);
    // Work queue: parallelism until the first success, then no new pods.
    assert_eq!(want_active(&job(None, 4), 0, 0), 4);
    assert_eq!(want_active(&job(None, 4), 3, 1), 3);
}

#[test]
fn completion_needs_the_completions_and_no_active_pod() {
    assert!(is_complete(&job(Some(3), 2), 3, 0));
    assert!(!is_complete(&job(Some(3), 2), 3, 1));
    assert!(!is_complete(&job(Some(3), 2), 2, 0));
    assert!(is_complete(&job(None, 2), 1, 0));
    assert!(!is_complete(&job(None, 2), 0, 0));
}

#[test]
fn finished_pods_are_counted_through_uncounted_then_released() {
    let job = job(Some(3), 2);
    let done = pod(&job, "a", "Succeeded", None);
    let running = pod(&job, "b", "Running", None);
    let pods = vec![&done, &running];
    let none = HashSet::new();
    let mut assessment = assess(&job, &pods, &none, &Record::default(), at(5));
    assert_eq!(assessment.succeeded, 1);
    assert_eq!(assessment.active.len(), 1);
    assert_eq!(assessment.ready, 1);
    assert_eq!(assessment.status.start_time, Some(Time(at(5))));
    let tracking = track(&job, &pods, &none, &mut assessment);
    assert!(tracking.flush);
    assert_eq!(tracking.remove_finalizer.len(), 1);
    let uncounted = assessment.status.uncounted_terminated_pods.clone().unwrap();
    assert_eq!(uncounted.succeeded, Some(vec!["a".to_owned()]));

    // Once the finalizer is gone the pod moves into the counter, exactly once.
    let mut status = assessment.status.clone();
    assert!(count_uncounted(
        &mut status,
        &HashSet::from(["b".to_owned()])
    ));
    assert_eq!(status.succeeded, Some(1));
    assert!(can_finish(&status, 0));
    let mut counted = job.clone();
    counted.status = Some(status);
    let done = released(done);
    let pods = vec![&done, &running];
    let assessment = assess(&counted, &pods, &none, &Record::default(), at(6));
    assert_eq!(assessment.succeeded, 1);
}

#[test]
fn a_released_pod_the_cache_still_shows_is_not_counted_again() {
    let mut job = job(Some(3), 2);
    job.status = Some(JobStatus {
        succeeded: Some(1),
        uncounted_terminated_pods: Some(UncountedTerminatedPods::default()),
        ..JobStatus::default()
    });
    let done = pod(&job, "a", "Succeeded", None);
    let pods = vec![&done];
    let released = HashSet::from(["a".to_owned()]);
    let assessment = assess(&job, &pods, &released, &Record::default(), at(5));
    assert_eq!(assessment.succeeded, 1);
}

#[test]
fn failures_past_the_backoff_limit_fail_the_job() {
    let job = job(Some(1), 1);
    let first = pod(&job, "a", "Failed", None);
    let second = pod(&job, "b", "Failed", None);
    let none = HashSet::new();
    let assessment = assess(&job, &[&first], &none, &Record::default(), at(5));
    assert!(assessment.finish.is_none());
    assert_eq!(assessment.backoff.failures_after_last_success, 1);
    assert!(!assessment.backoff.remaining(at(5)).is_zero());
    let assessment = assess(&job, &[&first, &second], &none, &Record::default(), at(5));
    let finish = assessment.finish.unwrap();
    assert_eq!(finish.type_, "FailureTarget");
    assert_eq!(finish.reason.as_deref(), Some(BACKOFF_REASON));
    assert_eq!(finish.message.as_deref(), Some(BACKOFF_MESSAGE));
}

#[test]
fn a_recorded_failure_target_becomes_failed() {
    let mut job = job(Some(1), 1);
    job.status = Some(JobStatus {
        conditions: Some(vec![condition(
            "FailureTarget",
            "True",
            DEADLINE_REASON,
            DEADLINE_MESSAGE,
            at(0),
        )]),
        ..JobStatus::default()
    });
    let assessment = assess(&job, &[], &HashSet::new(), &Record::default(), at(5));
    let finish = assessment.finish.unwrap();
    assert_eq!(finish.type_, "Failed");
    assert_eq!(finish.reason.as_deref(), Some(DEADLINE_REASON));
}

#[test]
fn the_active_deadline_requeues_then_fails() {
    let mut job = job(Some(1), 1);
    if let Some(spec) = job.spec.as_mut() {
        spec.active_deadline_seconds = Some(10);
    }
    job.status = Some(JobStatus {
        start_time: Some(Time(at(0))),
        ..JobStatus::default()
    });
    let running = pod(&job, "a", "Running", None);
    let assessment = assess(
        &job,
        &[&running],
        &HashSet::new(),
        &Record::default(),
        at(4),
    );
    assert!(assessment.finish.is_none());
    assert_eq!(assessment.requeue, Some(std::time::Duration::from_secs(6)));
    let mut assessment = assess(
        &job,
        &[&running],
        &HashSet::new(),
        &Record::default(),
        at(10),
    );
    let finish = assessment.finish.clone().unwrap();
    assert_eq!(finish.reason.as_deref(), Some(DEADLINE_REASON));
    // Every pod not seen to succeed counts as failed once the Job fails.
    let tracking = track(&job, &[&running], &HashSet::new(), &mut assessment);
    assert_eq!(tracking.remove_finalizer.len(), 1);
    let uncounted = assessment.status.uncounted_terminated_pods.unwrap();
    assert_eq!(uncounted.failed, Some(vec!["a".to_owned()]));
}

#[test]
fn a_suspended_job_does_not_start_its_clock() {
    let mut job = job(Some(1), 1);
    if let Some(spec) = job.spec.as_mut() {
        spec.suspend = Some(true);
    }
    let assessment = assess(&job, &[], &HashSet::new(), &Record::default(), at(0));
    assert_eq!(assessment.status.start_time, None);
    let mut status = JobStatus::default();
    assert!(ensure_condition(
        &mut status,
        "Suspended",
        "True",
        "JobSuspended",
        "Job suspended",
        at(0)
    ));
    assert!(!ensure_condition(
        &mut status,
        "Suspended",
        "True",
        "JobSuspended",
        "Job suspended",
        at(1)
    ));
    assert!(ensure_condition(
        &mut status,
        "Suspended",
        "False",
        "JobResumed",
        "Job resumed",
        at(2)
    ));
    let mut fresh = JobStatus::default();
    assert!(!ensure_condition(
        &mut fresh,
        "Suspended",
        "False",
        "JobResumed",
        "Job resumed",
        at(2)
    ));
}

#[test]
fn indexed_jobs_fill_the_lowest_pending_indexes() {
    let job = indexed(5, 3);
    let zero = pod(&job, "a", "Succeeded", Some(0));
    let two = pod(&job, "b", "Running", Some(2));
    let none = HashSet::new();
    let mut assessment = assess(&job, &[&zero, &two], &none, &Record::default(), at(0));
    assert_eq!(assessment.succeeded, 1);
    assert_eq!(
        pending_indexes(&job, &assessment.active, &assessment.succeeded_indexes, 2),
        vec![1, 3]
    );
    let tracking = track(&job, &[&zero, &two], &none, &mut assessment);
    assert!(tracking.flush);
    assert_eq!(assessment.status.completed_indexes.as_deref(), Some("0"));
    assert_eq!(assessment.status.succeeded, Some(1));
}

#[test]
fn indexed_jobs_delete_duplicates_and_finished_indexes() {
    let job = indexed(3, 3);
    let first = pod(&job, "a", "Running", Some(1));
    let duplicate = pod(&job, "b", "Running", Some(1));
    let done = pod(&job, "c", "Running", Some(0));
    let outside = pod(&job, "d", "Running", Some(7));
    let succeeded: BTreeSet<i32> = [0].into();
    let doomed = pods_to_delete(&job, &[&first, &duplicate, &done, &outside], &succeeded, 0);
    let mut names: Vec<&str> = doomed.iter().map(|p| uid(p)).collect();
    names.sort_unstable();
    assert_eq!(names.len(), 3);
    assert!(names.contains(&"c") && names.contains(&"d"));
}

#[test]
fn surplus_pods_are_deleted_cheapest_first() {
    let job = job(Some(10), 1);
    let running = pod(&job, "a", "Running", None);
    let pending = pod(&job, "b", "Pending", None);
    let doomed = pods_to_delete(&job, &[&running, &pending], &BTreeSet::new(), 1);
    assert_eq!(doomed.len(), 1);
    assert_eq!(uid(doomed[0]), "b");
}

#[test]
fn a_deleted_unfinished_pod_counts_as_failed() {
    let job = job(Some(1), 1);
    let mut gone = pod(&job, "a", "Running", None);
    gone.metadata.deletion_timestamp = Some(Time(at(0)));
    assert!(crate::job::pods::is_failed(&gone, &job));
    assert!(crate::job::pods::is_terminating(&gone));
    let assessment = assess(&job, &[&gone], &HashSet::new(), &Record::default(), at(1));
    assert_eq!(assessment.terminating, 1);
    assert!(assessment.active.is_empty());
    assert_eq!(
        gone.metadata.finalizers,
        Some(vec![TRACKING_FINALIZER.to_owned()])
    );
}
