//! What a CronJob needs, decided without API calls: which scheduled time is due (upstream's
//! `mostRecentScheduleTime` with its missed-schedule count and `startingDeadlineSeconds`),
//! when to look again, the Job for a scheduled time, and which finished Jobs the history
//! limits let go.

use std::cmp::Ordering;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::schedule::Schedule;

/// The annotation with the time a Job was scheduled for.
pub(crate) const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// More missed start times than this earn a `TooManyMissedTimes` warning.
const MANY_MISSED: i64 = 100;
/// Slack added to requeues so the loop wakes just after a scheduled time, not before.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

/// How many start times passed unmet since the CronJob last scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missed {
    None,
    Few,
    Many,
}

/// The time scheduling counts from, the latest due start time (if any) and how many were
/// missed. `with_deadline` narrows the window to `startingDeadlineSeconds`.
pub(crate) fn most_recent(
    cronjob: &CronJob,
    now: Timestamp,
    schedule: &Schedule,
    zone: &TimeZone,
    with_deadline: bool,
) -> Result<(Timestamp, Option<Timestamp>, Missed), String> {
    let status = cronjob.status.as_ref();
    let mut earliest = status
        .and_then(|s| s.last_schedule_time.as_ref())
        .or(cronjob.metadata.creation_timestamp.as_ref())
        .map_or(now, |t| t.0);
    let deadline = cronjob
        .spec
        .as_ref()
        .and_then(|s| s.starting_deadline_seconds);
    if let Some(deadline) = deadline.filter(|_| with_deadline) {
        let cutoff = now
            .checked_sub(SignedDuration::from_secs(deadline))
            .unwrap_or(now);
        if cutoff > earliest {
            earliest = cutoff;
        }
    }
    let Some(first) = schedule.next_after(earliest, zone) else {
        return Ok((earliest, None, Missed::None));
    };
    if now < first {
        return Ok((earliest, None, Missed::None));
    }
    let Some(second) = schedule.next_after(first, zone) else {
        return Ok((earliest, Some(first), Missed::None));
    };
    if now < second {
        return Ok((earliest, Some(first), Missed::None));
    }
    let between = second.duration_since(first).as_secs();
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".to_owned());
    }
    let elapsed = now.duration_since(first).as_secs();
    let missed = elapsed / between + 1;
    // Start one interval early and walk forward: irregular schedules (`30 6-16/4 * * 1-5`)
    // are not evenly spaced.
    let mut cursor = first
        .checked_add(SignedDuration::from_secs((missed - 2) * between))
        .unwrap_or(first);
    let mut latest = None;
    while let Some(t) = schedule.next_after(cursor, zone) {
        if t > now {
            break;
        }
        latest = Some(t);
        cursor = t;
    }
    let missed = if missed > MANY_MISSED {
        Missed::Many
    } else {
        Missed::Few
    };
    Ok((earliest, latest, missed))
}

/// How long until the next start time after the latest one due (or after now, when some
/// were missed and none is due), plus upstream's 100 ms of slack.
pub(crate) fn requeue_after(
    cronjob: &CronJob,
    now: Timestamp,
    schedule: &Schedule,
    zone: &TimeZone,
) -> Option<Duration> {
    let from = match most_recent(cronjob, now, schedule, zone, false) {
        Err(_) => now,
        Ok((_, Some(latest), _)) => latest,
        Ok((earliest, None, Missed::None)) => earliest,
        Ok((_, None, _)) => now,
    };
    let next = schedule.next_after(from, zone)?;
    let wait = next.duration_since(now);
    Some(
        if wait.is_negative() {
            Duration::ZERO
        } else {
            wait.unsigned_abs()
        } + NEXT_SCHEDULE_DELTA,
    )
}

/// `<cronjob>-<scheduled time in minutes since the epoch>`: one name per start time, so a
/// start time is never run twice.
pub(crate) fn job_name(cronjob: &CronJob, scheduled: Timestamp) -> String {
    format!(
        "{}-{}",
        cronjob.metadata.name.as_deref().unwrap_or_default(),
        scheduled.as_second().div_euclid(60)
    )
}

/// The Job for `scheduled`: the template's labels, annotations and spec, the scheduled
/// time annotation (RFC 3339 in the CronJob's `timeZone`, UTC without one) and the
/// controller reference.
pub(crate) fn job_for(cronjob: &CronJob, scheduled: Timestamp, annotation_zone: &TimeZone) -> Job {
    let template = cronjob
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP.to_owned(),
        rfc3339(scheduled, annotation_zone),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cronjob, scheduled)),
            namespace: cronjob.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".to_owned(),
                kind: "CronJob".to_owned(),
                name: cronjob.metadata.name.clone().unwrap_or_default(),
                uid: cronjob.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Go's `time.RFC3339`: `Z` for UTC, else the offset.
pub(crate) fn rfc3339(at: Timestamp, zone: &TimeZone) -> String {
    let zoned = at.to_zoned(zone.clone());
    if zoned.offset().seconds() == 0 {
        zoned.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// Go's `time.RFC1123Z`, in UTC, as the `MissSchedule` event writes it.
pub(crate) fn rfc1123z(at: Timestamp) -> String {
    at.to_zoned(TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S %z")
        .to_string()
}

/// The Job's finished condition type, `Complete` or `Failed`.
pub(crate) fn finished(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| matches!(c.type_.as_str(), "Complete" | "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

/// Finished Jobs beyond the history limits, oldest first (by start time, then name).
pub(crate) fn jobs_to_prune<'a>(cronjob: &CronJob, jobs: &[&'a Job]) -> Vec<&'a Job> {
    let spec = cronjob.spec.clone().unwrap_or_default();
    if spec.successful_jobs_history_limit.is_none() && spec.failed_jobs_history_limit.is_none() {
        return Vec::new();
    }
    let mut prune = Vec::new();
    for (kind, limit) in [
        ("Complete", spec.successful_jobs_history_limit),
        ("Failed", spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else { continue };
        let mut finished_jobs: Vec<&Job> = jobs
            .iter()
            .copied()
            .filter(|j| finished(j) == Some(kind))
            .collect();
        finished_jobs.sort_by(|a, b| by_start_time(a, b));
        let keep = usize::try_from(limit.max(0)).unwrap_or(0);
        let surplus = finished_jobs.len().saturating_sub(keep);
        prune.extend(finished_jobs.into_iter().take(surplus));
    }
    prune
}

fn by_start_time(a: &Job, b: &Job) -> Ordering {
    let start = |j: &Job| {
        j.status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0)
    };
    match (start(a), start(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        _ => a.metadata.name.cmp(&b.metadata.name),
    }
}

#[cfg(test)]
mod tests;
