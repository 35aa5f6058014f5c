//! The Job controller, as kube-controller-manager's `job-controller`: runs a Job's pods to
//! `completions` (or, without completions, until one succeeds) at most `parallelism` at a
//! time, NonIndexed or Indexed; replaces failed pods after upstream's backoff until
//! `backoffLimit`; stops at `activeDeadlineSeconds`; suspends and resumes; and counts every
//! finished pod exactly once through the `batch.kubernetes.io/job-tracking` finalizer and
//! `status.uncountedTerminatedPods`. A finishing Job gets the interim `SuccessCriteriaMet`
//! or `FailureTarget` condition first, then `Complete` or `Failed` once no pod is left
//! running, as in v1.33.
//!
//! The decisions are pure functions in [`decide`]; this module makes the requests.
//! [`ttl`] is the TTL-after-finished controller.

mod backoff;
mod decide;
mod indexes;
mod pods;
mod policy;
mod ttl;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::task::JoinSet;

use crate::events::Recorder;
use crate::{Context, Error, Result};
use backoff::Record;
use decide::{Assessment, condition};
use pods::{TRACKING_FINALIZER, controlled_by, has_tracking_finalizer, is_ready};

/// How long pods the controller created or deleted may take to show up in the cache
/// before it stops waiting for them (upstream's `ExpectationsTimeout`).
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

/// Sets the Job controller, its orphan-pod cleanup and the TTL-after-finished controller up
/// on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let state = Arc::new(State {
        client: ctx.client.clone(),
        jobs: ctx.informers.store::<Job>(),
        pods: ctx.informers.store::<Pod>(),
        recorder: ctx.recorder("job-controller"),
        expectations: Mutex::new(HashMap::new()),
        backoff: Mutex::new(HashMap::new()),
    });
    let controller =
        Controller::for_shared_stream(ctx.informers.subscribe::<Job>(), state.jobs.clone())
            .owns_shared_stream(ctx.informers.subscribe::<Pod>())
            .run(reconcile, error_policy, state.clone())
            .for_each(|_| std::future::ready(()));
    tasks.spawn(controller);
    let orphans = ctx
        .informers
        .subscribe::<Pod>()
        .filter(|pod| std::future::ready(has_tracking_finalizer(pod)));
    let cleanup = Controller::for_shared_stream(orphans, state.pods.clone())
        .run(release_orphan, error_policy_pod, state)
        .for_each(|_| std::future::ready(()));
    tasks.spawn(cleanup);
    ttl::start(ctx, tasks);
}

/// What the loop keeps between syncs.
struct State {
    client: Client,
    jobs: Store<Job>,
    pods: Store<Pod>,
    recorder: Recorder,
    /// Per Job UID: requests the cache has not caught up with.
    expectations: Mutex<HashMap<String, Expectations>>,
    /// Per Job UID: failures since the last success.
    backoff: Mutex<HashMap<String, Record>>,
}

/// Pods created, deleted or released that the cache may not show yet, so a sync on a stale
/// cache neither creates twice nor counts a pod twice.
#[derive(Debug, Default)]
struct Expectations {
    created: HashSet<String>,
    deleted: HashSet<String>,
    released: HashSet<String>,
    since: Option<Instant>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn error_policy(_job: Arc<Job>, error: &Error, _state: Arc<State>) -> Action {
    requeue_after_error(error)
}

fn error_policy_pod(_pod: Arc<Pod>, error: &Error, _state: Arc<State>) -> Action {
    requeue_after_error(error)
}

fn requeue_after_error(error: &Error) -> Action {
    if error.is_conflict() {
        tracing::debug!(%error, "job sync conflicted; retrying");
        Action::requeue(Duration::from_millis(200))
    } else {
        tracing::warn!(%error, "job sync failed; retrying");
        Action::requeue(Duration::from_secs(2))
    }
}

impl State {
    /// Whether the cache shows every pod this controller created and deleted for the Job,
    /// and which released pods it may still show with their finalizer.
    fn check_expectations(
        &self,
        job: &str,
        namespace: &str,
        owned: &[&Pod],
    ) -> (bool, HashSet<String>) {
        let mut all = lock(&self.expectations);
        let entry = all.entry(job.to_owned()).or_default();
        let uids: HashMap<&str, &Pod> = owned.iter().map(|p| (decide::uid(p), *p)).collect();
        entry.released.retain(|uid| {
            uids.get(uid.as_str())
                .is_some_and(|p| has_tracking_finalizer(p))
        });
        entry.created.retain(|name| {
            self.pods
                .get(&ObjectRef::new(name).within(namespace))
                .is_none()
        });
        entry.deleted.retain(|uid| {
            uids.get(uid.as_str())
                .is_some_and(|p| p.metadata.deletion_timestamp.is_none())
        });
        let waiting = !entry.created.is_empty() || !entry.deleted.is_empty();
        let expired = entry
            .since
            .is_some_and(|t| t.elapsed() > EXPECTATIONS_TIMEOUT);
        if !waiting || expired {
            entry.created.clear();
            entry.deleted.clear();
            entry.since = None;
        }
        (!waiting || expired, entry.released.clone())
    }

    fn expect(&self, job: &str, f: impl FnOnce(&mut Expectations)) {
        let mut all = lock(&self.expectations);
        let entry = all.entry(job.to_owned()).or_default();
        entry.since.get_or_insert_with(Instant::now);
        f(entry);
    }

    fn forget(&self, job: &str) {
        lock(&self.expectations).remove(job);
        lock(&self.backoff).remove(job);
    }
}

async fn reconcile(job: Arc<Job>, state: Arc<State>) -> Result<Action> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let namespace = job.namespace().unwrap_or_default();
    if decide::is_finished(&job) {
        state.forget(&uid);
        return Ok(Action::await_change());
    }
    let cached = state.pods.state();
    let owned: Vec<&Pod> = cached
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| {
            p.metadata.namespace.as_deref() == Some(namespace.as_str()) && controlled_by(p, &uid)
        })
        .collect();
    let (satisfied, released) = state.check_expectations(&uid, &namespace, &owned);
    let record = lock(&state.backoff).get(&uid).cloned().unwrap_or_default();
    let now = Timestamp::now();
    let mut assessment = decide::assess(&job, &owned, &released, &record, now);
    let mut requeue = assessment.requeue;
    let previous = job.status.clone().unwrap_or_default();
    let mut active = i32::try_from(assessment.active.len()).unwrap_or(i32::MAX);
    let mut status_changed = false;
    let mut manage_error = None;

    if assessment.finish.is_some() {
        let to_delete = assessment.active.clone();
        let (deleted, deleted_ready) = delete_pods(&state, &job, &to_delete, false).await;
        if deleted != active || !satisfied {
            assessment.finish = None;
        }
        active -= deleted;
        assessment.terminating += deleted;
        assessment.ready -= deleted_ready;
    } else {
        let mut managed = false;
        if satisfied && job.metadata.deletion_timestamp.is_none() {
            match manage(&state, &job, &assessment, now).await {
                Ok((now_active, wait)) => {
                    active = now_active;
                    requeue = shortest(requeue, wait);
                }
                Err(error) => manage_error = Some(error),
            }
            managed = true;
        }
        if decide::is_complete(&job, assessment.succeeded, active) {
            assessment.finish = Some(condition(
                "SuccessCriteriaMet",
                "True",
                decide::COMPLETIONS_REASON,
                decide::COMPLETIONS_MESSAGE,
                now,
            ));
        } else if managed {
            status_changed = suspend_condition(&state, &job, &mut assessment, now);
        }
    }
    assessment.status.active = Some(active).filter(|n| *n > 0);
    assessment.status.ready = Some(assessment.ready);
    assessment.status.terminating = Some(assessment.terminating);
    let mut flush = status_changed
        || assessment.status.active != previous.active
        || assessment.status.ready != previous.ready
        || assessment.status.terminating != previous.terminating
        || assessment.status.start_time != previous.start_time;

    // Count finished pods: record them in the status, then release their finalizers.
    let mut with_finalizer: HashSet<String> = owned
        .iter()
        .filter(|p| has_tracking_finalizer(p) && !released.contains(decide::uid(p)))
        .map(|p| decide::uid(p).to_owned())
        .collect();
    flush |= decide::count_uncounted(&mut assessment.status, &with_finalizer);
    let tracking = decide::track(&job, &owned, &released, &mut assessment);
    flush |= tracking.flush;
    let mut final_condition = None;
    if let Some(finish) = assessment.finish.take() {
        let conditions = assessment.status.conditions.get_or_insert_with(Vec::new);
        match finish.type_.as_str() {
            "FailureTarget" => {
                final_condition = Some(condition(
                    "Failed",
                    "True",
                    finish.reason.as_deref().unwrap_or_default(),
                    finish.message.as_deref().unwrap_or_default(),
                    now,
                ));
                conditions.push(finish);
                flush = true;
            }
            "SuccessCriteriaMet" => {
                final_condition = Some(condition(
                    "Complete",
                    "True",
                    finish.reason.as_deref().unwrap_or_default(),
                    finish.message.as_deref().unwrap_or_default(),
                    now,
                ));
                if !conditions.iter().any(|c| c.type_ == "SuccessCriteriaMet") {
                    conditions.push(finish);
                    flush = true;
                }
            }
            _ => final_condition = Some(finish),
        }
    }
    let mut current = (*job).clone();
    current.status = Some(assessment.status);
    if flush {
        current = write_status(&state, &current).await?;
        lock(&state.backoff).insert(uid.clone(), assessment.backoff.clone());
    }
    let released_now = release_pods(&state, &uid, &tracking.remove_finalizer).await;
    for pod_uid in &released_now {
        with_finalizer.remove(pod_uid);
    }
    let mut status = current.status.clone().unwrap_or_default();
    let mut flush = decide::count_uncounted(&mut status, &with_finalizer);
    let mut finished = None;
    if let Some(last) = final_condition
        && decide::can_finish(&status, assessment.terminating)
    {
        if last.type_ == "Complete" {
            status.completion_time = Some(Time(now));
        }
        status
            .conditions
            .get_or_insert_with(Vec::new)
            .push(last.clone());
        finished = Some(last);
        flush = true;
    }
    if flush {
        current.status = Some(status);
        write_status(&state, &current).await?;
    }
    if let Some(last) = finished {
        if last.type_ == "Complete" {
            state
                .recorder
                .normal(&*job, "Completed", "Job completed".to_owned());
        } else {
            state.recorder.warning(
                &*job,
                last.reason.as_deref().unwrap_or_default(),
                last.message.clone().unwrap_or_default(),
            );
        }
        state.forget(&uid);
        return Ok(Action::await_change());
    }
    if let Some(error) = manage_error {
        return Err(error);
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

fn shortest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Sets the `Suspended` condition to match `spec.suspend`, with upstream's events; a resumed
/// Job's `activeDeadlineSeconds` counts from now.
fn suspend_condition(
    state: &State,
    job: &Job,
    assessment: &mut Assessment<'_>,
    now: Timestamp,
) -> bool {
    let status = &mut assessment.status;
    if decide::is_suspended(job) {
        let changed = decide::ensure_condition(
            status,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
            now,
        );
        if changed {
            state
                .recorder
                .normal(job, "Suspended", "Job suspended".to_owned());
        }
        changed
    } else {
        let changed = decide::ensure_condition(
            status,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed",
            now,
        );
        if changed {
            state
                .recorder
                .normal(job, "Resumed", "Job resumed".to_owned());
            status.start_time = Some(Time(now));
        }
        changed
    }
}

/// Creates or deletes pods toward the wanted number of active ones (upstream's
/// `manageJob`). Returns the active count afterwards and, while failed pods are backing
/// off, when to come back.
async fn manage(
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
    let api = Api::<Pod>::namespaced(state.client.clone(), &namespace);
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
async fn delete_pods(state: &State, job: &Job, doomed: &[&Pod], release: bool) -> (i32, i32) {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let results = join_all(doomed.iter().map(|pod| async {
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let api = Api::<Pod>::namespaced(state.client.clone(), &namespace);
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
fn release_patch(pod: &Pod) -> Patch<serde_json::Value> {
    Patch::Strategic(json!({
        "metadata": {
            "$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER],
            "uid": pod.metadata.uid,
        }
    }))
}

/// Removes the tracking finalizer from `pods`; the UIDs it was removed from (or whose pod
/// is gone).
async fn release_pods(state: &State, job_uid: &str, pods: &[&Pod]) -> Vec<String> {
    let results = join_all(pods.iter().map(|pod| async {
        let api =
            Api::<Pod>::namespaced(state.client.clone(), &pod.namespace().unwrap_or_default());
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

async fn write_status(state: &State, job: &Job) -> Result<Job> {
    let namespace = job.namespace().unwrap_or_default();
    let name = job.name_any();
    Api::<Job>::namespaced(state.client.clone(), &namespace)
        .replace_status(&name, &PostParams::default(), job)
        .await
        .map_err(Error::api(
            "update status",
            format!("jobs {namespace}/{name}"),
        ))
}

/// Releases the tracking finalizer of a pod whose Job is gone or finished (upstream's
/// `syncOrphanPod`), so the garbage collector can delete it.
async fn release_orphan(pod: Arc<Pod>, state: Arc<State>) -> Result<Action> {
    if !has_tracking_finalizer(&pod) {
        return Ok(Action::await_change());
    }
    state.jobs.wait_until_ready().await.ok();
    let namespace = pod.namespace().unwrap_or_default();
    let owner = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    if let Some(owner) = owner {
        if owner.kind != "Job" || owner.api_version != "batch/v1" {
            return Ok(Action::await_change());
        }
        let cached = state
            .jobs
            .get(&ObjectRef::new(&owner.name).within(&namespace));
        let job = match cached {
            Some(job) => Some(job),
            None => Api::<Job>::namespaced(state.client.clone(), &namespace)
                .get_opt(&owner.name)
                .await
                .map_err(Error::api(
                    "get",
                    format!("jobs {namespace}/{}", owner.name),
                ))?
                .map(Arc::new),
        };
        let ours = job.filter(|j| j.metadata.uid.as_deref() == Some(owner.uid.as_str()));
        if ours.is_some_and(|j| !decide::is_finished(&j)) {
            return Ok(Action::await_change());
        }
    }
    let api = Api::<Pod>::namespaced(state.client.clone(), &namespace);
    match api
        .patch(
            &pod.name_any(),
            &PatchParams::default(),
            &release_patch(&pod),
        )
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(error) => Err(Error::api(
            "patch",
            format!("pods {namespace}/{}", pod.name_any()),
        )(error)),
    }
}
