//! The matching rules the filters and scores share: label selectors, node selector terms
//! and tolerations, as `k8s.io/apimachinery` labels and `component-helpers/scheduling`
//! evaluate them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub(crate) type Labels = BTreeMap<String, String>;

/// Whether `selector` selects `labels`. An empty selector selects everything; a missing
/// one (`None`) nothing, as `metav1.LabelSelectorAsSelector` has it.
pub(crate) fn selects(selector: Option<&LabelSelector>, labels: &Labels) -> bool {
    let Some(selector) = selector else {
        return false;
    };
    let pairs = selector.match_labels.iter().flatten();
    if !pairs.into_iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return false;
    }
    selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    })
}

/// Whether `node` satisfies one node selector requirement on its labels.
fn label_requirement(r: &NodeSelectorRequirement, labels: &Labels) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let value = labels.get(&r.key);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(value), [bound]) = (value, values) else {
                return false;
            };
            match (value.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(v), Ok(b)) if r.operator == "Gt" => v > b,
                (Ok(v), Ok(b)) => v < b,
                _ => false,
            }
        }
        _ => false,
    }
}

/// `matchFields` supports `metadata.name` with In and NotIn only.
fn field_requirement(r: &NodeSelectorRequirement, name: &str) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    if r.key != "metadata.name" {
        return false;
    }
    match r.operator.as_str() {
        "In" => values.iter().any(|v| v == name),
        "NotIn" => !values.iter().any(|v| v == name),
        _ => false,
    }
}

/// Whether a node selector term matches: all its expressions and fields; a term with
/// neither matches no node.
pub(crate) fn term_matches(term: &NodeSelectorTerm, name: &str, labels: &Labels) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions.iter().all(|r| label_requirement(r, labels))
        && fields.iter().all(|r| field_requirement(r, name))
}

/// Whether `toleration` tolerates `taint` (`v1.Toleration.ToleratesTaint`).
pub(crate) fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// The first of `taints` with one of `effects` that no toleration tolerates.
pub(crate) fn untolerated<'t>(
    taints: &'t [Taint],
    tolerations: &[Toleration],
    effects: &[&str],
) -> Option<&'t Taint> {
    taints.iter().find(|taint| {
        effects.contains(&taint.effect.as_str()) && !tolerations.iter().any(|t| tolerates(t, taint))
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_selectors() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(selects(Some(&LabelSelector::default()), &l));
        assert!(!selects(None, &l));
        let s = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["back".into()]),
            }]),
        };
        assert!(selects(Some(&s), &l));
        assert!(!selects(Some(&s), &labels(&[("app", "db")])));
    }

    #[test]
    fn node_selector_terms() {
        let l = labels(&[("disk", "ssd"), ("cores", "8")]);
        let req = |key: &str, op: &str, values: &[&str]| NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
        };
        let term =
            |e: Vec<NodeSelectorRequirement>, f: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
                match_expressions: Some(e),
                match_fields: Some(f),
            };
        assert!(term_matches(
            &term(vec![req("disk", "In", &["ssd"])], vec![]),
            "n",
            &l
        ));
        assert!(term_matches(
            &term(vec![req("cores", "Gt", &["4"])], vec![]),
            "n",
            &l
        ));
        assert!(!term_matches(
            &term(vec![req("cores", "Lt", &["4"])], vec![]),
            "n",
            &l
        ));
        assert!(term_matches(
            &term(vec![req("gpu", "DoesNotExist", &[])], vec![]),
            "n",
            &l
        ));
        assert!(term_matches(
            &term(vec![], vec![req("metadata.name", "In", &["n"])]),
            "n",
            &l
        ));
        assert!(!term_matches(&term(vec![], vec![]), "n", &l));
    }

    #[test]
    fn tolerations() {
        let taint = Taint {
            key: "node-role.kubernetes.io/control-plane".into(),
            effect: "NoSchedule".into(),
            ..Taint::default()
        };
        let exists = Toleration {
            key: Some(taint.key.clone()),
            operator: Some("Exists".into()),
            ..Toleration::default()
        };
        let other = Toleration {
            key: Some("x".into()),
            effect: Some("NoSchedule".into()),
            ..Toleration::default()
        };
        let everything = Toleration {
            operator: Some("Exists".into()),
            ..Toleration::default()
        };
        assert!(tolerates(&exists, &taint));
        assert!(!tolerates(&other, &taint));
        assert!(tolerates(&everything, &taint));
        let taints = [taint];
        assert!(untolerated(&taints, &[other], &["NoSchedule", "NoExecute"]).is_some());
        assert!(untolerated(&taints, &[exists], &["NoSchedule"]).is_none());
    }
}
