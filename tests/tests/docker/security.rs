//! A pod's `securityContext` on Docker: `runAsUser`/`runAsGroup`, and `fsGroup` with
//! `supplementalGroups` as the kubelet applies them — every container gets the groups, and
//! the volumes the node writes (emptyDir on disk and in memory, a secret's files) are of
//! the `fsGroup`, group-accessible, their directories setgid so new files join the group.
//! The container reports what it sees in its log.

use crate::support::{BUSYBOX, Docker, wait_pod};

#[tokio::test]
async fn fs_group_owns_the_pods_volumes_and_every_container_has_it() {
    let cluster = Docker::start_with_images(1, &[]).await;
    // Each line: what was looked at, then what was seen.
    let script = [
        "echo \"ids $(id -u) $(id -g) $(id -G)\"",
        "touch /data/new && echo \"disk $(stat -c '%g %a' /data) $(stat -c %g /data/new)\"",
        "touch /memory/new && echo \"memory $(stat -c '%g %a' /memory) $(stat -c %g /memory/new)\"",
        "echo \"secret $(cat /creds/token) $(stat -L -c '%g %a' /creds/token)\"",
        "echo done",
        "sleep 3600",
    ]
    .join("; ");
    cluster.apply(&format!(
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  token: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: grouped
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    supplementalGroups: [4000]
  containers:
  - name: main
    image: {BUSYBOX}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", {script}]
    volumeMounts:
    - {{name: data, mountPath: /data}}
    - {{name: memory, mountPath: /memory}}
    - {{name: creds, mountPath: /creds}}
  volumes:
  - {{name: data, emptyDir: {{}}}}
  - {{name: memory, emptyDir: {{medium: Memory}}}}
  - {{name: creds, secret: {{secretName: creds, defaultMode: 0400}}}}
"#,
        script = serde_json::to_string(&script).unwrap()
    ));
    wait_pod(&cluster.client, "grouped", "the pod to run", |pod| {
        pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    let log = crate::support::eventually("the container's report", || async {
        let log = cluster.kubectl(&["logs", "grouped"]);
        log.contains("done").then_some(log)
    })
    .await;
    let line = |what: &str| -> Vec<String> {
        let line = log
            .lines()
            .find(|l| l.starts_with(&format!("{what} ")))
            .unwrap_or_else(|| panic!("no {what} line in {log:?}"));
        line.split_whitespace().skip(1).map(str::to_owned).collect()
    };
    let ids = line("ids");
    assert_eq!(ids[..2], ["1000", "3000"], "{log}");
    for group in ["2000", "4000"] {
        assert!(ids[2..].iter().any(|g| g == group), "group {group}: {log}");
    }
    // An emptyDir: group 2000, group-writable and setgid, so the file made is of it too.
    assert_eq!(line("disk"), ["2000", "2777", "2000"], "{log}");
    assert_eq!(line("memory"), ["2000", "3777", "2000"], "{log}");
    // A secret's file with mode 0400: of group 2000 with group read added, so user 1000
    // reads it.
    assert_eq!(line("secret"), ["s3cret", "2000", "440"], "{log}");
}
