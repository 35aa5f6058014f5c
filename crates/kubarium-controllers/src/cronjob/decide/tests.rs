//! The CronJob decisions on hand-made CronJobs.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::batch::v1::{
    CronJob, CronJobSpec, CronJobStatus, Job, JobCondition, JobStatus, JobTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn cronjob(schedule: &str, created: &str, last: Option<&str>, deadline: Option<i64>) -> CronJob {
    CronJob {
        metadata: ObjectMeta {
            name: Some("hello".into()),
            namespace: Some("default".into()),
            uid: Some("cj-uid".into()),
            creation_timestamp: Some(Time(at(created))),
            ..ObjectMeta::default()
        },
        spec: Some(CronJobSpec {
            schedule: schedule.into(),
            starting_deadline_seconds: deadline,
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(1),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some([("app".to_owned(), "hello".to_owned())].into()),
                    ..ObjectMeta::default()
                }),
                spec: None,
            },
            ..CronJobSpec::default()
        }),
        status: last.map(|l| CronJobStatus {
            last_schedule_time: Some(Time(at(l))),
            ..CronJobStatus::default()
        }),
    }
}

fn due(cj: &CronJob, now: &str) -> (Option<String>, Missed) {
    let schedule = Schedule::parse(&cj.spec.as_ref().unwrap().schedule).unwrap();
    let (_, latest, missed) = most_recent(cj, at(now), &schedule, &TimeZone::UTC, true).unwrap();
    (latest.map(|t| t.to_string()), missed)
}

#[test]
fn nothing_is_due_before_the_first_start_time() {
    let cj = cronjob("*/5 * * * *", "2025-03-01T10:01:00Z", None, None);
    assert_eq!(due(&cj, "2025-03-01T10:04:59Z"), (None, Missed::None));
    assert_eq!(
        due(&cj, "2025-03-01T10:05:00Z"),
        (Some("2025-03-01T10:05:00Z".into()), Missed::None)
    );
}

#[test]
fn the_latest_missed_start_time_is_due() {
    let cj = cronjob(
        "*/5 * * * *",
        "2025-03-01T10:01:00Z",
        Some("2025-03-01T10:05:00Z"),
        None,
    );
    assert_eq!(
        due(&cj, "2025-03-01T10:27:00Z"),
        (Some("2025-03-01T10:25:00Z".into()), Missed::Few)
    );
}

#[test]
fn irregular_schedules_find_the_right_start_time() {
    let cj = cronjob("30 6-16/4 * * 1-5", "2025-03-03T00:00:00Z", None, None);
    // Monday 06:30, 10:30, 14:30; at 15:00 the latest due is 14:30.
    assert_eq!(
        due(&cj, "2025-03-03T15:00:00Z"),
        (Some("2025-03-03T14:30:00Z".into()), Missed::Few)
    );
}

#[test]
fn too_many_missed_start_times_are_flagged() {
    let cj = cronjob("* * * * *", "2025-03-01T00:00:00Z", None, None);
    assert_eq!(
        due(&cj, "2025-03-01T10:00:30Z"),
        (Some("2025-03-01T10:00:00Z".into()), Missed::Many)
    );
    // A starting deadline narrows the window, and with it the count.
    let cj = cronjob("* * * * *", "2025-03-01T00:00:00Z", None, Some(200));
    assert_eq!(
        due(&cj, "2025-03-01T10:00:30Z"),
        (Some("2025-03-01T10:00:00Z".into()), Missed::Few)
    );
}

#[test]
fn requeues_just_after_the_next_start_time() {
    let cj = cronjob("* * * * *", "2025-03-01T10:00:10Z", None, None);
    let schedule = Schedule::parse("* * * * *").unwrap();
    let wait = requeue_after(&cj, at("2025-03-01T10:00:20Z"), &schedule, &TimeZone::UTC).unwrap();
    assert_eq!(wait, Duration::from_millis(40_100));
}

#[test]
fn jobs_are_named_by_minute_and_annotated_with_their_time() {
    let cj = cronjob("* * * * *", "2025-03-01T10:00:00Z", None, None);
    let scheduled = at("2025-03-01T10:05:00Z");
    let job = job_for(&cj, scheduled, &TimeZone::UTC);
    assert_eq!(job.metadata.name.as_deref(), Some("hello-29013725"));
    assert_eq!(
        job.metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP],
        "2025-03-01T10:05:00Z"
    );
    assert_eq!(job.metadata.labels.as_ref().unwrap()["app"], "hello");
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("CronJob", "cj-uid")
    );
    let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
    assert_eq!(rfc3339(scheduled, &tokyo), "2025-03-01T19:05:00+09:00");
    assert_eq!(rfc1123z(scheduled), "Sat, 01 Mar 2025 10:05:00 +0000");
}

fn finished_job(name: &str, kind: &str, start: &str) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(JobStatus {
            start_time: Some(Time(at(start))),
            conditions: Some(vec![JobCondition {
                type_: kind.into(),
                status: "True".into(),
                ..JobCondition::default()
            }]),
            ..JobStatus::default()
        }),
    }
}

#[test]
fn history_limits_prune_the_oldest_finished_jobs() {
    let cj = cronjob("* * * * *", "2025-03-01T10:00:00Z", None, None);
    let jobs = [
        finished_job("a", "Complete", "2025-03-01T10:01:00Z"),
        finished_job("b", "Complete", "2025-03-01T10:02:00Z"),
        finished_job("c", "Complete", "2025-03-01T10:03:00Z"),
        finished_job("d", "Complete", "2025-03-01T10:04:00Z"),
        finished_job("e", "Failed", "2025-03-01T10:05:00Z"),
        finished_job("f", "Failed", "2025-03-01T10:06:00Z"),
        Job::default(),
    ];
    let refs: Vec<&Job> = jobs.iter().collect();
    let names: Vec<&str> = jobs_to_prune(&cj, &refs)
        .iter()
        .map(|j| j.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["a", "e"]);
}
