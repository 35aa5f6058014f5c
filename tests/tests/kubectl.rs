//! kubectl against `kubariumd --runtime hollow`: every served kind created, read, described,
//! labelled, annotated, patched, edited, applied (client- and server-side) and deleted, by
//! the kubectl on PATH and by the oldest one installed beside it.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kubarium_tests::daemon::Daemon;
use kubarium_tests::{kubectl, kubectls, wait_until};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/every-kind.yaml");

/// (kind as kubectl names it, name, namespace) of every object in the fixture.
fn objects() -> Vec<(String, String, Option<String>)> {
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    text.split("\n---")
        .map(|doc| {
            let value: serde_json::Value = serde_saphyr::from_str(doc).unwrap();
            let kind = value["kind"].as_str().unwrap().to_lowercase();
            let group = value["apiVersion"]
                .as_str()
                .unwrap()
                .split_once('/')
                .map(|(g, _)| g.to_owned());
            let kind = match group {
                // Disambiguate the two Event kinds.
                Some(group) if kind == "event" => format!("{kind}.{group}"),
                _ => kind,
            };
            let name = value["metadata"]["name"].as_str().unwrap().to_owned();
            let namespace = value["metadata"]["namespace"].as_str().map(str::to_owned);
            (kind, name, namespace)
        })
        .collect()
}

/// Runs kubectl, returning (success, stdout, stderr).
fn try_kubectl(
    kubectl: &Path,
    kubeconfig: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let output = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn scoped<'a>(args: &[&'a str], namespace: &'a Option<String>) -> Vec<&'a str> {
    let mut all = args.to_vec();
    if let Some(ns) = namespace {
        all.extend(["-n", ns.as_str()]);
    }
    all
}

fn every_kind_round_trips(kubectl_bin: PathBuf) {
    let daemon = Daemon::start_on_free_port();
    let kc = daemon.kubeconfig();
    let run = |args: &[&str]| kubectl(&kubectl_bin, &kc, args);
    let who = kubectl_bin.display().to_string();

    let resources = run(&["api-resources"]);
    for expected in [
        "deployments",
        "deploy",
        "statefulsets",
        "sts",
        "pods",
        "po",
        "configmaps",
        "cm",
        "ingresses",
        "ing",
    ] {
        assert!(
            resources.split_whitespace().any(|w| w == expected),
            "{who}: api-resources lacks {expected}:\n{resources}"
        );
    }
    // The system PriorityClasses, with the columns of upstream's printer.
    let classes = run(&["get", "priorityclasses"]);
    let mut lines = classes
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>());
    assert_eq!(
        lines.next().unwrap_or_default(),
        ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"],
        "{who}: {classes}"
    );
    assert!(
        lines.any(
            |l| l.starts_with(&["system-node-critical", "2000001000", "false"])
                && l.last() == Some(&"PreemptLowerPriority")
        ),
        "{who}: {classes}"
    );
    let explained = run(&["explain", "deployment.spec"]);
    assert!(
        explained.contains("replicas") && explained.contains("template"),
        "{who}: {explained}"
    );

    // An editor for `kubectl edit` that flips one label, as a person would.
    let editor = std::env::temp_dir().join(format!(
        "kubarium-editor-{}-{}",
        std::process::id(),
        kubectl_bin.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/edited: \"no\"/edited: \"yes\"/; s/edited: no$/edited: yes/' \"$1\"\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&editor).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let editor = editor.to_string_lossy().into_owned();

    let objects = objects();
    let first = run(&["apply", "-f", FIXTURE]);
    assert_eq!(
        first.lines().filter(|l| l.ends_with(" created")).count(),
        objects.len(),
        "{who}:\n{first}"
    );
    let second = run(&["apply", "-f", FIXTURE]);
    assert_eq!(
        second.lines().filter(|l| l.ends_with(" unchanged")).count(),
        objects.len(),
        "{who}:\n{second}"
    );

    for (kind, name, namespace) in &objects {
        let target = format!("{kind}/{name}");
        let json: serde_json::Value =
            serde_json::from_str(&run(&scoped(&["get", &target, "-o", "json"], namespace)))
                .unwrap();
        assert_eq!(json["metadata"]["name"], name.as_str(), "{who}: {target}");
        assert!(
            json["metadata"]["uid"]
                .as_str()
                .is_some_and(|u| u.len() == 36),
            "{who}: {target} has a uid"
        );
        run(&scoped(&["describe", &target], namespace));
        run(&scoped(
            &["label", &target, "edited=no", "checked=yes"],
            namespace,
        ));
        run(&scoped(&["annotate", &target, "note=hello"], namespace));
        run(&scoped(
            &[
                "patch",
                &target,
                "--type=merge",
                "-p",
                r#"{"metadata":{"labels":{"patched":"yes"}}}"#,
            ],
            namespace,
        ));
        let (ok, _, err) = try_kubectl(
            &kubectl_bin,
            &kc,
            &scoped(&["edit", &target], namespace),
            &[("KUBE_EDITOR", editor.as_str())],
        );
        assert!(ok, "{who}: edit {target}: {err}");
        let labels = run(&scoped(
            &[
                "get",
                &target,
                "-o",
                "jsonpath={.metadata.labels.checked} {.metadata.labels.patched} {.metadata.labels.edited} {.metadata.annotations.note}",
            ],
            namespace,
        ));
        assert_eq!(labels, "yes yes yes hello", "{who}: {target}");
    }

    let wide = run(&["get", "deployments", "-n", "shop", "-o", "wide"]);
    assert!(
        wide.starts_with("NAME")
            && wide.contains("READY")
            && wide.contains("CONTAINERS")
            && wide.contains("SELECTOR"),
        "{who}:\n{wide}"
    );
    let pods = run(&["get", "pods", "-n", "shop"]);
    let header: Vec<&str> = pods.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{who}"
    );
    assert!(run(&["get", "deploy", "web", "-n", "shop", "-o", "yaml"]).contains("replicas: 2"));
    assert_eq!(
        run(&[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "kubarium/demo:1"
    );
    let all = run(&["get", "all", "-n", "shop"]);
    for kind in [
        "pod/standalone",
        "service/web",
        "deployment.apps/web",
        "statefulset.apps/db",
        "daemonset.apps/agent",
        "job.batch/migrate",
        "cronjob.batch/report",
    ] {
        assert!(all.contains(kind), "{who}: get all lacks {kind}:\n{all}");
    }

    let ssa = run(&["apply", "--server-side", "-f", FIXTURE]);
    assert_eq!(
        ssa.lines()
            .filter(|l| l.ends_with(" serverside-applied"))
            .count(),
        objects.len(),
        "{who}:\n{ssa}"
    );

    // get -w sees a change as it happens.
    let mut watch = Command::new(&kubectl_bin)
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["get", "configmaps", "-n", "shop", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    wait_until(
        "the watch to list settings",
        Duration::from_secs(20),
        || {
            rx.try_iter()
                .any(|l| l == "configmap/settings")
                .then_some(())
        },
    );
    run(&[
        "create",
        "configmap",
        "watched",
        "-n",
        "shop",
        "--from-literal=k=v",
    ]);
    wait_until(
        "the watch to report the new configmap",
        Duration::from_secs(20),
        || {
            rx.try_iter()
                .any(|l| l == "configmap/watched")
                .then_some(())
        },
    );
    let _ = watch.kill();
    let _ = watch.wait();

    // Invalid manifests are refused with the field named.
    let bad = std::env::temp_dir().join(format!("kubarium-bad-{}.yaml", std::process::id()));
    std::fs::write(&bad, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad, namespace: shop}\nspec:\n  replicas: -1\n  selector: {matchLabels: {app: bad}}\n  template:\n    metadata: {labels: {app: bad}}\n    spec: {containers: [{name: c, image: i}]}\n").unwrap();
    let (ok, _, err) = try_kubectl(
        &kubectl_bin,
        &kc,
        &["apply", "-f", bad.to_str().unwrap()],
        &[],
    );
    assert!(
        !ok && err.contains("spec.replicas") && err.contains("greater than or equal to 0"),
        "{who}: {err}"
    );
    std::fs::write(&bad, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: strict, namespace: shop}\ndata: {a: b}\nbogus: 1\n").unwrap();
    let (ok, _, err) = try_kubectl(
        &kubectl_bin,
        &kc,
        &["apply", "-f", bad.to_str().unwrap()],
        &[],
    );
    assert!(
        !ok && err.contains("bogus"),
        "{who}: unknown fields are refused by name: {err}"
    );
    let _ = std::fs::remove_file(&bad);

    for (kind, name, namespace) in objects.iter().rev() {
        let target = format!("{kind}/{name}");
        // Namespaces finish deleting once emptied, which the namespace controller does.
        let wait = if kind == "namespace" {
            "--wait=false"
        } else {
            "--wait=true"
        };
        run(&scoped(&["delete", &target, wait], namespace));
        if kind != "namespace" {
            let (ok, _, err) = try_kubectl(
                &kubectl_bin,
                &kc,
                &scoped(&["get", &target], namespace),
                &[],
            );
            assert!(
                !ok && err.contains("NotFound"),
                "{who}: {target} still there: {err}"
            );
        }
    }
}

#[test]
fn every_kind_round_trips_with_the_kubectl_on_path() {
    every_kind_round_trips(kubectls().remove(0));
}

#[test]
fn every_kind_round_trips_with_the_oldest_kubectl() {
    let oldest = kubectls().pop().unwrap();
    every_kind_round_trips(oldest);
}

/// kubectl's own generators send protobuf: they work too.
#[test]
fn imperative_creates_work() {
    let daemon = Daemon::start_on_free_port();
    let kc = daemon.kubeconfig();
    for kubectl_bin in kubectls() {
        let run = |args: &[&str]| kubectl(&kubectl_bin, &kc, args);
        let ns = format!(
            "imp-{}",
            kubectl_bin
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace('.', "-")
        );
        run(&["create", "namespace", &ns]);
        run(&[
            "create",
            "deployment",
            "web",
            "--image=kubarium/demo:1",
            "--replicas=0",
            "-n",
            &ns,
        ]);
        run(&["create", "configmap", "c", "--from-literal=a=b", "-n", &ns]);
        run(&[
            "create",
            "secret",
            "generic",
            "s",
            "--from-literal=password=p",
            "-n",
            &ns,
        ]);
        run(&[
            "create",
            "service",
            "nodeport",
            "np",
            "--tcp=80:8080",
            "-n",
            &ns,
        ]);
        run(&["create", "job", "j", "--image=kubarium/demo:1", "-n", &ns]);
        run(&[
            "create",
            "cronjob",
            "cj",
            "--image=kubarium/demo:1",
            "--schedule=*/5 * * * *",
            "-n",
            &ns,
        ]);
        run(&["create", "serviceaccount", "bot", "-n", &ns]);
        run(&["scale", "deployment", "web", "--replicas=3", "-n", &ns]);
        assert_eq!(
            run(&[
                "get",
                "deploy",
                "web",
                "-n",
                &ns,
                "-o",
                "jsonpath={.spec.replicas}"
            ]),
            "3"
        );
        let port: i64 = run(&[
            "get",
            "svc",
            "np",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ])
        .parse()
        .unwrap();
        assert!((30000..=32767).contains(&port));
        assert_eq!(run(&["auth", "can-i", "create", "pods"]).trim(), "yes");
        let token = run(&["create", "token", "bot", "-n", &ns]);
        let (ok, out, err) = try_kubectl(
            &kubectl_bin,
            &kc,
            &[
                "--token",
                token.trim(),
                "get",
                "configmap",
                "c",
                "-n",
                &ns,
                "-o",
                "name",
            ],
            &[],
        );
        assert!(
            ok && out.trim() == "configmap/c",
            "the service account token works: {err}"
        );
    }
}
