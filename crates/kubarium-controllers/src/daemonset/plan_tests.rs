//! The DaemonSet sync decisions, one scenario each.

use k8s_openapi::api::apps::v1::{DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use k8s_openapi::api::core::v1::{
    NodeSpec, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Taint,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::*;
use crate::daemonset::nodes::pin_to_node;

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_000_000).unwrap()
}

fn node(name: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

fn daemon(surge: i32, unavailable: i32) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some("agent".to_owned()),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: Some(DaemonSetSpec {
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec::default()),
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_surge: Some(IntOrString::Int(surge)),
                    max_unavailable: Some(IntOrString::Int(unavailable)),
                }),
            }),
            ..DaemonSetSpec::default()
        }),
        status: None,
    }
}

fn pod(name: &str, node: &str, hash: &str, phase: &str, ready: bool, age: i64) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some([(REVISION_LABEL.to_owned(), hash.to_owned())].into()),
            creation_timestamp: Some(Time(jiff::Timestamp::from_second(age).unwrap())),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.to_owned()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some(phase.to_owned()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".to_owned(),
                status: if ready { "True" } else { "False" }.to_owned(),
                last_transition_time: Some(Time(jiff::Timestamp::from_second(1).unwrap())),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    }
}

fn up(name: &str, node: &str, hash: &str) -> Pod {
    pod(name, node, hash, "Running", true, 10)
}

fn run(ds: &DaemonSet, nodes: &[Node], pods: &[Pod], hash: &str) -> Plan {
    let nodes: Vec<&Node> = nodes.iter().collect();
    let pods: Vec<&Pod> = pods.iter().collect();
    plan(ds, &nodes, &pods, hash, now())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn every_eligible_node_gets_one_pod() {
    let ds = daemon(0, 1);
    let mut tainted = node("cp");
    tainted.spec = Some(NodeSpec {
        taints: Some(vec![Taint {
            key: "node-role.kubernetes.io/control-plane".to_owned(),
            effect: "NoSchedule".to_owned(),
            ..Taint::default()
        }]),
        ..NodeSpec::default()
    });
    let nodes = [tainted, node("w1"), node("w2")];
    let planned = run(&ds, &nodes, &[up("agent-a", "w1", "h1")], "h1");
    assert_eq!(planned.create_on, strings(&["w2"]));
    assert!(planned.delete.is_empty());
}

#[test]
fn extra_pods_go_oldest_kept_and_pods_leave_nodes_that_no_longer_qualify() {
    let ds = daemon(0, 1);
    let pods = [
        pod("agent-new", "w1", "h1", "Running", true, 20),
        pod("agent-old", "w1", "h1", "Running", true, 10),
    ];
    assert_eq!(
        run(&ds, &[node("w1")], &pods, "h1").delete,
        strings(&["agent-new"])
    );
    let mut evicting = node("w1");
    evicting.spec = Some(NodeSpec {
        taints: Some(vec![Taint {
            key: "dedicated".to_owned(),
            effect: "NoExecute".to_owned(),
            ..Taint::default()
        }]),
        ..NodeSpec::default()
    });
    let planned = run(&ds, &[evicting], &[up("agent-a", "w1", "h1")], "h1");
    assert_eq!(planned.delete, strings(&["agent-a"]));
}

#[test]
fn failed_pods_are_replaced_and_reported() {
    let ds = daemon(0, 1);
    let pods = [pod("agent-a", "w1", "h1", "Failed", false, 10)];
    let planned = run(&ds, &[node("w1")], &pods, "h1");
    assert_eq!(planned.delete, strings(&["agent-a"]));
    assert_eq!(
        planned.failed,
        vec![("agent-a".to_owned(), "w1".to_owned())]
    );
}

#[test]
fn unbound_pods_pinned_to_a_vanished_node_are_deleted() {
    let ds = daemon(0, 1);
    let mut pinned = up("agent-a", "", "h1");
    if let Some(spec) = pinned.spec.as_mut() {
        spec.node_name = None;
        spec.affinity = Some(pin_to_node(None, "gone"));
    }
    let planned = run(
        &ds,
        &[node("w1")],
        &[pinned, up("agent-b", "w1", "h1")],
        "h1",
    );
    assert_eq!(planned.delete, strings(&["agent-a"]));
}

#[test]
fn rolling_update_deletes_within_max_unavailable() {
    let ds = daemon(0, 1);
    let nodes = [node("w1"), node("w2"), node("w3")];
    let old = [
        up("a1", "w1", "h1"),
        up("a2", "w2", "h1"),
        up("a3", "w3", "h1"),
    ];
    assert_eq!(run(&ds, &nodes, &old, "h2").delete, strings(&["a1"]));
    // A new pod not ready yet uses the budget.
    let midway = [
        pod("b1", "w1", "h2", "Running", false, 30),
        up("a2", "w2", "h1"),
        up("a3", "w3", "h1"),
    ];
    assert_eq!(run(&ds, &nodes, &midway, "h2"), Plan::default());
    // An old pod that is not available is replaced regardless.
    let broken = [
        pod("b1", "w1", "h2", "Running", false, 30),
        pod("a2", "w2", "h1", "Running", false, 10),
        up("a3", "w3", "h1"),
    ];
    assert_eq!(run(&ds, &nodes, &broken, "h2").delete, strings(&["a2"]));
    let two = daemon(0, 2);
    assert_eq!(run(&two, &nodes, &old, "h2").delete, strings(&["a1", "a2"]));
}

#[test]
fn rolling_update_with_surge_creates_first_then_deletes_the_old_pod() {
    let ds = daemon(1, 0);
    let nodes = [node("w1"), node("w2")];
    let old = [up("a1", "w1", "h1"), up("a2", "w2", "h1")];
    let planned = run(&ds, &nodes, &old, "h2");
    assert_eq!(planned.create_on, strings(&["w1"]));
    assert!(planned.delete.is_empty());
    let surged = [
        up("a1", "w1", "h1"),
        up("b1", "w1", "h2"),
        up("a2", "w2", "h1"),
    ];
    assert_eq!(run(&ds, &nodes, &surged, "h2").delete, strings(&["a1"]));
}

#[test]
fn status_counts_nodes_and_pods() {
    let ds = daemon(0, 1);
    let nodes = [node("w1"), node("w2"), node("w3")];
    let pods = [
        up("a1", "w1", "h2"),
        pod("a2", "w2", "h1", "Pending", false, 10),
        up("x", "elsewhere", "h2"),
    ];
    let n: Vec<&Node> = nodes.iter().collect();
    let p: Vec<&Pod> = pods.iter().collect();
    let st = status(&ds, &n, &p, "h2", 0, now());
    assert_eq!(st.desired_number_scheduled, 3);
    assert_eq!(st.current_number_scheduled, 2);
    assert_eq!(st.number_ready, 1);
    assert_eq!(st.number_available, Some(1));
    assert_eq!(st.number_unavailable, Some(2));
    assert_eq!(st.updated_number_scheduled, Some(1));
    assert_eq!(st.number_misscheduled, 0);
    assert_eq!(st.observed_generation, Some(1));
}
