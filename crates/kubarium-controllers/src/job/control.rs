//! The requests a Job sync makes for its pods, as upstream's `manageJob` and pod control:
//! create (slow start, 1, 2, 4, … per batch), delete, release the tracking finalizer, and
//! write the Job's status.

use std::time::Duration;

use futures_util::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::State;
use super::decide::{self, Assessment};
use super::pods::{self, TRACKING_FINALIZER, has_tracking_finalizer, is_ready};
use crate::objects::Objects;
use crate::{Error, Result};

/// Creates or deletes pods toward the wanted number of active ones (upstream's
/// `manageJob`). Returns the active count afterwards and, while failed pods are backing
/// off, when to come back.
pub(super) async fn manage(
    state: &State,
    job: &Job,
    assessment: &Assessment<'_>,
    now: Timestamp,
) -> Result<(i32, Option<Duration>)> {
    let mut active = i32::try_from(assessment.active.len()).unwrap_or(i32::MAX);
    if decide::is_suspended(job) {
        let (deleted, _) = delete_pods(state, job, &assessment.active, true).await;
        return Ok((active - deleted, None));
    }
    let want = decide::want_active(job, active, assessment.succeeded);
    let surplus = usize::try_from(active - want).unwrap_or(0);
    let mut doomed = decide::pods_to_delete(
        job,
        &assessment.active,
        &assessment.succeeded_indexes,
        surplus,
    );
    doomed.truncate(decide::MAX_PER_SYNC);
    if !doomed.is_empty() {
        let (deleted, _) = delete_pods(state, job, &doomed, true).await;
        return Ok((active - deleted, None));
    }
    let mut missing = usize::try_from(want - active).unwrap_or(0);
    // Pods are replaced only once they have failed (not while they terminate) with
    // `podReplacementPolicy: Failed` or a pod failure policy.
    let spec = job.spec.as_ref();
    if spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || spec.is_some_and(|s| s.pod_failure_policy.is_some())
    {
        missing = missing.saturating_sub(usize::try_from(assessment.terminating).unwrap_or(0));
    }
    if missing == 0 {
        return Ok((active, None));
    }
    let wait = assessment.backoff.remaining(now);
    if !wait.is_zero() {
        return Ok((active, Some(wait)));
    }
    missing = missing.min(decide::MAX_PER_SYNC);
    let slots: Vec<Option<i32>> = if decide::is_indexed(job) {
        decide::pending_indexes(
            job,
            &assessment.active,
            &assessment.succeeded_indexes,
            missing,
        )
        .into_iter()
        .map(Some)
        .collect()
    } else {
        vec![None; missing]
    };
    // Slow start, as upstream: batches of 1, 2, 4, … until one fails.
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let mut batch = 1;
    let mut rest = slots.as_slice();
    let mut failure = None;
    while !rest.is_empty() && failure.is_none() {
        let (now_batch, later) = rest.split_at(batch.min(rest.len()));
        rest = later;
        let results = join_all(now_batch.iter().map(|index| create_pod(state, job, *index))).await;
        for result in results {
            match result {
                Ok(name) => {
                    state.expect(&uid, |e| {
                        e.created.insert(name);
                    });
                    active += 1;
                }
                Err(error) => failure = Some(error),
            }
        }
        batch *= 2;
    }
    match failure {
        Some(error) => Err(error),
        None => Ok((active, None)),
    }
}

async fn create_pod(state: &State, job: &Job, index: Option<i32>) -> Result<String> {
    let namespace = job.namespace().unwrap_or_default();
    let pod = pods::new_pod(job, index);
    let api = Objects::<Pod>::namespaced(state.client.clone(), &namespace);
    match api.create(&PostParams::default(), &pod).await {
        Ok(created) => {
            let name = created.name_any();
            state
                .recorder
                .normal(job, "SuccessfulCreate", format!("Created pod: {name}"));
            Ok(name)
        }
        Err(error) => {
            state
                .recorder
                .warning(job, "FailedCreate", format!("Error creating: {error}"));
            Err(Error::api(
                "create",
                format!("pods {namespace}/ for job {}", job.name_any()),
            )(error))
        }
    }
}

/// Deletes `doomed`, releasing their finalizers first when `release` (pods removed while
/// the Job runs are not counted; those of a finishing Job are). Returns how many were
/// deleted and how many of those were ready.
pub(super) async fn delete_pods(
    state: &State,
    job: &Job,
    doomed: &[&Pod],
    release: bool,
) -> (i32, i32) {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let results = join_all(doomed.iter().map(|pod| async {
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let api = Objects::<Pod>::namespaced(state.client.clone(), &namespace);
        if release && has_tracking_finalizer(pod) {
            if let Err(error) = api
                .patch(&name, &PatchParams::default(), &release_patch(pod))
                .await
            {
                tracing::debug!(%error, pod = %name, "could not release a job's pod");
                return false;
            }
            state.expect(&uid, |e| {
                e.released.insert(decide::uid(pod).to_owned());
            });
        }
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {
                state
                    .recorder
                    .normal(job, "SuccessfulDelete", format!("Deleted pod: {name}"));
                state.expect(&uid, |e| {
                    e.deleted.insert(decide::uid(pod).to_owned());
                });
                true
            }
            Err(kube::Error::Api(status)) if status.code == 404 => true,
            Err(error) => {
                state
                    .recorder
                    .warning(job, "FailedDelete", format!("Error deleting: {error}"));
                false
            }
        }
    }))
    .await;
    let mut deleted = 0;
    let mut ready = 0;
    for (pod, ok) in doomed.iter().zip(results) {
        if ok {
            deleted += 1;
            if is_ready(pod) {
                ready += 1;
            }
        }
    }
    (deleted, ready)
}

/// Upstream's patch that drops the tracking finalizer (strategic merge, pinned to the UID).
pub(super) fn release_patch(pod: &Pod) -> Patch<serde_json::Value> {
    Patch::Strategic(json!({
        "metadata": {
            "$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER],
            "uid": pod.metadata.uid,
        }
    }))
}

/// Removes the tracking finalizer from `pods`; the UIDs it was removed from (or whose pod
/// is gone).
pub(super) async fn release_pods(state: &State, job_uid: &str, pods: &[&Pod]) -> Vec<String> {
    let results = join_all(pods.iter().map(|pod| async {
        let api =
            Objects::<Pod>::namespaced(state.client.clone(), &pod.namespace().unwrap_or_default());
        match api
            .patch(
                &pod.name_any(),
                &PatchParams::default(),
                &release_patch(pod),
            )
            .await
        {
            Ok(_) => true,
            Err(kube::Error::Api(status)) if status.code == 404 => true,
            Err(error) => {
                tracing::debug!(%error, pod = %pod.name_any(), "could not release a job's pod");
                false
            }
        }
    }))
    .await;
    let released: Vec<String> = pods
        .iter()
        .zip(results)
        .filter(|(_, ok)| *ok)
        .map(|(pod, _)| decide::uid(pod).to_owned())
        .collect();
    if !released.is_empty() {
        state.expect(job_uid, |e| e.released.extend(released.iter().cloned()));
    }
    released
}

pub(super) async fn write_status(state: &State, job: &Job) -> Result<Job> {
    let namespace = job.namespace().unwrap_or_default();
    let name = job.name_any();
    Objects::<Job>::namespaced(state.client.clone(), &namespace)
        .replace_status(&name, &PostParams::default(), job)
        .await
        .map_err(Error::api(
            "update status",
            format!("jobs {namespace}/{name}"),
        ))
}
