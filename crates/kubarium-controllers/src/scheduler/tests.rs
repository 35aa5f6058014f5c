//! Scheduling cycles on hand-made clusters: filters, scores, upstream's messages and the
//! decision record, as pure functions of pods and node infos (no API server).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, Node, NodeSpec, NodeStatus, Pod, PodAffinityTerm,
    PodAntiAffinity, PodSpec, ResourceRequirements, Taint, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

use super::cache::{Cache, NodeInfo, PodInfo};
use super::cycle::{Cycles, Outcome, feasible_to_find};
use super::decision::Decision;
use super::{filters, scores};

fn no_namespaces(_: &str) -> Option<BTreeMap<String, String>> {
    None
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
        .collect()
}

/// A Ready node with 2 CPUs, 4 GiB and 110 pods, labelled as the node agents label theirs.
fn node(name: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(map(&[
                ("kubernetes.io/hostname", name),
                ("kubernetes.io/os", "linux"),
            ])),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            allocatable: Some(quantities(&[
                ("cpu", "2"),
                ("memory", "4Gi"),
                ("pods", "110"),
            ])),
            ..NodeStatus::default()
        }),
    }
}

fn control_plane() -> Node {
    let mut n = node("kubarium-control-plane");
    if let Some(labels) = n.metadata.labels.as_mut() {
        labels.insert(
            "node-role.kubernetes.io/control-plane".into(),
            String::new(),
        );
    }
    n.spec = Some(NodeSpec {
        taints: Some(vec![Taint {
            key: "node-role.kubernetes.io/control-plane".into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        }]),
        ..NodeSpec::default()
    });
    n
}

fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    let mut requests = BTreeMap::new();
    if !cpu.is_empty() {
        requests.insert("cpu".to_owned(), Quantity(cpu.to_owned()));
    }
    if !memory.is_empty() {
        requests.insert("memory".to_owned(), Quantity(memory.to_owned()));
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("default".to_owned()),
            uid: Some(format!("uid-{name}")),
            labels: Some(map(&[("app", "web")])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some("web:1".into()),
                resources: Some(ResourceRequirements {
                    requests: Some(requests),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            priority: Some(0),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn on(mut p: Pod, node: &str) -> Pod {
    if let Some(spec) = p.spec.as_mut() {
        spec.node_name = Some(node.to_owned());
    }
    p
}

/// The kind-like default cluster: a tainted control plane and two workers.
fn cluster(pods: Vec<Pod>) -> Cache {
    let mut cache = Cache::default();
    for n in [
        control_plane(),
        node("kubarium-worker"),
        node("kubarium-worker2"),
    ] {
        cache.set_node(Arc::new(n));
    }
    for p in pods {
        cache.add_pod(Arc::new(PodInfo::new(Arc::new(p))));
    }
    cache
}

fn schedule(cache: &Cache, p: Pod) -> Outcome {
    Cycles::seeded(7).schedule(&PodInfo::new(Arc::new(p)), cache, &no_namespaces)
}

fn unschedulable(outcome: Outcome) -> (String, Decision) {
    match outcome {
        Outcome::Unschedulable { message, decision } => (message, decision),
        Outcome::Fit { node, .. } => panic!("scheduled to {node}"),
    }
}

fn fit(outcome: Outcome) -> (String, Decision) {
    match outcome {
        Outcome::Fit { node, decision } => (node, decision),
        Outcome::Unschedulable { message, .. } => panic!("unschedulable: {message}"),
    }
}

#[test]
fn a_pod_too_big_for_every_worker() {
    let (message, decision) = unschedulable(schedule(&cluster(vec![]), pod("big", "100", "")));
    insta::assert_snapshot!(message, @"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..");
    insta::assert_snapshot!(decision.to_annotation());
    assert_eq!(
        Decision::from_annotation(&decision.to_annotation()),
        Some(decision)
    );
}

#[test]
fn a_node_selector_nothing_matches() {
    let mut p = pod("picky", "", "");
    if let Some(spec) = p.spec.as_mut() {
        spec.node_selector = Some(map(&[("disktype", "ssd")]));
    }
    let (message, _) = unschedulable(schedule(&cluster(vec![]), p));
    insta::assert_snapshot!(message, @"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling..");
}

#[test]
fn lower_priority_pods_that_could_be_preempted_leave_no_preemption_part() {
    let mut low = on(pod("low", "1500m", ""), "kubarium-worker");
    if let Some(spec) = low.spec.as_mut() {
        spec.priority = Some(-1);
    }
    let cache = cluster(vec![low, on(pod("busy", "1500m", ""), "kubarium-worker2")]);
    let (message, _) = unschedulable(schedule(&cache, pod("web", "1", "")));
    insta::assert_snapshot!(message, @"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.");
    let mut never = pod("web", "1", "");
    if let Some(spec) = never.spec.as_mut() {
        spec.preemption_policy = Some("Never".into());
    }
    let (message, _) = unschedulable(schedule(&cache, never));
    insta::assert_snapshot!(message, @"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never..");
}

#[test]
fn no_nodes_at_all() {
    let (message, _) = unschedulable(schedule(&Cache::default(), pod("web", "", "")));
    assert_eq!(message, "no nodes available to schedule pods");
}

#[test]
fn the_emptier_worker_wins_and_the_decision_says_why() {
    let cache = cluster(vec![on(pod("busy", "1", "1Gi"), "kubarium-worker")]);
    let (node, decision) = fit(schedule(&cache, pod("web", "500m", "512Mi")));
    assert_eq!(node, "kubarium-worker2");
    insta::assert_snapshot!(serde_json::to_string_pretty(&decision).unwrap());
}

#[test]
fn pods_of_one_replicaset_spread_over_the_workers() {
    let mut cache = cluster(vec![]);
    let mut cycles = Cycles::seeded(3);
    let mut placed = BTreeMap::<String, usize>::new();
    for i in 0..10 {
        let mut p = pod(&format!("web-{i}"), "", "");
        p.metadata.owner_references = Some(vec![OwnerReference {
            controller: Some(true),
            uid: "rs-uid".into(),
            ..OwnerReference::default()
        }]);
        let info = PodInfo::new(Arc::new(p));
        let Outcome::Fit { node, .. } = cycles.schedule(&info, &cache, &no_namespaces) else {
            panic!("unschedulable");
        };
        cache.assume(Arc::new(info.on_node(&node)));
        *placed.entry(node).or_default() += 1;
    }
    assert_eq!(
        placed,
        BTreeMap::from([
            ("kubarium-worker".into(), 5),
            ("kubarium-worker2".into(), 5)
        ])
    );
}

#[test]
fn assumed_pods_count_against_their_node() {
    let mut cache = cluster(vec![]);
    let mut cycles = Cycles::seeded(1);
    for i in 0..4 {
        let info = PodInfo::new(Arc::new(pod(&format!("p{i}"), "1", "")));
        let (node, _) = fit(cycles.schedule(&info, &cache, &no_namespaces));
        cache.assume(Arc::new(info.on_node(&node)));
    }
    let info = PodInfo::new(Arc::new(pod("p5", "1", "")));
    let (message, _) = unschedulable(cycles.schedule(&info, &cache, &no_namespaces));
    assert!(message.contains("2 Insufficient cpu"), "{message}");
    // A failed bind forgets the assumption.
    cache.remove_pod("uid-p0");
    fit(cycles.schedule(&info, &cache, &no_namespaces));
}

fn anti_affinity(mut p: Pod, key: &str) -> Pod {
    if let Some(spec) = p.spec.as_mut() {
        spec.affinity = Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(map(&[("app", "web")])),
                        ..LabelSelector::default()
                    }),
                    topology_key: key.into(),
                    ..PodAffinityTerm::default()
                }]),
                ..PodAntiAffinity::default()
            }),
            ..Affinity::default()
        });
    }
    p
}

#[test]
fn pod_anti_affinity_both_ways() {
    let host = "kubernetes.io/hostname";
    let cache = cluster(vec![on(pod("web-0", "", ""), "kubarium-worker")]);
    let (node, _) = fit(schedule(&cache, anti_affinity(pod("web-1", "", ""), host)));
    assert_eq!(node, "kubarium-worker2");
    let cache = cluster(vec![
        on(pod("web-0", "", ""), "kubarium-worker"),
        on(pod("web-1", "", ""), "kubarium-worker2"),
    ]);
    let (message, _) = unschedulable(schedule(&cache, anti_affinity(pod("web-2", "", ""), host)));
    insta::assert_snapshot!(message, @"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..");
    // An existing pod's anti-affinity keeps the newcomer away from its node.
    let cache = cluster(vec![on(
        anti_affinity(pod("web-0", "", ""), host),
        "kubarium-worker",
    )]);
    let (node, _) = fit(schedule(&cache, pod("web-1", "", "")));
    assert_eq!(node, "kubarium-worker2");
}

#[test]
fn host_ports_cordons_and_tolerations() {
    let with_port = |name: &str| {
        let mut p = pod(name, "", "");
        if let Some(spec) = p.spec.as_mut() {
            spec.containers[0].ports = Some(vec![ContainerPort {
                container_port: 80,
                host_port: Some(8080),
                ..ContainerPort::default()
            }]);
        }
        p
    };
    let taken = NodeInfo::with(node("n"), vec![on(with_port("a"), "n")]);
    let info = PodInfo::new(Arc::new(with_port("b")));
    let rejection = filters::node_ports(&info, &taken).unwrap_err();
    assert_eq!(rejection.reasons, [filters::NODE_PORTS]);

    let mut cordoned = node("n");
    cordoned.spec = Some(NodeSpec {
        unschedulable: Some(true),
        ..NodeSpec::default()
    });
    let cordoned = NodeInfo::with(cordoned, vec![]);
    let plain = PodInfo::new(Arc::new(pod("a", "", "")));
    let rejection = filters::node_unschedulable(&plain, &cordoned).unwrap_err();
    assert_eq!(rejection.reasons, ["node(s) were unschedulable"]);

    let mut tolerant = pod("a", "", "");
    if let Some(spec) = tolerant.spec.as_mut() {
        spec.tolerations = Some(vec![k8s_openapi::api::core::v1::Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        }]);
    }
    let tolerant = PodInfo::new(Arc::new(tolerant));
    assert!(filters::node_unschedulable(&tolerant, &cordoned).is_ok());
    let cp = NodeInfo::with(control_plane(), vec![]);
    assert!(filters::taint_toleration(&tolerant, &cp).is_ok());
    assert!(filters::taint_toleration(&plain, &cp).is_err());
}

#[test]
fn resources_fit_counts_every_shortage() {
    let full = NodeInfo::with(node("n"), vec![on(pod("a", "1500m", "3Gi"), "n")]);
    let info = PodInfo::new(Arc::new(pod("b", "1", "2Gi")));
    let rejection = filters::node_resources_fit(&info, &full).unwrap_err();
    assert_eq!(
        rejection.reasons,
        ["Insufficient cpu", "Insufficient memory"]
    );
    let mut tiny = node("n");
    if let Some(status) = tiny.status.as_mut() {
        status.allocatable = Some(quantities(&[
            ("cpu", "2"),
            ("memory", "4Gi"),
            ("pods", "1"),
        ]));
    }
    let tiny = NodeInfo::with(tiny, vec![on(pod("a", "", ""), "n")]);
    let rejection = filters::node_resources_fit(&info, &tiny).unwrap_err();
    assert_eq!(rejection.reasons, ["Too many pods"]);
}

#[test]
fn topology_spread_do_not_schedule() {
    let mut p = pod("web-2", "", "");
    if let Some(spec) = p.spec.as_mut() {
        spec.topology_spread_constraints = Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            label_selector: Some(LabelSelector {
                match_labels: Some(map(&[("app", "web")])),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        }]);
    }
    // The control plane's pods count as a domain too (taints are ignored by default).
    let cache = cluster(vec![
        on(pod("web-0", "", ""), "kubarium-worker"),
        on(pod("web-1", "", ""), "kubarium-worker2"),
    ]);
    let (message, _) = unschedulable(schedule(&cache, p.clone()));
    insta::assert_snapshot!(message, @"0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match pod topology spread constraints. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..");
    // With `nodeTaintsPolicy: Honor` the tainted control plane is no domain: both workers
    // are at the minimum, and either takes the pod.
    if let Some(c) = p
        .spec
        .as_mut()
        .and_then(|s| s.topology_spread_constraints.as_mut())
    {
        c[0].node_taints_policy = Some("Honor".into());
    }
    let (node, _) = fit(schedule(&cache, p));
    assert!(node.starts_with("kubarium-worker"), "{node}");
}

#[test]
fn scores_as_upstream() {
    let n = NodeInfo::with(node("n"), vec![on(pod("a", "1", "1Gi"), "n")]);
    let info = PodInfo::new(Arc::new(pod("b", "500m", "1Gi")));
    // cpu (2000 - 1500) / 2000 = 25, memory (4 - 2) / 4 = 50 → 37
    assert_eq!(scores::least_allocated(&info, &n), 37);
    // fractions 0.75 and 0.5 → 1 - 0.125
    assert_eq!(scores::balanced_allocation(&info, &n), 87);
    assert_eq!(scores::default_normalize(vec![0, 1, 2], true), [100, 50, 0]);
    assert_eq!(scores::default_normalize(vec![0, 0], true), [100, 100]);
    assert_eq!(scores::min_max_normalize(vec![-2, 0, 2]), [0, 50, 100]);
}

#[test]
fn adaptive_percentage_of_nodes_to_score() {
    assert_eq!(feasible_to_find(3), 3);
    assert_eq!(feasible_to_find(100), 100);
    assert_eq!(feasible_to_find(1000), 420);
    assert_eq!(feasible_to_find(5000), 500);
}

#[test]
fn preferences_for_nodes_and_for_company() {
    use k8s_openapi::api::core::v1::{
        NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, PodAffinity,
        PreferredSchedulingTerm, WeightedPodAffinityTerm,
    };
    let mut cache = cluster(vec![on(pod("busy", "1", "1Gi"), "kubarium-worker")]);
    let mut ssd = node("kubarium-worker");
    if let Some(labels) = ssd.metadata.labels.as_mut() {
        labels.insert("disktype".into(), "ssd".into());
    }
    cache.set_node(Arc::new(ssd));
    let mut p = pod("web", "500m", "");
    if let Some(spec) = p.spec.as_mut() {
        spec.affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    PreferredSchedulingTerm {
                        weight: 50,
                        preference: NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: "disktype".into(),
                                operator: "In".into(),
                                values: Some(vec!["ssd".into()]),
                            }]),
                            ..NodeSelectorTerm::default()
                        },
                    },
                ]),
                ..NodeAffinity::default()
            }),
            ..Affinity::default()
        });
    }
    let (node, decision) = fit(schedule(&cache, p));
    assert_eq!(node, "kubarium-worker", "{decision:?}");
    assert_eq!(decision.scores[0].plugins["NodeAffinity"], 100);

    let mut db = on(pod("db", "", ""), "kubarium-worker2");
    db.metadata.labels = Some(map(&[("app", "db")]));
    let cache = cluster(vec![db]);
    let mut p = pod("cache", "", "");
    if let Some(spec) = p.spec.as_mut() {
        spec.affinity = Some(Affinity {
            pod_affinity: Some(PodAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 10,
                        pod_affinity_term: PodAffinityTerm {
                            label_selector: Some(LabelSelector {
                                match_labels: Some(map(&[("app", "db")])),
                                ..LabelSelector::default()
                            }),
                            topology_key: "kubernetes.io/hostname".into(),
                            ..PodAffinityTerm::default()
                        },
                    },
                ]),
                ..PodAffinity::default()
            }),
            ..Affinity::default()
        });
    }
    let (node, decision) = fit(schedule(&cache, p));
    assert_eq!(node, "kubarium-worker2", "{decision:?}");
    assert_eq!(decision.scores[0].plugins["InterPodAffinity"], 100);
}

#[test]
fn cycles_walk_the_nodes_with_an_object_in_a_stable_order() {
    let names = |cache: &Cache| -> Vec<String> { cache.nodes().map(|n| n.name.clone()).collect() };
    let mut cache = Cache::default();
    for n in ["a", "b", "c", "d"] {
        cache.set_node(Arc::new(node(n)));
    }
    // A pod bound to a node the cache has not seen is counted, but no cycle walks there.
    cache.add_pod(Arc::new(PodInfo::new(Arc::new(on(pod("p", "", ""), "e")))));
    assert_eq!(names(&cache), ["a", "b", "c", "d"]);
    // Taking a node out moves the last info into its place.
    cache.remove_node("b");
    assert_eq!(names(&cache), ["a", "c", "d"]);
    cache.remove_node("a");
    assert_eq!(names(&cache), ["d", "c"]);
    // The node of the pod appears.
    cache.set_node(Arc::new(node("e")));
    assert_eq!(names(&cache), ["d", "e", "c"]);
    // Deleted while its pod is still counted: no longer walked, until it comes back.
    cache.remove_node("e");
    assert_eq!(names(&cache), ["d", "c"]);
    assert_eq!(cache.node("e").map(|n| n.pods.len()), Some(1));
    cache.set_node(Arc::new(node("e")));
    assert_eq!(names(&cache), ["d", "e", "c"]);
    // A cordon and taints are read from the node each time it changes.
    let mut cordoned = node("c");
    cordoned.spec.get_or_insert_default().unschedulable = Some(true);
    cordoned.spec.get_or_insert_default().taints = Some(vec![Taint {
        key: "k".to_owned(),
        effect: "NoSchedule".to_owned(),
        ..Taint::default()
    }]);
    assert!(cache.set_node(Arc::new(cordoned)));
    let info = cache.node("c").expect("c");
    assert!(info.unschedulable);
    assert_eq!(info.taints.len(), 1);
    assert!(cache.set_node(Arc::new(node("c"))));
    let info = cache.node("c").expect("c");
    assert!(!info.unschedulable && info.taints.is_empty());
}

/// A measurement, not a check: scheduling cycles (filters, scores, decision record and
/// assumption) for 10,000 pods on 1,000 and on 5,000 nodes, printed. Run with
/// `cargo test --release -p kubarium-controllers cycles_per_second -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, run on demand"]
fn cycles_per_second_on_thousands_of_nodes() {
    for nodes in [1000, 5000] {
        let mut cache = Cache::default();
        for i in 0..nodes {
            cache.set_node(Arc::new(node(&format!("n{i}"))));
        }
        let mut cycles = Cycles::seeded(5);
        let started = std::time::Instant::now();
        for i in 0..10_000 {
            let info = PodInfo::new(Arc::new(pod(&format!("pod-{i}"), "", "")));
            let (node, decision) = fit(cycles.schedule(&info, &cache, &no_namespaces));
            let _annotation = decision.to_annotation();
            cache.assume(Arc::new(info.on_node(&node)));
        }
        let elapsed = started.elapsed();
        eprintln!(
            "10000 cycles on {nodes} nodes in {elapsed:?}: {:.0} pods/s",
            10_000.0 / elapsed.as_secs_f64()
        );
    }
}
