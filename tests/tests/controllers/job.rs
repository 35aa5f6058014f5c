//! Jobs and CronJobs on a hollow cluster: a Job runs to `Complete` with at most
//! `parallelism` pods at a time, a failing one stops at its backoff limit, one that runs too
//! long stops at its deadline, an Indexed one completes every index, and a CronJob makes
//! Jobs from its template (by `kubectl create job --from` and by its schedule) and prunes
//! them to its history limits.

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

use crate::support::{Hollow, SETTLE};

/// A one-node hollow cluster (its node runs pods: a single node is not tainted).
async fn cluster() -> Hollow {
    Hollow::start(1, &["--runtime", "hollow"]).await
}

fn job_yaml(name: &str, spec: &str, annotations: &str) -> String {
    format!(
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    metadata:
      annotations:
{annotations}
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl:5.34
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(20)"]
"#
    )
}

fn apply(cluster: &Hollow, yaml: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifest.yaml");
    std::fs::write(&file, yaml).unwrap();
    cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]);
}

async fn job(cluster: &Hollow, name: &str) -> Job {
    Api::<Job>::namespaced(cluster.client.clone(), "default")
        .get(name)
        .await
        .unwrap()
}

/// The (type, reason) of every condition, in order.
fn conditions(job: &Job) -> Vec<(String, String)> {
    job.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .map(|c| (c.type_.clone(), c.reason.clone().unwrap_or_default()))
        .collect()
}

/// `reason: message` of the events about `name`, oldest first.
async fn events(cluster: &Hollow, name: &str) -> Vec<String> {
    let api = Api::<Event>::namespaced(cluster.client.clone(), "default");
    let selector = format!("involvedObject.name={name}");
    let mut list = api
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items;
    list.sort_by_key(|e| e.first_timestamp.clone().map(|t| t.0));
    list.into_iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
        .collect()
}

/// Waits until the events about `name` include one starting with `prefix`.
async fn wait_for_event(cluster: &Hollow, name: &str, prefix: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let seen = events(cluster, name).await;
        if seen.iter().any(|e| e.starts_with(prefix)) {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {prefix:?} event for {name}: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn wait_for(cluster: &Hollow, condition: &str, target: &str) {
    cluster.kubectl(&[
        "wait",
        &format!("--for=condition={condition}"),
        target,
        "--timeout=60s",
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_runs_to_completion() {
    let cluster = cluster().await;
    apply(
        &cluster,
        &job_yaml("pi", "  completions: 3\n  parallelism: 2", ""),
    );
    wait_for(&cluster, "complete", "job/pi");

    let done = job(&cluster, "pi").await;
    let status = done.status.clone().unwrap();
    assert_eq!(status.succeeded, Some(3));
    assert_eq!(status.active, None);
    assert_eq!(status.failed, None);
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    assert_eq!(
        conditions(&done),
        [
            (
                "SuccessCriteriaMet".to_owned(),
                "CompletionsReached".to_owned()
            ),
            ("Complete".to_owned(), "CompletionsReached".to_owned()),
        ]
    );
    let uncounted = status.uncounted_terminated_pods.unwrap_or_default();
    assert!(uncounted.succeeded.unwrap_or_default().is_empty());

    // Three pods, each labelled, owned and released by the controller.
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default")
        .list(&ListParams::default().labels("job-name=pi"))
        .await
        .unwrap()
        .items;
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        assert!(pod.name_any().starts_with("pi-"));
        let labels = pod.labels();
        assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(
            labels["batch.kubernetes.io/controller-uid"],
            done.uid().unwrap()
        );
        let owner = &pod.owner_references()[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("Job", Some(true)));
        assert!(pod.finalizers().is_empty(), "{:?}", pod.finalizers());
    }

    let seen = wait_for_event(&cluster, "pi", "Completed").await;
    assert_eq!(
        seen.iter()
            .filter(|e| e.starts_with("SuccessfulCreate: Created pod: pi-"))
            .count(),
        3,
        "{seen:#?}"
    );
    assert_eq!(
        seen.last().map(String::as_str),
        Some("Completed: Job completed")
    );

    let table = cluster.kubectl(&["get", "job", "pi"]);
    assert!(
        table.contains("Complete") && table.contains("3/3"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_job_stops_at_its_backoff_limit() {
    let cluster = cluster().await;
    apply(
        &cluster,
        &job_yaml(
            "fails",
            "  backoffLimit: 1",
            "        hollow.kubarium.dev/exit-code: \"1\"",
        ),
    );
    // One failure, the 10 s backoff, a second failure: past the limit of one.
    wait_for(&cluster, "failed", "job/fails");
    let failed = job(&cluster, "fails").await;
    let status = failed.status.clone().unwrap();
    assert_eq!(status.failed, Some(2));
    assert_eq!(status.succeeded, None);
    assert_eq!(
        conditions(&failed),
        [
            (
                "FailureTarget".to_owned(),
                "BackoffLimitExceeded".to_owned()
            ),
            ("Failed".to_owned(), "BackoffLimitExceeded".to_owned()),
        ]
    );
    let message = status.conditions.unwrap()[1].message.clone();
    assert_eq!(
        message.as_deref(),
        Some("Job has reached the specified backoff limit")
    );
    let seen = wait_for_event(&cluster, "fails", "BackoffLimitExceeded").await;
    assert!(
        seen.contains(
            &"BackoffLimitExceeded: Job has reached the specified backoff limit".to_owned()
        ),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_stops_at_its_active_deadline() {
    let cluster = cluster().await;
    apply(
        &cluster,
        &job_yaml(
            "slow",
            "  activeDeadlineSeconds: 2",
            "        hollow.kubarium.dev/run-for: 600s",
        ),
    );
    wait_for(&cluster, "failed", "job/slow");
    let failed = job(&cluster, "slow").await;
    assert_eq!(
        conditions(&failed),
        [
            ("FailureTarget".to_owned(), "DeadlineExceeded".to_owned()),
            ("Failed".to_owned(), "DeadlineExceeded".to_owned()),
        ]
    );
    let status = failed.status.unwrap();
    assert_eq!(status.active, None);
    assert_eq!(status.failed, Some(1));
    assert_eq!(status.terminating, Some(0));
    let seen = wait_for_event(&cluster, "slow", "DeadlineExceeded").await;
    assert!(
        seen.contains(
            &"DeadlineExceeded: Job was active longer than specified deadline".to_owned()
        ),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|e| e.starts_with("SuccessfulDelete: Deleted pod: slow-")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_indexed_job_completes_every_index() {
    let cluster = cluster().await;
    apply(
        &cluster,
        &job_yaml(
            "indexed",
            "  completions: 3\n  parallelism: 3\n  completionMode: Indexed",
            "",
        ),
    );
    wait_for(&cluster, "complete", "job/indexed");
    let done = job(&cluster, "indexed").await;
    let status = done.status.unwrap();
    assert_eq!(status.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(status.succeeded, Some(3));
    let pods = Api::<Pod>::namespaced(cluster.client.clone(), "default")
        .list(&ListParams::default().labels("job-name=indexed"))
        .await
        .unwrap()
        .items;
    let mut hosts: Vec<String> = pods
        .iter()
        .map(|p| {
            let index = &p.annotations()["batch.kubernetes.io/job-completion-index"];
            assert_eq!(
                &p.labels()["batch.kubernetes.io/job-completion-index"],
                index
            );
            assert!(p.name_any().starts_with(&format!("indexed-{index}-")));
            p.spec.as_ref().unwrap().hostname.clone().unwrap()
        })
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["indexed-0", "indexed-1", "indexed-2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cronjob_fires_and_keeps_its_history() {
    let cluster = cluster().await;
    apply(
        &cluster,
        r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "* * * * *"
  suspend: true
  successfulJobsHistoryLimit: 1
  jobTemplate:
    metadata:
      labels:
        app: hello
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: hello
            image: busybox:1.28
            command: ["sh", "-c", "date; echo Hello"]
"#,
    );
    // The template path, without waiting for the schedule. Suspended meanwhile: a start
    // time passing between the two would make the history check race the schedule.
    cluster.kubectl(&["create", "job", "--from=cronjob/hello", "manual-1"]);
    wait_for(&cluster, "complete", "job/manual-1");
    cluster.kubectl(&["create", "job", "--from=cronjob/hello", "manual-2"]);
    wait_for(&cluster, "complete", "job/manual-2");
    // Only one successful Job is kept: the older goes.
    let seen = wait_for_event(&cluster, "hello", "SuccessfulDelete").await;
    assert!(
        seen.contains(&"SuccessfulDelete: Deleted job manual-1".to_owned()),
        "{seen:#?}"
    );

    // Suspended, it started nothing of its own.
    let jobs = Api::<Job>::namespaced(cluster.client.clone(), "default");
    let names: Vec<String> = jobs
        .list(&ListParams::default().labels("app=hello"))
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert!(names.iter().all(|n| n.starts_with("manual-")), "{names:?}");

    // A real start time once resumed: the missed one at once, or at most a minute away.
    cluster.kubectl(&[
        "patch",
        "cronjob/hello",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let scheduled = loop {
        let found = jobs
            .list(&ListParams::default().labels("app=hello"))
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|j| !j.name_any().starts_with("manual-"));
        if let Some(job) = found {
            break job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the CronJob never fired"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let name = scheduled.name_any();
    let minutes: i64 = name.strip_prefix("hello-").unwrap().parse().unwrap();
    let stamp = &scheduled.annotations()["batch.kubernetes.io/cronjob-scheduled-timestamp"];
    let at: k8s_openapi::jiff::Timestamp = stamp.parse().unwrap();
    assert_eq!(at.as_second(), minutes * 60);
    assert_eq!(scheduled.owner_references()[0].kind, "CronJob");

    // The status follows the Job's creation.
    let cronjobs = Api::<CronJob>::namespaced(cluster.client.clone(), "default");
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let status = cronjobs
            .get("hello")
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        if status.last_schedule_time.as_ref().map(|t| t.0) == Some(at) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lastScheduleTime never set: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = wait_for_event(&cluster, "hello", "SuccessfulCreate").await;
    assert!(
        seen.contains(&format!("SuccessfulCreate: Created job {name}")),
        "{seen:#?}"
    );

    // It completes, is seen to, and the history limit lets manual-2 go.
    wait_for(&cluster, "complete", &format!("job/{name}"));
    let seen = wait_for_event(&cluster, "hello", "SawCompletedJob").await;
    assert!(
        seen.contains(&format!(
            "SawCompletedJob: Saw completed job: {name}, condition: Complete"
        )),
        "{seen:#?}"
    );
    wait_for_event(&cluster, "hello", "SuccessfulDelete: Deleted job manual-2").await;
    let cronjob = Api::<CronJob>::namespaced(cluster.client.clone(), "default")
        .get("hello")
        .await
        .unwrap();
    assert!(cronjob.status.unwrap().last_successful_time.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_failure_policy_fails_the_job_at_once() {
    let cluster = cluster().await;
    apply(
        &cluster,
        &job_yaml(
            "policy",
            "  backoffLimit: 6\n  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes:\n        containerName: pi\n        operator: In\n        values: [42]",
            "        hollow.kubarium.dev/exit-code: \"42\"",
        ),
    );
    wait_for(&cluster, "failed", "job/policy");
    let failed = job(&cluster, "policy").await;
    assert_eq!(
        conditions(&failed),
        [
            ("FailureTarget".to_owned(), "PodFailurePolicy".to_owned()),
            ("Failed".to_owned(), "PodFailurePolicy".to_owned()),
        ]
    );
    let status = failed.status.unwrap();
    assert_eq!(status.failed, Some(1));
    let message = status.conditions.unwrap()[1].message.clone().unwrap();
    assert!(
        message.starts_with("Container pi for pod default/policy-")
            && message.ends_with("failed with exit code 42 matching FailJob rule at index 0"),
        "{message}"
    );
}
