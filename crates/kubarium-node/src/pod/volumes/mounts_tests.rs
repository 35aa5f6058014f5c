//! Tests of `volumeMounts` becoming bind mounts.

use k8s_openapi::api::core::v1::VolumeMount;

use super::*;

fn mount(name: &str, path: &str, sub_path: Option<&str>, read_only: Option<bool>) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        sub_path: sub_path.map(str::to_owned),
        read_only,
        ..VolumeMount::default()
    }
}

fn container(mounts: Vec<VolumeMount>) -> Container {
    Container {
        name: "app".to_owned(),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn ready(path: &Path, read_only: bool) -> Ready {
    Ready {
        host_path: path.to_path_buf(),
        read_only,
        simulated: false,
    }
}

#[test]
fn mounts_with_sub_paths_and_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let payload: Payload = [(
        "colour".to_owned(),
        File {
            data: b"blue".to_vec(),
            mode: 0o644,
        },
    )]
    .into();
    atomic::write(&config, &payload).unwrap();
    let scratch = dir.path().join("scratch");
    fs::create_dir(&scratch).unwrap();
    let prepared = Prepared::from([
        ("config".to_owned(), ready(&config, true)),
        ("scratch".to_owned(), ready(&scratch, false)),
    ]);
    let mut logs = mount("scratch", "/logs", None, None);
    logs.sub_path_expr = Some("logs/$(POD)".to_owned());
    let c = container(vec![
        mount("config", "/etc/config", None, None),
        mount("config", "/etc/colour", Some("colour"), None),
        mount("scratch", "/scratch", None, Some(true)),
        mount("scratch", "/cache", Some("cache"), None),
        logs,
    ]);
    let env = [("POD".to_owned(), "web-0".to_owned())];
    let mounts = mounts(&c, &prepared, &env).unwrap();
    let shown: Vec<String> = mounts
        .iter()
        .map(|m| {
            let host = m.host_path.strip_prefix(dir.path()).unwrap_or(&m.host_path);
            format!(
                "{} -> {}{}",
                host.display(),
                m.container_path,
                if m.read_only { " (ro)" } else { "" }
            )
        })
        .collect();
    insta::assert_snapshot!(shown.join("\n"), @r"
    config -> /etc/config (ro)
    config/colour -> /etc/colour (ro)
    scratch -> /scratch (ro)
    scratch/cache -> /cache
    scratch/logs/web-0 -> /logs
    ");
    assert!(scratch.join("cache").is_dir(), "a missing subPath is made");
    assert_eq!(fs::read_to_string(config.join("colour")).unwrap(), "blue");
}

#[test]
fn bad_mounts_are_refused_with_the_kubelets_messages() {
    let dir = tempfile::tempdir().unwrap();
    let prepared = Prepared::from([("data".to_owned(), ready(dir.path(), false))]);
    let cases = [
        (
            mount("nope", "/x", None, None),
            "cannot find volume \"nope\" to mount into container \"app\"",
        ),
        (
            mount("data", "/x", Some("/etc"), None),
            "error SubPath `/etc` must not be an absolute path",
        ),
        (
            mount("data", "/x", Some("a/../../etc"), None),
            "unable to provision SubPath `a/../../etc`: must not contain '..'",
        ),
    ];
    for (m, message) in cases {
        assert_eq!(
            mounts(&container(vec![m]), &prepared, &[]).unwrap_err(),
            message
        );
    }
    std::os::unix::fs::symlink("/etc", dir.path().join("escape")).unwrap();
    assert_eq!(
        mounts(
            &container(vec![mount("data", "/x", Some("escape"), None)]),
            &prepared,
            &[]
        )
        .unwrap_err(),
        "failed to prepare subPath for volumeMount \"data\" of container \"app\""
    );
    let mut expr = mount("data", "/x", None, None);
    expr.sub_path_expr = Some("$(MISSING)".to_owned());
    assert_eq!(
        mounts(&container(vec![expr]), &prepared, &[]).unwrap_err(),
        "missing value for MISSING"
    );
}
