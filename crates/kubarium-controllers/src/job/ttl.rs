//! The TTL-after-finished controller: deletes a finished Job `ttlSecondsAfterFinished`
//! after it finished (its `Complete` or `Failed` condition), with background propagation
//! so the garbage collector removes its pods, as kube-controller-manager's
//! `ttl-after-finished-controller` does.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, Preconditions, PropagationPolicy};
use kube::runtime::controller::{Action, Controller};
use kube::{Client, ResourceExt};
use tokio::task::JoinSet;

use super::decide::finished_condition;
use crate::objects::Objects;
use crate::{Context, Error, Result};

pub(super) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let jobs = ctx.informers.subscribe::<Job>();
    let controller = Controller::for_shared_stream(jobs, ctx.informers.store::<Job>())
        .run(reconcile, error_policy, Arc::new(ctx.client.clone()))
        .for_each(|_| std::future::ready(()));
    tasks.spawn(controller);
}

fn error_policy(_job: Arc<Job>, error: &Error, _client: Arc<Client>) -> Action {
    tracing::warn!(%error, "ttl-after-finished: retrying");
    Action::requeue(Duration::from_secs(5))
}

/// How long until `job` expires: `None` if it never does (no TTL, not finished, or being
/// deleted), zero once it has.
pub(super) fn time_left(job: &Job, now: Timestamp) -> Option<Duration> {
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let finished = finished_condition(job)?;
    let at = finished
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| job.status.as_ref()?.completion_time.as_ref().map(|t| t.0))?;
    let expires = at
        .checked_add(jiff::SignedDuration::from_secs(i64::from(ttl)))
        .ok()?;
    let left = expires.duration_since(now);
    Some(if left.is_negative() {
        Duration::ZERO
    } else {
        left.unsigned_abs()
    })
}

async fn reconcile(job: Arc<Job>, client: Arc<Client>) -> Result<Action> {
    match time_left(&job, Timestamp::now()) {
        None => Ok(Action::await_change()),
        Some(left) if !left.is_zero() => Ok(Action::requeue(left)),
        Some(_) => {
            let namespace = job.namespace().unwrap_or_default();
            let name = job.name_any();
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                preconditions: Some(Preconditions {
                    uid: job.metadata.uid.clone(),
                    resource_version: job.metadata.resource_version.clone(),
                }),
                ..DeleteParams::default()
            };
            match Objects::<Job>::namespaced((*client).clone(), &namespace)
                .delete(&name, &params)
                .await
            {
                Ok(_) => Ok(Action::await_change()),
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {
                    Ok(Action::await_change())
                }
                Err(error) => Err(Error::api("delete", format!("jobs {namespace}/{name}"))(
                    error,
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn finished(at: Timestamp, ttl: Option<i32>) -> Job {
        Job {
            spec: Some(JobSpec {
                ttl_seconds_after_finished: ttl,
                ..JobSpec::default()
            }),
            status: Some(JobStatus {
                conditions: Some(vec![JobCondition {
                    type_: "Complete".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(at)),
                    ..JobCondition::default()
                }]),
                ..JobStatus::default()
            }),
            ..Job::default()
        }
    }

    #[test]
    fn expires_ttl_after_the_finish() {
        let at = Timestamp::from_second(1_700_000_000).unwrap();
        let job = finished(at, Some(30));
        let later = at.checked_add(jiff::SignedDuration::from_secs(10)).unwrap();
        assert_eq!(time_left(&job, later), Some(Duration::from_secs(20)));
        let much_later = at
            .checked_add(jiff::SignedDuration::from_secs(100))
            .unwrap();
        assert_eq!(time_left(&job, much_later), Some(Duration::ZERO));
        assert_eq!(time_left(&finished(at, None), later), None);
    }
}
