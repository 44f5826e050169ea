//! Required node affinity (`requiredDuringSchedulingIgnoredDuringExecution`), the part a
//! DaemonSet must honour to choose its nodes (Kubernetes `nodeaffinity.NodeSelector`).

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, PodSpec};

/// Whether the pod spec's required node affinity admits the node: any one term must match, and
/// a term matches when all its label expressions and field expressions do. No affinity admits
/// every node; a term with no expressions matches nothing, as in Kubernetes.
pub fn required_matches(spec: &PodSpec, node: &Node) -> bool {
    let Some(selector) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
    else {
        return true;
    };
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let name = node.metadata.name.clone().unwrap_or_default();
    selector.node_selector_terms.iter().any(|term| {
        let exprs = term.match_expressions.as_deref().unwrap_or_default();
        let fields = term.match_fields.as_deref().unwrap_or_default();
        if exprs.is_empty() && fields.is_empty() {
            return false;
        }
        exprs
            .iter()
            .all(|r| requirement(r, labels.get(&r.key).map(String::as_str)))
            && fields.iter().all(|r| {
                let value = (r.key == "metadata.name").then_some(name.as_str());
                requirement(r, value)
            })
    })
}

fn requirement(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(v), Some(x)) if v > x)
        }
        "Lt" => {
            matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(v), Some(x)) if v < x)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    fn spec(terms: serde_json::Value) -> PodSpec {
        serde_json::from_value(json!({
            "containers": [],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}
        }))
        .unwrap()
    }

    #[test]
    fn terms_are_ored_and_expressions_anded() {
        let edge = node("a", json!({"zone": "z1", "cores": "8"}));
        let core = node("b", json!({"zone": "z2"}));
        let s = spec(json!([
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}, {"key": "cores", "operator": "Gt", "values": ["4"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["c"]}]}
        ]));
        assert!(required_matches(&s, &edge));
        assert!(!required_matches(&s, &core));
        assert!(required_matches(&s, &node("c", json!({}))));
        let s = spec(
            json!([{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}, {"key": "zone", "operator": "NotIn", "values": ["z1"]}]}]),
        );
        assert!(!required_matches(&s, &edge));
        assert!(required_matches(&s, &core));
        assert!(!required_matches(&spec(json!([{}])), &core));
        assert!(required_matches(&PodSpec::default(), &core));
    }
}
