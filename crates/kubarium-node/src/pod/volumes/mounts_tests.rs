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
        memory: None,
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
            let MountSource::Host(host_path) = &m.source else {
                panic!("a bind mount: {m:?}");
            };
            let host = host_path.strip_prefix(dir.path()).unwrap_or(host_path);
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

#[test]
fn which_pods_use_which_objects() {
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "spec": {
            "containers": [{
                "name": "app",
                "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}}],
                "envFrom": [{"configMapRef": {"name": "env-map"}}]
            }],
            "volumes": [
                {"name": "a", "configMap": {"name": "volume-map"}},
                {"name": "b", "projected": {"sources": [
                    {"secret": {"name": "projected-secret"}},
                    {"serviceAccountToken": {"path": "token"}}
                ]}}
            ]
        }
    }))
    .unwrap();
    for (secret, name) in [
        (true, "env-secret"),
        (false, "env-map"),
        (false, "volume-map"),
        (true, "projected-secret"),
    ] {
        assert!(uses(&pod, secret, name), "{name}");
        assert!(!uses(&pod, !secret, name), "{name} is the other kind");
    }
    assert!(!uses(&pod, false, "other"));
    assert!(has_tokens(&pod));
    assert!(!shows_fields(&pod));
}

#[test]
fn a_memory_empty_dir_is_mounted_whole_from_the_runtime() {
    let shm = MemoryVolume {
        name: "shm".to_owned(),
        size_bytes: Some(1 << 20),
        group: None,
    };
    let prepared = Prepared::from([(
        "shm".to_owned(),
        Ready {
            host_path: PathBuf::new(),
            read_only: false,
            simulated: false,
            memory: Some(shm.clone()),
        },
    )]);
    let c = container(vec![
        mount("shm", "/dev/shm", None, None),
        mount("shm", "/ro", None, Some(true)),
    ]);
    let mounts = mounts(&c, &prepared, &[]).unwrap();
    assert_eq!(
        mounts,
        vec![
            Mount {
                source: MountSource::Memory(shm.clone()),
                container_path: "/dev/shm".to_owned(),
                read_only: false,
            },
            Mount {
                source: MountSource::Memory(shm),
                container_path: "/ro".to_owned(),
                read_only: true,
            },
        ]
    );
    let sub = container(vec![mount("shm", "/x", Some("a"), None)]);
    assert_eq!(
        super::mounts(&sub, &prepared, &[]).unwrap_err(),
        "subPath \"a\" of volumeMount \"shm\" of container \"app\": an emptyDir with medium Memory is mounted whole on this node (Docker Engine's volumes have no sub-paths before API 1.45); mount it without subPath, or use an emptyDir on disk"
    );
}

#[test]
fn memory_empty_dirs_are_sized_as_the_kubelet_sizes_them() {
    let pod = |limits: &[Option<&str>], init: Option<&str>| -> k8s_openapi::api::core::v1::Pod {
        let resources = |limit: &Option<&str>| match limit {
            Some(l) => serde_json::json!({"limits": {"memory": l}}),
            None => serde_json::json!({}),
        };
        let containers: Vec<_> = limits
            .iter()
            .enumerate()
            .map(|(i, l)| serde_json::json!({"name": format!("c{i}"), "resources": resources(l)}))
            .collect();
        let mut spec = serde_json::json!({
            "containers": containers,
            "volumes": [
                {"name": "plain", "emptyDir": {}},
                {"name": "ram", "emptyDir": {"medium": "Memory"}},
                {"name": "small", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {"name": "big", "emptyDir": {"medium": "Memory", "sizeLimit": "1Ti"}},
            ],
        });
        if let Some(init) = init {
            spec["initContainers"] =
                serde_json::json!([{"name": "init", "resources": resources(&Some(init))}]);
        }
        serde_json::from_value(serde_json::json!({ "spec": spec })).unwrap()
    };
    let node = NodeCapacity {
        memory: "1Gi".to_owned(),
        ..NodeCapacity::default()
    };
    let sizes = |pod: &k8s_openapi::api::core::v1::Pod, node: &NodeCapacity| {
        memory_volumes(pod, node)
            .into_iter()
            .map(|v| format!("{}={:?}", v.name, v.size_bytes))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // No pod limit (one container has none): the node's allocatable, or a smaller sizeLimit.
    assert_eq!(
        sizes(&pod(&[Some("64Mi"), None], None), &node),
        "ram=Some(1073741824) small=Some(1048576) big=Some(1073741824)"
    );
    // Every container limited: their sum, or the largest init container's if more.
    assert_eq!(
        sizes(&pod(&[Some("64Mi"), Some("32Mi")], None), &node),
        "ram=Some(100663296) small=Some(1048576) big=Some(100663296)"
    );
    assert_eq!(
        sizes(&pod(&[Some("64Mi"), Some("32Mi")], Some("128Mi")), &node),
        "ram=Some(134217728) small=Some(1048576) big=Some(134217728)"
    );
    // Nothing known: the runtime's default.
    assert_eq!(
        sizes(
            &pod(&[None], None),
            &NodeCapacity {
                memory: String::new(),
                ..NodeCapacity::default()
            }
        ),
        "ram=None small=Some(1048576) big=Some(1099511627776)"
    );
}
