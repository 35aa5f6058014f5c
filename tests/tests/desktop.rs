//! The desktop app end to end: the real window, under Xvfb, through tauri-driver.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use kubarium_tests::desktop::Desktop;
use kubarium_tests::{kubectl, kubectls, process_alive, send_signal, wait_until};

#[tokio::test]
async fn the_window_shows_the_embedded_cluster_live_and_outlives_its_window() {
    let app = Desktop::launch().await;
    assert_eq!(app.session.title().await.unwrap(), "Kubarium");

    // The status bar reports the cluster the app started in-process, with its /version.
    app.wait_for_text("status-phase", Duration::from_secs(60), |t| {
        t == "Connected"
    })
    .await;
    let version = app.text("status-version").await;
    assert!(
        version.starts_with("Kubernetes v1.33.0+kubarium."),
        "{version}"
    );
    // Home is the cluster map; the overview says where the cluster is and how to reach it.
    app.click("nav-overview").await;
    assert_eq!(
        app.text("overview-server").await,
        format!("https://{}", app.listen)
    );
    app.screenshot("overview").await;

    // The kubectl line the overview offers works against that same cluster.
    let kubeconfig = app.text("overview-kubeconfig").await;
    assert_eq!(
        app.text("overview-kubectl").await,
        format!("kubectl --kubeconfig {kubeconfig} version")
    );
    let kubectl_bin = &kubectls()[0];
    let out = kubectl(kubectl_bin.as_path(), kubeconfig.as_ref(), &["version"]);
    assert!(out.contains("Server Version: v1.33.0+kubarium."), "{out}");

    // Closing the window (as the window manager's close button does) hides it; the app and
    // its cluster keep running until Quit.
    let pid = app.app_pid();
    assert_eq!(
        kubarium_tests::x11::request_close("Kubarium"),
        1,
        "one Kubarium window"
    );
    wait_until("the window to hide", Duration::from_secs(10), || {
        (kubarium_tests::x11::visible_windows("Kubarium") == 0).then_some(())
    });
    assert!(
        process_alive(pid),
        "the app exited when its window closed; its log:\n{}",
        kubarium_tests::logs(&app.data_dir(), "kubarium")
    );
    kubectl(kubectl_bin.as_path(), kubeconfig.as_ref(), &["version"]);

    // SIGTERM quits like the tray's Quit: the cluster shuts down cleanly, then the app exits.
    send_signal(pid, "TERM");
    wait_until("the app to exit", Duration::from_secs(20), || {
        (!process_alive(pid)).then_some(())
    });
    let logs = kubarium_tests::logs(&app.data_dir(), "kubarium");
    assert!(logs.contains("cluster stopped"), "{logs}");
    assert!(logs.contains("Kubarium exited"), "{logs}");
}

/// Confirms the open dialog and waits for it to close (it stays while its request runs).
async fn confirm(app: &Desktop) {
    app.click("dialog-confirm").await;
    app.wait_count("the dialog to close", "[data-testid='dialog-confirm']", 0)
        .await;
}

/// The text of the first element matching `selector` once `ready` holds for it.
async fn wait_text(app: &Desktop, selector: &str, ready: impl Fn(&str) -> bool) -> String {
    app.wait_for(selector, Duration::from_secs(60), async |session| {
        for element in session.find_all(selector).await.ok()? {
            let text = element.text().await.ok()?;
            if ready(&text) {
                return Some(text);
            }
        }
        None
    })
    .await
}

#[tokio::test]
async fn a_deployment_lives_its_life_through_the_views() {
    use kubarium_tests::webdriver::keys;

    let app = Desktop::launch().await;
    app.wait_for_text("status-phase", Duration::from_secs(60), |t| {
        t == "Connected"
    })
    .await;
    let kubeconfig = app.data_dir().join("kubeconfig");
    let kubectl_bin = kubectls()[0].clone();
    let k = |args: &[&str]| kubectl(&kubectl_bin, &kubeconfig, args);

    // Home is the map: one panel per node, from the live watch.
    app.wait_count("three node panels", "[data-testid^='map-node-']", 3)
        .await;

    // Create a Deployment from its template: two ready replicas of the demo server.
    app.click("nav-create").await;
    app.click("create-template-deployment").await;
    app.screenshot("create").await;
    app.click("yaml-apply").await;
    wait_text(&app, "[data-testid='apply-result']", |t| {
        t.contains("created")
    })
    .await;
    app.click("nav-map").await;
    app.wait_count(
        "two ready web pods on the map",
        "[data-testid^='map-pod-web-'][data-ready='true']",
        2,
    )
    .await;
    app.screenshot("map").await;

    // Scale to 3 from the Deployment's details.
    app.click("nav-deployments").await;
    app.click_css("[data-testid='table-row-web'] button.rt-link")
        .await;
    app.element("details").await;
    app.click_css("[data-testid='details'] [data-testid='actions-menu']")
        .await;
    app.click("action-scale").await;
    app.set_input("scale-input", "3").await;
    confirm(&app).await;
    app.click("nav-map").await;
    app.wait_count(
        "three ready web pods on the map",
        "[data-testid^='map-pod-web-'][data-ready='true']",
        3,
    )
    .await;

    // A second revision by kubectl, then roll back to the first from the app.
    k(&["set", "image", "deployment/web", "web=kubarium.dev/demo:v2"]);
    k(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    app.click("nav-deployments").await;
    app.click_css("[data-testid='table-row-web'] button.rt-link")
        .await;
    app.click_css("[data-testid='details'] [data-testid='actions-menu']")
        .await;
    app.click("action-undo").await;
    app.click("revision-1").await;
    confirm(&app).await;
    let image = || {
        k(&[
            "get",
            "deployment/web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
    };
    wait_until(
        "the rollback to revision 1",
        Duration::from_secs(30),
        || (image() == "kubarium.dev/demo:v1").then_some(()),
    );

    // An invalid value in the YAML editor: the server's error shows at its field, and the
    // object is left as it was.
    app.click("details-yaml").await;
    app.click_css("[data-testid='yaml-editor'] .cm-content")
        .await;
    app.session.keys(Some(keys::CONTROL), "a").await.unwrap();
    app.session
        .keys(
            None,
            r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "kubarium.dev/demo:v1"}]}}}}"#,
        )
        .await
        .unwrap();
    app.click("yaml-apply").await;
    let error = wait_text(
        &app,
        "[data-testid='yaml-error'][data-field='spec.replicas']",
        |t| t.contains("greater than or equal to 0"),
    )
    .await;
    assert!(error.contains("-1"), "{error}");
    app.screenshot("yaml-error").await;
    assert_eq!(
        k(&["get", "deployment/web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );

    // The palette, by keyboard only: jump to the web Deployment's details.
    app.click("nav-map").await;
    app.session.keys(Some(keys::CONTROL), "k").await.unwrap();
    app.element("palette-input").await;
    app.session.keys(None, "deployment web").await.unwrap();
    app.screenshot("palette").await;
    app.session.keys(None, keys::ENTER).await.unwrap();
    wait_text(&app, "[data-testid='details'] h1", |t| t.contains("web")).await;

    // Pods leave a stopped node for the other worker: short tolerations so the taint
    // manager evicts them within seconds rather than upstream's five minutes.
    k(&[
        "patch",
        "deployment/web",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/spec/template/spec/tolerations","value":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":2},{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":2}]}]"#,
    ]);
    k(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    app.click("nav-map").await;
    let node = app
        .wait_for(
            "a web pod's tile",
            Duration::from_secs(30),
            async |session| {
                let tiles = session
                    .find_all("[data-testid^='map-pod-web-'][data-ready='true']")
                    .await
                    .ok()?;
                tiles.first()?.attribute("data-node").await.ok()?
            },
        )
        .await;
    app.click_css(&format!(
        "[data-testid='map-node-{node}'] [data-testid='actions-menu']"
    ))
    .await;
    app.click("action-stop-node").await;
    if app.count("[data-testid='dialog-confirm']").await > 0 {
        confirm(&app).await;
    }
    app.wait_count(
        "the stopped node to show NotReady",
        &format!("[data-testid='map-node-{node}'][data-ready='false']"),
        1,
    )
    .await;
    // Their replacements run elsewhere; the evicted ones stay Terminating on the stopped node
    // until it comes back, as on a real cluster (no kubelet confirms they are gone).
    app.wait_count(
        "three ready web pods on the other nodes",
        &format!("[data-testid^='map-pod-web-'][data-ready='true']:not([data-node='{node}'])"),
        3,
    )
    .await;
    app.screenshot("map-node-stopped").await;

    // The other views, for the record, in both themes.
    for theme in ["light", "dark"] {
        app.click(&format!("theme-{theme}")).await;
        for view in ["map", "topology", "events", "pods"] {
            app.click(&format!("nav-{view}")).await;
            tokio::time::sleep(Duration::from_millis(800)).await;
            app.screenshot(&format!("{view}-{theme}")).await;
        }
    }

    // Start the node again: its agent finishes the evicted pods' termination, so only the
    // three replacements are left.
    app.click("nav-map").await;
    app.click_css(&format!(
        "[data-testid='map-node-{node}'] [data-testid='actions-menu']"
    ))
    .await;
    app.click("action-start-node").await;
    if app.count("[data-testid='dialog-confirm']").await > 0 {
        confirm(&app).await;
    }
    app.wait_count(
        "the started node to show Ready",
        &format!("[data-testid='map-node-{node}'][data-ready='true']"),
        1,
    )
    .await;
    app.wait_count(
        "the evicted pods gone, three web pods left",
        "[data-testid^='map-pod-web-']",
        3,
    )
    .await;

    // Delete, confirmed, from the details page: the Deployment and its pods go.
    app.click("nav-deployments").await;
    app.click_css("[data-testid='table-row-web'] button.rt-link")
        .await;
    app.click_css("[data-testid='details'] [data-testid='actions-menu']")
        .await;
    app.click("action-delete").await;
    confirm(&app).await;
    app.element("details-deleted").await;
    app.click("nav-map").await;
    app.wait_count(
        "every web pod gone from the map",
        "[data-testid^='map-pod-web-']",
        0,
    )
    .await;
}

/// Whether any file under `dir` contains `needle`.
fn any_file_contains(dir: &std::path::Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = any_file_contains(&path, needle) {
                return Some(found);
            }
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            return Some(path);
        }
    }
    None
}

#[tokio::test]
async fn a_remote_cluster_is_imported_from_the_kubeconfig_and_shows_its_pods() {
    // The remote: a second cluster on loopback, TLS and a bearer token, with two pods of its
    // own; the app finds it through KUBECONFIG, as kubectl would.
    let remote = kubarium_tests::daemon::Daemon::start_on_free_port();
    let kubectl_bin = kubectls()[0].clone();
    let remote_kubeconfig = remote.kubeconfig();
    let r = |args: &[&str]| kubectl(&kubectl_bin, &remote_kubeconfig, args);
    r(&[
        "create",
        "deployment",
        "far",
        "--image=kubarium.dev/demo:v1",
        "--replicas=2",
    ]);
    let token = r(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.users[0].user.token}",
    ]);
    assert!(token.len() > 20, "the remote's kubeconfig has a token");

    let keyring = kubarium_tests::keyring::SecretService::start();
    let kubeconfig_env = remote_kubeconfig.display().to_string();
    let app = Desktop::launch_with_env(
        &["--runtime", "hollow"],
        &[
            ("DBUS_SESSION_BUS_ADDRESS", keyring.address.as_str()),
            ("KUBECONFIG", kubeconfig_env.as_str()),
        ],
    )
    .await;
    app.wait_for_text("status-phase", Duration::from_secs(60), |t| {
        t == "Connected"
    })
    .await;

    // Import: the default kubeconfig's current context, its token into the keychain.
    app.open_cluster_dialog().await;
    wait_text(&app, "[data-testid='keychain-store']", |t| {
        t.contains("Secret Service")
    })
    .await;
    app.read_default_kubeconfig().await;
    app.screenshot("import").await;
    app.import_kubeconfig().await;

    // Switch to it: the map shows the remote's nodes and its pods, not the local ones.
    app.switch_to_remote().await;
    app.wait_count(
        "the remote's two ready pods on the map",
        "[data-testid^='map-pod-far-'][data-ready='true']",
        2,
    )
    .await;
    // Live: a pod created on the remote by kubectl appears.
    r(&["scale", "deployment/far", "--replicas=3"]);
    app.wait_count(
        "the remote's third pod on the map",
        "[data-testid^='map-pod-far-'][data-ready='true']",
        3,
    )
    .await;
    app.screenshot("remote-map").await;

    // No credential lies in a plain file: neither the app's config dir nor its data dir
    // holds the remote's token.
    for dir in [app.config_dir(), app.data_dir()] {
        assert_eq!(
            any_file_contains(&dir, token.as_bytes()),
            None,
            "the remote's token is in a file"
        );
    }

    // Back to the local cluster: the remote's pods are gone from the map.
    app.click("cluster-switcher").await;
    app.click("cluster-option-local").await;
    app.click("nav-map").await;
    app.wait_count("the local map", "[data-testid^='map-node-']", 3)
        .await;
    app.wait_count("no remote pods", "[data-testid^='map-pod-far-']", 0)
        .await;
}

/// The lesson files the app bundles (`assets/lessons/NN-<id>.yaml`, the tour left out): each
/// lesson's id and its steps' ids and ways, in order.
fn bundled_lessons() -> Vec<(String, Vec<(String, String)>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/lessons");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "yaml") && !path.ends_with("00-tour.yaml")
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let lesson: serde_json::Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let steps = lesson["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|step| {
                    let text = |key: &str| step[key].as_str().unwrap().to_owned();
                    (text("id"), text("way"))
                })
                .collect();
            (lesson["id"].as_str().unwrap().to_owned(), steps)
        })
        .collect()
}

/// Quits the app as SIGTERM makes it and deletes the Docker cluster it leaves behind
/// (`kubariumd delete`), whatever happens in the test; dropped before the `Desktop`.
struct DockerCleanup(std::path::PathBuf);

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.0.join("kubarium.lock"))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok());
        if let Some(pid) = pid.filter(|pid| process_alive(*pid)) {
            // Not `send_signal`: a panic here, while a failed test unwinds, would abort.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            for _ in 0..600 {
                if !process_alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = std::process::Command::new(kubarium_tests::bin("kubariumd"))
            .arg("delete")
            .arg("--data-dir")
            .arg(&self.0)
            .status();
    }
}

/// How long one step's Show me may take on Docker: the Nodes lesson waits out a 20 s grace
/// period and a 10 s toleration, and a loaded machine is slow.
const STEP_WAIT: Duration = Duration::from_secs(240);

/// Waits until step `step` of the open lesson reads `data-state="done"`; a step error shown
/// meanwhile, or a timeout, fails the test with the step's checks and why each does not hold.
/// Does step `index` of the Pods lesson as its text tells the learner to: the first two by
/// applying the pre-filled YAML, the crash with the step's own button, the delete from the
/// pod's details page (opened from the lesson's map), then back to the lesson.
async fn pods_step_by_hand(app: &Desktop, index: usize, step: &str, way: &str) {
    match index {
        0 | 1 => {
            assert_eq!(way, "yaml", "pods step {step}");
            app.click(&format!("step-apply-{step}")).await;
        }
        2 => {
            assert_eq!(way, "ui", "pods step {step}");
            app.click(&format!("widget-{step}-0-run")).await;
        }
        3 => {
            assert_eq!(way, "ui", "pods step {step}");
            app.click("map-pod-web").await;
            app.click_css("[data-testid='details'] [data-testid='actions-menu']")
                .await;
            app.click("action-delete").await;
            confirm(app).await;
            app.element("details-deleted").await;
            app.click("nav-learn").await;
            app.click("lesson-pods").await;
        }
        _ => panic!("the Pods lesson has four steps; step {step} is new: teach this test it"),
    }
}

async fn wait_step_done(app: &Desktop, lesson: &str, step: &str) {
    let done = format!("[data-testid='step-{step}'][data-state='done']");
    let error = format!("[data-testid='step-error-{step}']");
    let deadline = std::time::Instant::now() + STEP_WAIT;
    loop {
        if app.count(&done).await > 0 {
            return;
        }
        let mut failure = None;
        if let Some(shown) = app.session.find_all(&error).await.unwrap().first() {
            let message = shown.text().await.unwrap_or_default();
            if !message.trim().is_empty() {
                failure = Some(format!("an error: {message}"));
            }
        }
        if failure.is_none() && std::time::Instant::now() > deadline {
            failure = Some(format!("not done after {STEP_WAIT:?}"));
        }
        if let Some(failure) = failure {
            let mut checks = Vec::new();
            let selector = format!("[data-testid^='check-{step}-']");
            for check in app.session.find_all(&selector).await.unwrap() {
                let held = check
                    .attribute("data-held")
                    .await
                    .unwrap()
                    .unwrap_or_default();
                let why = check.attribute("title").await.unwrap().unwrap_or_default();
                let label = check.text().await.unwrap_or_default();
                checks.push(format!("  {label} (held: {held}; {why})"));
            }
            let shot = app
                .screenshot(&format!("failed-learn-{lesson}-{step}"))
                .await;
            panic!(
                "lesson {lesson}, step {step}: {failure}; its checks:\n{}\nthe window: {}",
                checks.join("\n"),
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn every_lesson_completes_through_show_me() {
    let app = Desktop::launch_with(&[
        "--runtime",
        "docker",
        "--ingress-http-port",
        "0",
        "--ingress-https-port",
        "0",
    ])
    .await;
    let _cleanup = DockerCleanup(app.data_dir());
    app.wait_for_text("status-phase", Duration::from_secs(180), |t| {
        t == "Connected"
    })
    .await;
    // Learn progress lives in the webview's localStorage, which outlives a run's temporary
    // dirs: start from none, as a new user does.
    // The reload waits until the script has returned: WebDriver fails a script whose page
    // unloads under it.
    app.session
        .execute(
            "localStorage.removeItem('kubarium.learn.v1'); \
             setTimeout(() => location.reload(), 200);",
            vec![],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    app.wait_for(
        "the reloaded window connected",
        Duration::from_secs(60),
        async |session| {
            let phase = session
                .find_all("[data-testid='status-phase']")
                .await
                .ok()?;
            let text = phase.first()?.text().await.ok()?;
            (text == "Connected").then_some(())
        },
    )
    .await;
    let lessons = bundled_lessons();
    assert_eq!(lessons.len(), 9, "the nine concepts' lessons");

    // KUBARIUM_LESSONS=pods,services runs only those (when working on a lesson).
    let only = std::env::var("KUBARIUM_LESSONS").ok();
    let only: Option<Vec<&str>> = only.as_deref().map(|l| l.split(',').collect());
    for (lesson, steps) in &lessons {
        if only
            .as_ref()
            .is_some_and(|only| !only.contains(&lesson.as_str()))
        {
            continue;
        }
        app.click("nav-learn").await;
        app.click(&format!("lesson-{lesson}")).await;
        app.click("lesson-start").await;
        let started = std::time::Instant::now();
        for (index, (step, way)) in steps.iter().enumerate() {
            app.element(&format!("step-{step}")).await;
            let done = format!("[data-testid='step-{step}'][data-state='done']");
            if app.count(&done).await > 0 {
                // A step that only asks to look (`kubectl get …`) holds as soon as it is
                // active, before anything is clicked.
            } else if lesson == "pods" {
                // The Pods lesson the learner's way, as a new user would do it, with no
                // terminal: Apply, the step's button, the map and the details page.
                pods_step_by_hand(&app, index, step, way).await;
            } else {
                app.click(&format!("step-showme-{step}")).await;
            }
            wait_step_done(&app, lesson, step).await;
            // Every check of a done step was seen to hold.
            let unheld = format!("[data-testid^='check-{step}-'][data-held='false']");
            assert_eq!(
                app.count(&unheld).await,
                0,
                "lesson {lesson}: step {step} is done with checks not held"
            );
        }
        app.element("lesson-complete").await;
        if lesson == "pods" {
            // A figure for the notes, not an assertion (the machines are noisy).
            eprintln!(
                "the Pods lesson by hand, clicks and cluster only (no reading time): {:.0?}",
                started.elapsed()
            );
        }
        app.screenshot(&format!("learn-{lesson}")).await;
        app.click("nav-learn").await;
        app.element(&format!("lesson-done-{lesson}")).await;
    }
    if only.is_none() {
        app.wait_count(
            "every lesson marked done in the list",
            "[data-testid^='lesson-done-']",
            lessons.len(),
        )
        .await;
        app.screenshot("learn-all-done").await;
    }
}
