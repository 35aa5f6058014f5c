//! Tests of the pure Docker mapping: names, labels, create bodies and states.

use std::collections::BTreeMap;

use bollard::models::ContainerState as DockerState;

use super::*;
use crate::runtime::{HostPort, Limits, MemoryVolume, Mount, MountSource, Security};

fn owner() -> Owner {
    Owner {
        cluster: "e46c6f24-b0a7-41be-adce-4ce61bad845a".to_owned(),
        node: "kubarium-worker".to_owned(),
        namespace: "default".to_owned(),
        pod: "web".to_owned(),
        uid: "a7acfe0c-5845-446b-88e7-3b3217b62192".to_owned(),
    }
}

/// A body as JSON with its maps sorted, so snapshots are stable.
fn json(body: &ContainerCreateBody) -> serde_json::Value {
    let value = serde_json::to_value(body).unwrap();
    serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap()
}

#[test]
fn names_are_dockershims() {
    assert_eq!(
        owner().container_name("POD", 0),
        "k8s_POD_web_default_a7acfe0c-5845-446b-88e7-3b3217b62192_0"
    );
    assert_eq!(
        owner().container_name("app", 3),
        "k8s_app_web_default_a7acfe0c-5845-446b-88e7-3b3217b62192_3"
    );
}

#[test]
fn labels_name_cluster_node_pod_and_container() {
    let labels: BTreeMap<_, _> = owner().labels("app", 2).into_iter().collect();
    insta::assert_json_snapshot!(labels);
    let back = Owner::from_labels(&owner().cluster, &owner().labels("app", 2));
    assert_eq!(back, Some(owner()));
    assert_eq!(
        Owner::from_labels("another-cluster", &owner().labels("app", 2)),
        None
    );
}

#[test]
fn a_sandbox_holds_the_network_and_publishes_host_ports() {
    let config = SandboxConfig {
        namespace: "default".to_owned(),
        name: "web".to_owned(),
        uid: owner().uid,
        node: "kubarium-worker".to_owned(),
        hostname: "web-0".to_owned(),
        host_ports: vec![
            HostPort {
                container_port: 80,
                host_port: 8080,
                host_ip: String::new(),
                protocol: "TCP".to_owned(),
            },
            HostPort {
                container_port: 53,
                host_port: 5353,
                host_ip: "0.0.0.0".to_owned(),
                protocol: "UDP".to_owned(),
            },
        ],
        memory_volumes: vec![MemoryVolume {
            name: "shm".to_owned(),
            size_bytes: Some(64 << 20),
            group: None,
        }],
        ..SandboxConfig::default()
    };
    let body = sandbox_body(
        &owner(),
        &config,
        "kubarium.dev/infra:0.1.0",
        "kubarium-e46c6f24b0a7",
        1,
    );
    insta::assert_json_snapshot!(json(&body));
}

#[test]
fn a_sandbox_gets_the_pods_resolver_and_domain() {
    let config = SandboxConfig {
        name: "web-0".to_owned(),
        hostname: "web-0".to_owned(),
        domainname: "web.default.svc.cluster.local".to_owned(),
        dns: Some(crate::runtime::DnsConfig {
            servers: vec!["172.18.128.10".to_owned()],
            searches: vec![
                "default.svc.cluster.local".to_owned(),
                "svc.cluster.local".to_owned(),
                "cluster.local".to_owned(),
            ],
            options: vec!["ndots:5".to_owned()],
        }),
        ..SandboxConfig::default()
    };
    let body = sandbox_body(&owner(), &config, "infra", "net", 0);
    assert_eq!(body.hostname.as_deref(), Some("web-0"));
    assert_eq!(
        body.domainname.as_deref(),
        Some("web.default.svc.cluster.local")
    );
    let host = body.host_config.unwrap();
    assert_eq!(host.dns, Some(vec!["172.18.128.10".to_owned()]));
    assert_eq!(
        host.dns_search.as_deref().map(<[String]>::len),
        Some(3),
        "{:?}",
        host.dns_search
    );
    assert_eq!(host.dns_options, Some(vec!["ndots:5".to_owned()]));

    let plain = sandbox_body(&owner(), &SandboxConfig::default(), "infra", "net", 0);
    assert_eq!(plain.domainname, None);
    let host = plain.host_config.unwrap();
    assert_eq!(
        (host.dns, host.dns_search, host.dns_options),
        (None, None, None)
    );
}

#[test]
fn a_memory_volume_is_a_labelled_tmpfs_of_the_local_driver() {
    let sized = MemoryVolume {
        name: "shm".to_owned(),
        size_bytes: Some(64 << 20),
        group: None,
    };
    // Through a `Value`, whose maps are sorted.
    let body = serde_json::to_value(volume_body(&owner(), &sized)).unwrap();
    insta::assert_json_snapshot!(body);
    let unsized_ = MemoryVolume {
        name: "cache".to_owned(),
        size_bytes: None,
        group: None,
    };
    let body = volume_body(&owner(), &unsized_);
    assert_eq!(
        body.name.as_deref(),
        Some("kubarium_a7acfe0c-5845-446b-88e7-3b3217b62192_cache")
    );
    assert_eq!(body.driver_opts.unwrap()["o"], "mode=1777");
    let grouped = MemoryVolume {
        group: Some(2000),
        ..unsized_
    };
    let body = volume_body(&owner(), &grouped);
    assert_eq!(body.driver_opts.unwrap()["o"], "mode=3777,gid=2000");
}

#[test]
fn a_host_network_sandbox_has_no_hostname_or_bindings() {
    let config = SandboxConfig {
        name: "web".to_owned(),
        host_network: true,
        host_ports: vec![HostPort {
            container_port: 80,
            host_port: 80,
            host_ip: String::new(),
            protocol: "TCP".to_owned(),
        }],
        ..SandboxConfig::default()
    };
    let body = sandbox_body(&owner(), &config, "infra", "net", 0);
    let host = body.host_config.unwrap();
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.port_bindings, None);
    assert_eq!(body.hostname, None);
}

#[test]
fn a_container_joins_its_sandbox_with_everything_the_spec_asks() {
    let config = ContainerConfig {
        name: "app".to_owned(),
        image: "kubarium.dev/busybox:test".to_owned(),
        attempt: 2,
        command: vec!["sh".to_owned(), "-c".to_owned()],
        args: vec!["httpd -f -p 8080".to_owned()],
        env: vec![
            ("A".to_owned(), "1".to_owned()),
            ("B".to_owned(), "x=y".to_owned()),
        ],
        working_dir: Some("/tmp".to_owned()),
        mounts: vec![
            Mount {
                source: MountSource::Host("/data/pods/uid/volumes/cache".into()),
                container_path: "/cache".to_owned(),
                read_only: false,
            },
            Mount {
                source: MountSource::Host("/data/pods/uid/volumes/config".into()),
                container_path: "/etc/config".to_owned(),
                read_only: true,
            },
            Mount {
                source: MountSource::Memory(MemoryVolume {
                    name: "shm".to_owned(),
                    size_bytes: Some(64 << 20),
                    group: None,
                }),
                container_path: "/dev/shm".to_owned(),
                read_only: false,
            },
        ],
        limits: Limits {
            cpu_millis: Some(250),
            memory_bytes: Some(64 * 1024 * 1024),
        },
        security: Security {
            run_as_user: Some(1000),
            run_as_group: Some(3000),
            read_only_root_filesystem: true,
            privileged: false,
            supplemental_groups: vec![4000, 2000],
        },
        tty: true,
        stdin: true,
        stdin_once: true,
        ..ContainerConfig::default()
    };
    let body = container_body(&owner(), "0e1a06550374", &config, &config.image);
    insta::assert_json_snapshot!(json(&body));
}

#[test]
fn command_and_args_follow_upstream() {
    let body = |command: &[&str], args: &[&str]| {
        let config = ContainerConfig {
            name: "c".to_owned(),
            command: command.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..ContainerConfig::default()
        };
        let body = container_body(&owner(), "s", &config, "i");
        (body.entrypoint, body.cmd)
    };
    let strings = |s: &[&str]| Some(s.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    // Neither: the image's ENTRYPOINT and CMD.
    assert_eq!(body(&[], &[]), (None, None));
    // Command alone: replaces the ENTRYPOINT, and Docker drops the image's CMD.
    assert_eq!(body(&["sleep"], &[]), (strings(&["sleep"]), None));
    // Args alone: the image's ENTRYPOINT with these args.
    assert_eq!(body(&[], &["10"]), (None, strings(&["10"])));
    assert_eq!(
        body(&["sleep"], &["10"]),
        (strings(&["sleep"]), strings(&["10"]))
    );
}

#[test]
fn a_tiny_cpu_limit_gets_the_smallest_quota() {
    let config = ContainerConfig {
        limits: Limits {
            cpu_millis: Some(1),
            memory_bytes: None,
        },
        ..ContainerConfig::default()
    };
    let host = container_body(&owner(), "s", &config, "i")
        .host_config
        .unwrap();
    assert_eq!(host.cpu_quota, Some(1000));
    assert_eq!(host.cpu_period, Some(100_000));
    assert_eq!(host.memory, None);
}

fn inspect(state: DockerState) -> ContainerInspectResponse {
    ContainerInspectResponse {
        state: Some(state),
        ..ContainerInspectResponse::default()
    }
}

const NEVER: &str = "0001-01-01T00:00:00Z";

#[test]
fn states_map_from_inspect() {
    let running = inspect(DockerState {
        status: Some(ContainerStateStatusEnum::RUNNING),
        started_at: Some("2026-11-28T12:13:10.123456789Z".to_owned()),
        finished_at: Some(NEVER.to_owned()),
        ..DockerState::default()
    });
    assert_eq!(
        state(&running),
        ContainerState::Running {
            started_at: "2026-11-28T12:13:10.123456789Z".parse().unwrap()
        }
    );
    let oom = inspect(DockerState {
        status: Some(ContainerStateStatusEnum::EXITED),
        started_at: Some("2026-11-28T12:13:10Z".to_owned()),
        finished_at: Some("2026-11-28T12:13:12Z".to_owned()),
        exit_code: Some(137),
        oom_killed: Some(true),
        ..DockerState::default()
    });
    assert_eq!(
        state(&oom),
        ContainerState::Exited {
            started_at: "2026-11-28T12:13:10Z".parse().unwrap(),
            finished_at: "2026-11-28T12:13:12Z".parse().unwrap(),
            exit_code: 137,
            oom_killed: true,
        }
    );
    let created = inspect(DockerState {
        status: Some(ContainerStateStatusEnum::CREATED),
        started_at: Some(NEVER.to_owned()),
        finished_at: Some(NEVER.to_owned()),
        ..DockerState::default()
    });
    assert_eq!(state(&created), ContainerState::Created);
    assert_eq!(
        state(&ContainerInspectResponse::default()),
        ContainerState::Created
    );
}

#[test]
fn image_ids_are_as_the_kubelet_reported_them_on_docker() {
    assert_eq!(image_id("sha256:07359a", &[]), "docker://sha256:07359a");
    assert_eq!(
        image_id("sha256:07359a", &["busybox@sha256:ab12".to_owned()]),
        "docker-pullable://busybox@sha256:ab12"
    );
}
