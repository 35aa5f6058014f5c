//! Node eligibility, one rule each.

use k8s_openapi::api::apps::v1::DaemonSetSpec;
use k8s_openapi::api::core::v1::{NodeSpec, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

pub(crate) fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: Some(
                taints
                    .iter()
                    .map(|(key, effect)| Taint {
                        key: (*key).to_owned(),
                        effect: (*effect).to_owned(),
                        ..Taint::default()
                    })
                    .collect(),
            ),
            ..NodeSpec::default()
        }),
        status: None,
    }
}

fn daemon(spec: PodSpec) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some("agent".to_owned()),
            annotations: Some(
                [(
                    "deprecated.daemonset.template.generation".to_owned(),
                    "2".to_owned(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(DaemonSetSpec {
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(spec),
            },
            ..DaemonSetSpec::default()
        }),
        status: None,
    }
}

#[test]
fn node_selectors_and_affinity_pick_nodes() {
    let linux = node("a", &[("kubernetes.io/os", "linux"), ("disk", "ssd")], &[]);
    let other = node("b", &[("kubernetes.io/os", "windows")], &[]);
    let by_selector = daemon(PodSpec {
        node_selector: Some([("disk".to_owned(), "ssd".to_owned())].into()),
        ..PodSpec::default()
    });
    assert_eq!(should_run(&linux, &by_selector), (true, true));
    assert_eq!(should_run(&other, &by_selector), (false, false));
    let by_affinity = daemon(PodSpec {
        affinity: Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: "kubernetes.io/os".to_owned(),
                            operator: "NotIn".to_owned(),
                            values: Some(vec!["windows".to_owned()]),
                        }]),
                        match_fields: None,
                    }],
                }),
                ..NodeAffinity::default()
            }),
            ..Affinity::default()
        }),
        ..PodSpec::default()
    });
    assert_eq!(should_run(&linux, &by_affinity), (true, true));
    assert_eq!(should_run(&other, &by_affinity), (false, false));
}

#[test]
fn taints_need_tolerations_and_daemon_pods_tolerate_node_trouble() {
    let ds = daemon(PodSpec::default());
    let control_plane = node(
        "cp",
        &[],
        &[("node-role.kubernetes.io/control-plane", "NoSchedule")],
    );
    // An untolerated NoSchedule taint: no new pod, but one already there stays.
    assert_eq!(should_run(&control_plane, &ds), (false, true));
    let evicting = node("x", &[], &[("dedicated", "NoExecute")]);
    assert_eq!(should_run(&evicting, &ds), (false, false));
    let troubled = node(
        "t",
        &[],
        &[
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ],
    );
    assert_eq!(should_run(&troubled, &ds), (true, true));
    let preferred = node("p", &[], &[("soft", "PreferNoSchedule")]);
    assert_eq!(should_run(&preferred, &ds), (true, true));
    let tolerant = daemon(PodSpec {
        tolerations: Some(vec![Toleration {
            key: Some("node-role.kubernetes.io/control-plane".to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some("NoSchedule".to_owned()),
            ..Toleration::default()
        }]),
        ..PodSpec::default()
    });
    assert_eq!(should_run(&control_plane, &tolerant), (true, true));
}

#[test]
fn host_network_pods_also_tolerate_an_unavailable_network() {
    let keys = |host: bool| {
        daemon_tolerations(host)
            .into_iter()
            .filter_map(|t| t.key)
            .collect::<Vec<_>>()
    };
    assert!(!keys(false).contains(&"node.kubernetes.io/network-unavailable".to_owned()));
    assert!(keys(true).contains(&"node.kubernetes.io/network-unavailable".to_owned()));
}

#[test]
fn the_template_is_labelled_and_pods_are_pinned_to_their_node() {
    let template = daemon_template(&daemon(PodSpec::default()), "abc");
    let labels = template.metadata.unwrap().labels.unwrap();
    assert_eq!(labels[GENERATION_LABEL], "2");
    assert_eq!(labels[crate::history::REVISION_LABEL], "abc");
    let pod = Pod {
        spec: Some(PodSpec {
            affinity: Some(pin_to_node(None, "kubarium-worker")),
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    assert_eq!(target_node(&pod), Some("kubarium-worker"));
    let n = node("kubarium-worker", &[], &[]);
    let terms = &pod
        .spec
        .as_ref()
        .unwrap()
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()
        .node_selector_terms;
    assert!(matches_terms(terms, &n));
    assert!(!matches_terms(terms, &node("other", &[], &[])));
}
