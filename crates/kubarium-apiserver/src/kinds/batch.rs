//! batch/v1: Jobs and CronJobs.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::pod::default_spec;
use super::shared::{containers, images, selector};
use crate::registry::table::{AGE, NAME, col, human_duration, wide};
use crate::registry::{Column, Kind, age, table_or_none};
use crate::validation::Causes;

impl Kind for Job {
    const GENERATION: bool = true;

    fn default(&mut self) {
        let uid = self.metadata.uid.clone().unwrap_or_default();
        let name = self.metadata.name.clone().unwrap_or_default();
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        if spec.completions.is_none() && spec.parallelism.is_none() {
            spec.completions = Some(1);
            spec.parallelism = Some(1);
        }
        spec.parallelism.get_or_insert(1);
        spec.backoff_limit.get_or_insert(6);
        spec.completion_mode
            .get_or_insert_with(|| "NonIndexed".to_owned());
        spec.suspend.get_or_insert(false);
        spec.manual_selector.get_or_insert(false);
        spec.pod_replacement_policy
            .get_or_insert_with(|| "TerminatingOrFailed".to_owned());
        // The selector and labels that tie the job's pods to it, generated from its UID.
        if spec.manual_selector != Some(true) && spec.selector.is_none() && !uid.is_empty() {
            spec.selector = Some(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                    match_labels: Some(
                        [("batch.kubernetes.io/controller-uid".to_owned(), uid.clone())].into(),
                    ),
                    ..Default::default()
                },
            );
            let labels = spec
                .template
                .metadata
                .get_or_insert_with(Default::default)
                .labels
                .get_or_insert_with(Default::default);
            for (key, value) in [
                ("batch.kubernetes.io/controller-uid", &uid),
                ("batch.kubernetes.io/job-name", &name),
                ("controller-uid", &uid),
                ("job-name", &name),
            ] {
                labels
                    .entry(key.to_owned())
                    .or_insert_with(|| value.clone());
            }
        }
        if let Some(template) = spec.template.spec.as_mut() {
            default_spec(template);
        }
    }

    fn validate(&self, causes: &mut Causes) {
        let Some(spec) = &self.spec else {
            causes.required("spec", "");
            return;
        };
        causes.at_least("spec.parallelism", spec.parallelism.map(i64::from), 0);
        causes.at_least("spec.completions", spec.completions.map(i64::from), 0);
        causes.at_least("spec.backoffLimit", spec.backoff_limit.map(i64::from), 0);
        if let Some(deadline) = spec.active_deadline_seconds.filter(|d| *d <= 0) {
            causes.invalid(
                "spec.activeDeadlineSeconds",
                deadline,
                "must be greater than or equal to 1",
            );
        }
        let policy = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone());
        if !matches!(policy.as_deref(), Some("OnFailure" | "Never")) {
            causes.not_supported(
                "spec.template.spec.restartPolicy",
                policy.as_deref().unwrap_or(""),
                &["OnFailure", "Never"],
            );
        }
        match &spec.template.spec {
            Some(pod) => super::pod::validate_spec(pod, "spec.template.spec", causes),
            None => causes.required("spec.template.spec", ""),
        }
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        if let (Some(new), Some(old)) = (&self.spec, &old.spec) {
            causes.immutable("spec.selector", &new.selector, &old.selector);
            causes.immutable("spec.completions", &new.completions, &old.completions);
            causes.immutable(
                "spec.completionMode",
                &new.completion_mode,
                &old.completion_mode,
            );
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col("Status", "string", "Status of the job."),
            col("Completions", "string", "The completion status of the job."),
            col("Duration", "string", "Time required to complete the job."),
            AGE,
            wide(
                "Containers",
                "string",
                "Names of each container in the template.",
            ),
            wide(
                "Images",
                "string",
                "Images referenced by each container in the template.",
            ),
            wide("Selector", "string", "Equality based selector of the job."),
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let succeeded = status.succeeded.unwrap_or(0);
        let completions = match spec.completions {
            Some(c) => format!("{succeeded}/{c}"),
            None => format!("{succeeded}/1 of {}", spec.parallelism.unwrap_or(1)),
        };
        let condition = |kind: &str| {
            status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == kind && c.status == "True")
        };
        let state = if condition("Complete") {
            "Complete"
        } else if condition("Failed") {
            "Failed"
        } else if self.metadata.deletion_timestamp.is_some() {
            "Terminating"
        } else if condition("SuccessCriteriaMet") {
            "SuccessCriteriaMet"
        } else if condition("FailureTarget") {
            "FailureTarget"
        } else if spec.suspend == Some(true) {
            "Suspended"
        } else {
            "Running"
        };
        let duration = match (&status.start_time, &status.completion_time) {
            (Some(start), Some(end)) => human_duration(end.0.as_second() - start.0.as_second()),
            (Some(start), None) => human_duration(now.as_second() - start.0.as_second()),
            _ => String::new(),
        };
        vec![
            Value::from(state),
            Value::from(completions),
            Value::from(duration),
            age(self.metadata.creation_timestamp.as_ref(), now),
            containers(spec.template.spec.as_ref()),
            images(spec.template.spec.as_ref()),
            selector(spec.selector.as_ref()),
        ]
    }

    fn selectable_fields() -> &'static [(&'static str, &'static str)] {
        &[("status.successful", "status.succeeded")]
    }
}

impl Kind for CronJob {
    const GENERATION: bool = true;

    fn default(&mut self) {
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        spec.concurrency_policy
            .get_or_insert_with(|| "Allow".to_owned());
        spec.suspend.get_or_insert(false);
        spec.successful_jobs_history_limit.get_or_insert(3);
        spec.failed_jobs_history_limit.get_or_insert(1);
        if let Some(template) = spec
            .job_template
            .spec
            .as_mut()
            .and_then(|j| j.template.spec.as_mut())
        {
            default_spec(template);
        }
    }

    fn validate(&self, causes: &mut Causes) {
        let Some(spec) = &self.spec else {
            causes.required("spec", "");
            return;
        };
        if spec.schedule.trim().is_empty() {
            causes.required("spec.schedule", "");
        } else if !valid_schedule(&spec.schedule) {
            causes.invalid("spec.schedule", &spec.schedule, "unparseable cron schedule: expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @hourly");
        }
        causes.one_of(
            "spec.concurrencyPolicy",
            spec.concurrency_policy.as_deref(),
            &["Allow", "Forbid", "Replace"],
        );
        let policy = spec
            .job_template
            .spec
            .as_ref()
            .and_then(|j| j.template.spec.as_ref())
            .and_then(|s| s.restart_policy.clone());
        if !matches!(policy.as_deref(), Some("OnFailure" | "Never")) {
            causes.not_supported(
                "spec.jobTemplate.spec.template.spec.restartPolicy",
                policy.as_deref().unwrap_or(""),
                &["OnFailure", "Never"],
            );
        }
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Schedule",
                "string",
                "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
            ),
            col(
                "Timezone",
                "string",
                "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.",
            ),
            col(
                "Suspend",
                "boolean",
                "This flag tells the controller to suspend subsequent executions.",
            ),
            col(
                "Active",
                "integer",
                "A list of pointers to currently running jobs.",
            ),
            col(
                "Last Schedule",
                "string",
                "Information when was the last time the job was successfully scheduled.",
            ),
            AGE,
            wide(
                "Containers",
                "string",
                "Names of each container in the template.",
            ),
            wide(
                "Images",
                "string",
                "Images referenced by each container in the template.",
            ),
            wide("Selector", "string", "Label selector for pods."),
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let job = spec.job_template.spec.clone().unwrap_or_default();
        vec![
            Value::from(spec.schedule.clone()),
            table_or_none(spec.time_zone.clone().unwrap_or_default()),
            Value::from(spec.suspend.unwrap_or(false)),
            Value::from(status.active.as_ref().map_or(0, Vec::len)),
            match &status.last_schedule_time {
                Some(t) => Value::from(human_duration(now.as_second() - t.0.as_second())),
                None => Value::from("<none>"),
            },
            age(self.metadata.creation_timestamp.as_ref(), now),
            containers(job.template.spec.as_ref()),
            images(job.template.spec.as_ref()),
            selector(job.selector.as_ref()),
        ]
    }
}

/// Whether `schedule` is a five-field cron expression or a macro.
pub(crate) fn valid_schedule(schedule: &str) -> bool {
    let schedule = schedule.trim();
    let schedule = schedule
        .strip_prefix("TZ=")
        .or_else(|| schedule.strip_prefix("CRON_TZ="))
        .map_or(schedule, |rest| rest.split_once(' ').map_or("", |(_, s)| s));
    if matches!(
        schedule,
        "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly"
    ) {
        return true;
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    fields.len() == 5
        && fields.iter().all(|f| {
            f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-' | '?'))
        })
}

#[cfg(test)]
mod tests {
    use super::valid_schedule;

    #[test]
    fn schedules() {
        assert!(valid_schedule("*/5 * * * *"));
        assert!(valid_schedule("0 3 * * MON-FRI"));
        assert!(valid_schedule("@hourly"));
        assert!(valid_schedule("CRON_TZ=UTC 0 * * * *"));
        assert!(!valid_schedule("every minute"));
        assert!(!valid_schedule("* * *"));
    }
}
