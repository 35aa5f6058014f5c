//! The cluster network's layout and the service data plane on the real engine: pods get
//! addresses in the network's first half and the cluster's resolver settings, nodes'
//! InternalIPs sit in its last quarter, and a `DockerPlane` unit (applied straight from the
//! test, on the daemon's network) holds its static address, publishes on 127.0.0.1, takes new
//! files without being replaced, is replaced (keeping its address) when its ports change,
//! reports a taken host port as `PortInUse`, and goes when removed.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};

use k8s_openapi::api::core::v1::{Node, Pod};
use kubarium_node::ContainerRuntime;
use kubarium_node::network::NetworkPlan;
use kubarium_node::network::plane::{
    DataPlane, PlaneError, Protocol, PublishedPort, UnitFile, UnitKey, UnitSpec,
};
use kube::Api;
use kube::api::ListParams;

use crate::support::{BUSYBOX, Docker, cluster_id, docker, eventually, wait_pod};

/// The plan the daemon recorded in its data dir.
fn plan(cluster: &Docker) -> NetworkPlan {
    let recorded = std::fs::read_to_string(cluster.daemon.data_dir().join("network")).unwrap();
    NetworkPlan::parse(recorded.lines().next().unwrap()).unwrap()
}

fn within(ip: Ipv4Addr, (base, prefix): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX << (32 - prefix);
    u32::from(ip) & mask == u32::from(base)
}

#[tokio::test]
async fn pods_get_pod_addresses_and_the_clusters_resolver_and_nodes_the_last_quarter() {
    let cluster = Docker::start_with_images(2, &[]).await;
    let plan = plan(&cluster);
    let id = cluster_id(&cluster).await;
    // The network is pinned: its subnet and the pod half as Docker's ip_range.
    let network = format!(
        "kubarium-{}",
        id.chars()
            .filter(char::is_ascii_hexdigit)
            .take(12)
            .collect::<String>()
    );
    let ipam = docker(&[
        "network",
        "inspect",
        &network,
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{.IPRange}}{{end}}",
    ]);
    let (pods, pods_prefix) = plan.pod_range();
    assert_eq!(ipam, format!("{plan} {pods}/{pods_prefix}"));

    cluster.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: resolver\nspec:\n  hostname: db-0\n  subdomain: db\n  containers:\n  - name: main\n    image: {BUSYBOX}\n    imagePullPolicy: IfNotPresent\n    command: [\"sleep\", \"3600\"]\n"
    ));
    let pod = wait_pod(
        &cluster.client,
        "resolver",
        "the pod to run",
        |pod: &Pod| {
            pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                && pod
                    .status
                    .as_ref()
                    .and_then(|s| s.pod_ip.as_ref())
                    .is_some()
        },
    )
    .await;
    let pod_ip: Ipv4Addr = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        within(pod_ip, plan.pod_range()),
        "pod IP {pod_ip} is outside the pod half of {plan}"
    );

    let resolv = cluster.kubectl(&["exec", "resolver", "--", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    assert!(resolv.contains("ndots:5"), "{resolv}");
    // Docker's embedded DNS answers in the pod and forwards to the cluster DNS server.
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    let sandbox = docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=kubarium.dev/cluster={id}"),
        "--filter",
        "label=io.kubernetes.pod.name=resolver",
        "--filter",
        "label=io.kubernetes.docker.type=podsandbox",
    ]);
    let servers = docker(&["inspect", "--format", "{{json .HostConfig.Dns}}", &sandbox]);
    assert_eq!(servers, format!("[\"{}\"]", plan.dns_ip()));
    let kube_dns = Api::<k8s_openapi::api::core::v1::Service>::namespaced(
        cluster.client.clone(),
        "kube-system",
    )
    .get("kube-dns")
    .await
    .unwrap();
    assert_eq!(
        kube_dns.spec.and_then(|s| s.cluster_ip),
        Some(plan.dns_ip().to_string()),
        "pods are sent to the kube-dns Service's cluster IP"
    );
    let fqdn = cluster.kubectl(&["exec", "resolver", "--", "hostname"]);
    assert_eq!(fqdn.trim(), "db-0");
    let hosts = cluster.kubectl(&["exec", "resolver", "--", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains("db-0.db.default.svc.cluster.local"),
        "the pod's FQDN is in /etc/hosts: {hosts}"
    );

    let nodes = Api::<Node>::all(cluster.client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let (base, prefix) = plan.subnet();
    let last_quarter = (
        Ipv4Addr::from(u32::from(base) + (1u32 << (32 - prefix)) / 4 * 3),
        prefix + 2,
    );
    assert_eq!(nodes.items.len(), 2);
    for node in nodes.items {
        let address: Ipv4Addr = node
            .status
            .and_then(|s| s.addresses)
            .and_then(|a| a.into_iter().find(|a| a.type_ == "InternalIP"))
            .unwrap()
            .address
            .parse()
            .unwrap();
        assert!(
            within(address, last_quarter),
            "node InternalIP {address} is outside the last quarter of {plan}"
        );
    }
}

/// `GET path` from `127.0.0.1:port` over HTTP/1.0; the status, or `None` while nothing
/// answers.
fn get(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.get(9..12)?.parse().ok()
}

/// The unit's container: (id, address on the cluster network), or `None` when it is gone.
fn container(name: &str) -> Option<(String, String)> {
    let output = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{.Id}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            name,
        ])
        .output()
        .unwrap();
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let (id, ip) = text.split_once(' ')?;
    Some((id.to_owned(), ip.to_owned()))
}

#[tokio::test]
async fn a_docker_plane_unit_holds_its_address_publishes_and_takes_new_files() {
    let cluster = Docker::start_with_images(1, &[]).await;
    let plan = plan(&cluster);
    let id = cluster_id(&cluster).await;
    let runtime = kubarium_node::runtime::DockerRuntime::start_with_plan(&id, Some(plan)).await;
    runtime.ready().unwrap();
    // `serve` stands in for the proxy: /readyz says whether /tmp/unready was delivered.
    let plane = runtime
        .data_plane()
        .with_command(vec!["/kubarium-infra".to_owned(), "serve".to_owned()]);
    let (service_base, _) = plan.service_range();
    let ip = Ipv4Addr::from(u32::from(service_base) + 200);
    let key = UnitKey::Service {
        namespace: "default".to_owned(),
        name: "plane".to_owned(),
        uid: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".to_owned(),
    };
    let mut spec = UnitSpec {
        key: key.clone(),
        ip: Some(ip),
        publish: vec![PublishedPort {
            host: 0,
            container: 8080,
            protocol: Protocol::Tcp,
        }],
        files: vec![UnitFile {
            path: "etc/kubarium/config".to_owned(),
            mode: 0o644,
            content: b"# kubarium proxy v1\n".to_vec(),
        }],
    };
    let name = plane.container_name(&key);

    // Created: the static address, a port the engine chose on 127.0.0.1 that answers.
    let applied = plane.apply(spec.clone()).await.unwrap();
    let port = applied.published[0].host;
    assert_ne!(port, 0, "the engine's port is read back: {applied:?}");
    let (first, address) = container(&name).expect("the unit's container exists");
    assert_eq!(address, ip.to_string());
    eventually("the unit to answer on 127.0.0.1", || async move {
        (get(port, "/readyz") == Some(200)).then_some(())
    })
    .await;
    let labels = docker(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"kubarium.dev/cluster\"}} {{index .Config.Labels \"kubarium.dev/unit\"}}",
        &name,
    ]);
    assert_eq!(labels, format!("{id} service"));

    // Updated in place: the files land, the container (and its port) stay.
    spec.files.push(UnitFile {
        path: "tmp/unready".to_owned(),
        mode: 0o600,
        content: Vec::new(),
    });
    let again = plane.apply(spec.clone()).await.unwrap();
    assert_eq!(again.published, applied.published);
    assert_eq!(container(&name).unwrap().0, first, "not replaced");
    assert_eq!(
        get(port, "/readyz"),
        Some(503),
        "/tmp/unready was delivered"
    );
    let running = docker(&["inspect", "--format", "{{.State.Running}}", &name]);
    assert_eq!(running, "true", "SIGHUP did not end the unit");

    // Replaced when its ports change, keeping its address.
    let fixed = kubarium_tests::free_port();
    spec.publish[0].host = fixed;
    spec.files.pop();
    let replaced = plane.apply(spec.clone()).await.unwrap();
    assert_eq!(replaced.published[0].host, fixed);
    let (second, address) = container(&name).unwrap();
    assert_ne!(second, first, "a new container");
    assert_eq!(address, ip.to_string());
    eventually("the replaced unit to answer", || async move {
        (get(fixed, "/readyz") == Some(200)).then_some(())
    })
    .await;

    // A host port someone else holds: PortInUse, and no container is left behind.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let other = UnitKey::Service {
        namespace: "default".to_owned(),
        name: "clash".to_owned(),
        uid: "11111111-2222-3333-4444-555555555555".to_owned(),
    };
    let clash = UnitSpec {
        key: other.clone(),
        ip: Some(Ipv4Addr::from(u32::from(service_base) + 201)),
        publish: vec![PublishedPort {
            host: taken_port,
            container: 8080,
            protocol: Protocol::Tcp,
        }],
        files: Vec::new(),
    };
    match plane.apply(clash).await {
        Err(PlaneError::PortInUse { port, .. }) => assert_eq!(port, taken_port),
        other => panic!("expected PortInUse for {taken_port}, got {other:?}"),
    }
    assert!(container(&plane.container_name(&other)).is_none());
    drop(taken);

    // Listed, then removed.
    // (The cluster's own services controller has units of its own: kubernetes, DNS, ingress.)
    let units = plane.units().await.unwrap();
    assert!(units.contains(&key), "{units:?}");
    assert!(!units.contains(&other), "{units:?}");
    plane.remove(key.clone()).await.unwrap();
    assert!(container(&name).is_none());
    assert!(!plane.units().await.unwrap().contains(&key));
    plane.remove(key).await.unwrap();
}

/// Removes what cluster `id` left in Docker when dropped, whatever the test did before.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        crate::support::remove_cluster_resources(&self.0);
    }
}

/// The subnet and ip_range of network `name`, as `docker network inspect` shows them.
fn ipam(name: &str) -> String {
    docker(&[
        "network",
        "inspect",
        name,
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}} {{.IPRange}}{{end}}",
    ])
}

#[tokio::test]
async fn a_plan_made_without_docker_is_asked_for_later_and_an_old_network_is_pinned() {
    use kubarium_tests::daemon::Daemon;
    let start = |dir: tempfile::TempDir, env: &[(&str, &str)]| {
        let listen = format!("127.0.0.1:{}", kubarium_tests::free_port());
        Daemon::start_in_env(
            dir,
            &[
                "--listen",
                &listen,
                "--nodes",
                "1",
                "--runtime",
                "docker",
                "--ingress-http-port",
                "0",
                "--ingress-https-port",
                "0",
            ],
            env,
        )
    };
    // Docker unreachable at the first start: the fallback plan is recorded and used.
    let mut daemon = start(
        tempfile::TempDir::new().unwrap(),
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let id = std::fs::read_to_string(daemon.data_dir().join("cluster-id"))
        .unwrap()
        .trim()
        .to_owned();
    let _cleanup = Cleanup(id.clone());
    let network = format!(
        "kubarium-{}",
        id.chars()
            .filter(char::is_ascii_hexdigit)
            .take(12)
            .collect::<String>()
    );
    assert_eq!(
        std::fs::read_to_string(daemon.data_dir().join("network")).unwrap(),
        "10.96.0.0/16\nfallback\n"
    );
    let client = daemon.client().await;
    let dns = Api::<k8s_openapi::api::core::v1::Service>::namespaced(client, "kube-system")
        .get("kube-dns")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.cluster_ip);
    assert_eq!(
        dns.as_deref(),
        Some("10.96.128.10"),
        "kube-dns holds the plan's DNS address"
    );
    assert!(daemon.stop_with("TERM").success());

    // Docker reachable: the recorded subnet is asked for, pinned.
    let mut daemon = start(daemon.take_dir(), &[]);
    assert_eq!(ipam(&network), "10.96.0.0/16 10.96.0.0/17");
    assert_eq!(
        std::fs::read_to_string(daemon.data_dir().join("network")).unwrap(),
        "10.96.0.0/16\n"
    );
    assert!(daemon.stop_with("TERM").success());

    // A network as an older Kubarium made it (no ip_range), no container on it: made again,
    // pinned. (The data-plane units the last start made outlive it, so they go first.)
    crate::support::remove_cluster_resources(&id);
    docker(&[
        "network",
        "create",
        "--label",
        &format!("kubarium.dev/cluster={id}"),
        "--subnet",
        "10.96.0.0/16",
        &network,
    ]);
    assert_eq!(ipam(&network), "10.96.0.0/16", "no ip_range");
    let mut daemon = start(daemon.take_dir(), &[]);
    assert_eq!(ipam(&network), "10.96.0.0/16 10.96.0.0/17");
    assert!(daemon.stop_with("TERM").success());
}
