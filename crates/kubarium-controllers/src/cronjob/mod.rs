//! The CronJob controller, as kube-controller-manager's `cronjob-controller` (v2): creates
//! a Job `<cronjob>-<minutes since the epoch>` at each start time of the schedule (in
//! `timeZone`, else the controller's zone), honouring `concurrencyPolicy`,
//! `startingDeadlineSeconds`, `suspend` and the history limits; keeps `status.active`,
//! `lastScheduleTime` and `lastSuccessfulTime`; and sleeps until exactly the next start
//! time (`Action::requeue`).
//!
//! Decisions are pure functions in [`decide`]; schedules are parsed by [`schedule`].

mod decide;
mod schedule;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use tokio::task::JoinSet;

use crate::events::Recorder;
use crate::objects::Objects;
use crate::{Context, Error, Result};
use decide::Missed;
use schedule::Schedule;

/// Sets the loop up on `tasks`.
pub(crate) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let state = Arc::new(State {
        client: ctx.client.clone(),
        jobs: ctx.informers.store::<Job>(),
        recorder: ctx.recorder("cronjob-controller"),
    });
    let controller = Controller::for_shared_stream(
        ctx.informers.subscribe::<CronJob>(),
        ctx.informers.store::<CronJob>(),
    )
    .owns_shared_stream(ctx.informers.subscribe::<Job>())
    .run(reconcile, error_policy, state)
    .for_each(|_| std::future::ready(()));
    tasks.spawn(controller);
}

struct State {
    client: Client,
    jobs: Store<Job>,
    recorder: Recorder,
}

fn error_policy(_cronjob: Arc<CronJob>, error: &Error, _state: Arc<State>) -> Action {
    if error.is_conflict() {
        Action::requeue(Duration::from_millis(200))
    } else {
        tracing::warn!(%error, "cronjob sync failed; retrying");
        Action::requeue(Duration::from_secs(5))
    }
}

fn controlled_by(job: &Job, uid: &str) -> bool {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".to_owned()),
        kind: Some("Job".to_owned()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..ObjectReference::default()
    }
}

async fn reconcile(cronjob: Arc<CronJob>, state: Arc<State>) -> Result<Action> {
    let now = Timestamp::now();
    let namespace = cronjob.namespace().unwrap_or_default();
    let uid = cronjob.metadata.uid.clone().unwrap_or_default();
    let jobs_api = Objects::<Job>::namespaced(state.client.clone(), &namespace);
    let cached = state.jobs.state();
    let children: Vec<&Job> = cached
        .iter()
        .map(AsRef::as_ref)
        .filter(|j| {
            j.metadata.namespace.as_deref() == Some(namespace.as_str()) && controlled_by(j, &uid)
        })
        .collect();
    let mut status = cronjob.status.clone().unwrap_or_default();
    let mut changed = false;

    // Follow the Jobs: drop finished ones from `active`, note the latest success.
    let child_uids: HashSet<&str> = children
        .iter()
        .filter_map(|j| j.metadata.uid.as_deref())
        .collect();
    for job in &children {
        let job_uid = job.metadata.uid.as_deref().unwrap_or_default();
        let active = status.active.get_or_insert_with(Vec::new);
        let in_active = active.iter().any(|r| r.uid.as_deref() == Some(job_uid));
        match decide::finished(job) {
            None if !in_active => state.recorder.warning(
                &*cronjob,
                "UnexpectedJob",
                format!(
                    "Saw a job that the controller did not create or forgot: {}",
                    job.name_any()
                ),
            ),
            Some(condition) if in_active => {
                active.retain(|r| r.uid.as_deref() != Some(job_uid));
                state.recorder.normal(
                    &*cronjob,
                    "SawCompletedJob",
                    format!(
                        "Saw completed job: {}, condition: {condition}",
                        job.name_any()
                    ),
                );
                changed = true;
            }
            _ => {}
        }
        if decide::finished(job) == Some("Complete") {
            let completed = job.status.as_ref().and_then(|s| s.completion_time.clone());
            let later = match (&status.last_successful_time, &completed) {
                (None, _) => true,
                (Some(last), Some(done)) => done.0 > last.0,
                (Some(_), None) => false,
            };
            if later && completed.is_some() {
                status.last_successful_time = completed;
                changed = true;
            }
        }
    }
    // Active Jobs the cache does not show: gone, or just not seen yet?
    let unseen: Vec<ObjectReference> = status
        .active
        .iter()
        .flatten()
        .filter(|r| !child_uids.contains(r.uid.as_deref().unwrap_or_default()))
        .cloned()
        .collect();
    for missing in unseen {
        let name = missing.name.clone().unwrap_or_default();
        let found = jobs_api
            .get_opt(&name)
            .await
            .map_err(Error::api("get", format!("jobs {namespace}/{name}")))?;
        if found.is_none_or(|j| j.metadata.uid != missing.uid) {
            if let Some(active) = status.active.as_mut() {
                active.retain(|r| r.uid != missing.uid);
            }
            state.recorder.normal(
                &*cronjob,
                "MissingJob",
                format!("Active job went missing: {name}"),
            );
            changed = true;
        }
    }

    let mut requeue = None;
    if cronjob.metadata.deletion_timestamp.is_none() {
        requeue =
            schedule_next(&state, &cronjob, &jobs_api, &mut status, &mut changed, now).await?;
    }

    // History limits.
    for job in decide::jobs_to_prune(&cronjob, &children) {
        let name = job.name_any();
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match jobs_api.delete(&name, &params).await {
            Ok(_) => {
                state
                    .recorder
                    .normal(&*cronjob, "SuccessfulDelete", format!("Deleted job {name}"));
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(error) => {
                state
                    .recorder
                    .warning(&*cronjob, "FailedDelete", format!("Deleted job: {error}"));
                continue;
            }
        }
        if let Some(active) = status.active.as_mut() {
            let before = active.len();
            active.retain(|r| r.uid != job.metadata.uid);
            changed |= active.len() != before;
        }
    }

    if changed {
        if status.active.as_ref().is_some_and(Vec::is_empty) {
            status.active = None;
        }
        let mut updated = (*cronjob).clone();
        updated.status = Some(status);
        Objects::<CronJob>::namespaced(state.client.clone(), &namespace)
            .replace_status(&cronjob.name_any(), &PostParams::default(), &updated)
            .await
            .map_err(Error::api(
                "update status",
                format!("cronjobs {namespace}/{}", cronjob.name_any()),
            ))?;
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

/// Starts the Job that is due, if any; returns when to look again.
async fn schedule_next(
    state: &State,
    cronjob: &CronJob,
    jobs_api: &Objects<Job>,
    status: &mut k8s_openapi::api::batch::v1::CronJobStatus,
    changed: &mut bool,
    now: Timestamp,
) -> Result<Option<Duration>> {
    let spec = cronjob.spec.clone().unwrap_or_default();
    let (zone, annotation_zone) = match spec.time_zone.as_deref() {
        Some(name) => match TimeZone::get(name) {
            Ok(zone) => (zone.clone(), zone),
            Err(error) => {
                state.recorder.warning(
                    cronjob,
                    "UnknownTimeZone",
                    format!("invalid timeZone: {name:?}: {error}"),
                );
                return Ok(None);
            }
        },
        None => (TimeZone::system(), TimeZone::UTC),
    };
    if spec.time_zone.is_some() && spec.schedule.contains("TZ") {
        state.recorder.warning(
            cronjob,
            "UnsupportedSchedule",
            format!(
                "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                spec.schedule
            ),
        );
    }
    let schedule = match Schedule::parse(&spec.schedule) {
        Ok(schedule) => schedule,
        Err(error) => {
            state.recorder.warning(
                cronjob,
                "UnparseableSchedule",
                format!("unparseable schedule: {:?} : {error}", spec.schedule),
            );
            return Ok(None);
        }
    };
    if spec.suspend == Some(true) {
        return Ok(None);
    }
    let next = || decide::requeue_after(cronjob, now, &schedule, &zone);
    let scheduled = match decide::most_recent(cronjob, now, &schedule, &zone, true) {
        Err(error) => {
            state.recorder.warning(
                cronjob,
                "InvalidSchedule",
                format!("invalid schedule: {} : {error}", spec.schedule),
            );
            return Ok(None);
        }
        Ok((_, None, _)) => return Ok(next()),
        Ok((_, Some(scheduled), missed)) => {
            if missed == Missed::Many {
                state.recorder.warning(
                    cronjob,
                    "TooManyMissedTimes",
                    "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".to_owned(),
                );
            }
            scheduled
        }
    };
    if let Some(deadline) = spec.starting_deadline_seconds {
        let late = scheduled
            .checked_add(jiff::SignedDuration::from_secs(deadline))
            .is_ok_and(|cutoff| cutoff < now);
        if late {
            state.recorder.warning(
                cronjob,
                "MissSchedule",
                format!(
                    "Missed scheduled time to start a job: {}",
                    decide::rfc1123z(scheduled)
                ),
            );
            return Ok(next());
        }
    }
    let name = decide::job_name(cronjob, scheduled);
    let already = status
        .active
        .iter()
        .flatten()
        .any(|r| r.name.as_deref() == Some(name.as_str()))
        || status
            .last_schedule_time
            .as_ref()
            .is_some_and(|t| t.0 == scheduled);
    if already {
        return Ok(next());
    }
    let active = status.active.clone().unwrap_or_default();
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !active.is_empty() => {
            state.recorder.normal(
                cronjob,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid".to_owned(),
            );
            return Ok(next());
        }
        Some("Replace") => {
            for old in &active {
                let old_name = old.name.clone().unwrap_or_default();
                let params = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..DeleteParams::default()
                };
                match jobs_api.delete(&old_name, &params).await {
                    Ok(_) => state.recorder.normal(
                        cronjob,
                        "SuccessfulDelete",
                        format!("Deleted job {old_name}"),
                    ),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(error) => {
                        state.recorder.warning(
                            cronjob,
                            "FailedDelete",
                            format!("Deleted job: {error}"),
                        );
                        return Err(Error::api("delete", format!("jobs {old_name}"))(error));
                    }
                }
                if let Some(list) = status.active.as_mut() {
                    list.retain(|r| r.uid != old.uid);
                }
                *changed = true;
            }
        }
        _ => {}
    }
    let job = decide::job_for(cronjob, scheduled, &annotation_zone);
    let created = match jobs_api.create(&PostParams::default(), &job).await {
        Ok(created) => {
            state
                .recorder
                .normal(cronjob, "SuccessfulCreate", format!("Created job {name}"));
            created
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            // Created before (by an earlier sync whose status write was lost): adopt it as
            // the run for this time if it is ours.
            let existing = jobs_api
                .get(&name)
                .await
                .map_err(Error::api("get", format!("jobs {name}")))?;
            if !controlled_by(
                &existing,
                cronjob.metadata.uid.as_deref().unwrap_or_default(),
            ) {
                return Ok(next());
            }
            existing
        }
        Err(error) => {
            state.recorder.warning(
                cronjob,
                "FailedCreate",
                format!("Error creating job: {error}"),
            );
            return Err(Error::api("create", format!("jobs {name}"))(error));
        }
    };
    let list = status.active.get_or_insert_with(Vec::new);
    if !list.iter().any(|r| r.uid == created.metadata.uid) && decide::finished(&created).is_none() {
        list.push(reference(&created));
    }
    status.last_schedule_time = Some(Time(scheduled));
    *changed = true;
    Ok(next())
}
