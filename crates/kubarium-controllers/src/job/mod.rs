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
mod claim;
mod control;
mod decide;
mod indexes;
mod orphans;
mod pods;
mod policy;
mod ttl;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use tokio::task::JoinSet;

use crate::events::Recorder;
use crate::informers::HasSynced;
use crate::objects::Objects;
use crate::{Context, Error, Result};
use backoff::Record;
use control::{delete_pods, manage, release_pods, write_status};
use decide::{Assessment, condition};
use orphans::release_orphan;
use pods::{controlled_by, has_tracking_finalizer};

/// How long pods the controller created or deleted may take to show up in the cache
/// before it stops waiting for them (upstream's `ExpectationsTimeout`).
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);

/// Sets the Job controller, its orphan-pod cleanup and the TTL-after-finished controller up
/// on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let state = Arc::new(State {
        client: ctx.client.clone(),
        jobs: ctx.informers.store::<Job>(),
        jobs_synced: ctx.informers.has_synced::<Job>(),
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
    // Orphaned pods are released from a plain loop over the pod stream rather than a
    // second controller on the pod cache: that one held the shared pod informer back
    // at start-up (the scheduler then never saw a pod).
    let orphans = ctx.informers.subscribe::<Pod>();
    tasks.spawn(async move {
        let mut orphans = std::pin::pin!(orphans);
        while let Some(pod) = orphans.next().await {
            if has_tracking_finalizer(&pod) {
                let state = state.clone();
                tokio::spawn(async move {
                    if let Err(error) = release_orphan(pod, state).await {
                        tracing::debug!(%error, "could not release an orphaned pod");
                    }
                });
            }
        }
    });
    ttl::start(ctx, tasks);
}

/// What the loop keeps between syncs.
struct State {
    client: Client,
    jobs: Store<Job>,
    /// Whether the Jobs are listed.
    jobs_synced: HasSynced,
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
    let in_namespace: Vec<&Pod> = cached
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .collect();
    let (adopted, released_pods) = claim_pods(&state, &job, &in_namespace).await?;
    let owned: Vec<&Pod> = in_namespace
        .iter()
        .copied()
        .filter(|p| controlled_by(p, &uid) && !released_pods.contains(decide::uid(p)))
        .chain(adopted.iter())
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

/// Adopts matching orphans and releases pods that no longer match (upstream's
/// `getPodsForJob`); the adopted pods and the UIDs of the released ones.
async fn claim_pods(
    state: &State,
    job: &Job,
    in_namespace: &[&Pod],
) -> Result<(Vec<Pod>, HashSet<String>)> {
    let (to_adopt, to_release) = claim::claims(job, in_namespace);
    let mut adopted = Vec::new();
    if !to_adopt.is_empty() {
        // Adopt only for a Job that still exists and is not being deleted, read afresh.
        let namespace = job.namespace().unwrap_or_default();
        let fresh = Objects::<Job>::namespaced(state.client.clone(), &namespace)
            .get_opt(&job.name_any())
            .await
            .map_err(Error::api(
                "get",
                format!("jobs {namespace}/{}", job.name_any()),
            ))?;
        let can_adopt = fresh.is_some_and(|f| {
            f.metadata.uid == job.metadata.uid && f.metadata.deletion_timestamp.is_none()
        });
        for pod in to_adopt.into_iter().filter(|_| can_adopt) {
            match claim::adopt(state, job, pod).await {
                Ok(pod) => adopted.push(pod),
                Err(error) => tracing::debug!(%error, "could not adopt a pod"),
            }
        }
    }
    let mut released = HashSet::new();
    for pod in to_release {
        match claim::release(state, job, pod).await {
            Ok(_) => {
                released.insert(decide::uid(pod).to_owned());
            }
            Err(error) => tracing::debug!(%error, "could not release a pod"),
        }
    }
    Ok((adopted, released))
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
