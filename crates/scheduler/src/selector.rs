//! Label requirements as pods state them about nodes (`nodeSelector`, node affinity terms) and
//! about other pods (topology spread `labelSelector`), read once from the API types so that
//! matching a node is a few string comparisons.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// A map of labels, as nodes and pods carry them.
pub type Labels = BTreeMap<String, String>;

/// How a requirement compares a label (`NodeSelectorOperator` and `LabelSelectorOperator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// The label is present with one of the values.
    In,
    /// The label is absent or has none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label is an integer greater than the single value.
    Gt,
    /// The label is an integer less than the single value.
    Lt,
    /// An operator Kubernetes does not know: the requirement matches nothing, as Kubernetes
    /// treats a selector it cannot parse.
    Invalid,
}

impl Operator {
    fn parse(s: &str) -> Operator {
        match s {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            "Gt" => Operator::Gt,
            "Lt" => Operator::Lt,
            _ => Operator::Invalid,
        }
    }
}

/// One condition on one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The comparison.
    pub op: Operator,
    /// The values compared against (one for `Gt`/`Lt`, none for the existence operators).
    pub values: Vec<String>,
}

impl Requirement {
    /// A requirement from its parts, with the operator spelled as in the API (`In`, `Gt`, ...).
    pub fn new(key: &str, op: &str, values: &[&str]) -> Requirement {
        Requirement {
            key: key.to_string(),
            op: Operator::parse(op),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn from_node(r: &NodeSelectorRequirement) -> Requirement {
        Requirement {
            key: r.key.clone(),
            op: Operator::parse(&r.operator),
            values: r.values.clone().unwrap_or_default(),
        }
    }

    fn from_label(r: &LabelSelectorRequirement) -> Requirement {
        let op = match Operator::parse(&r.operator) {
            // Gt and Lt are node-selector operators only.
            Operator::Gt | Operator::Lt => Operator::Invalid,
            op => op,
        };
        Requirement {
            key: r.key.clone(),
            op,
            values: r.values.clone().unwrap_or_default(),
        }
    }

    /// Whether the labels satisfy the requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.key).map(String::as_str))
    }

    /// Whether a label value (`None` when the label is absent) satisfies the requirement.
    pub fn matches_value(&self, got: Option<&str>) -> bool {
        let listed = |g: &str| self.values.iter().any(|v| v == g);
        let bound = || {
            (self.values.len() == 1)
                .then(|| self.values[0].parse::<i64>().ok())
                .flatten()
        };
        let number = || got.and_then(|g| g.parse::<i64>().ok());
        match self.op {
            Operator::In => got.is_some_and(listed),
            Operator::NotIn => got.is_none_or(|g| !listed(g)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::Gt => matches!((number(), bound()), (Some(n), Some(b)) if n > b),
            Operator::Lt => matches!((number(), bound()), (Some(n), Some(b)) if n < b),
            Operator::Invalid => false,
        }
    }
}

/// One node selector term: every label expression and every field expression must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeTerm {
    /// Requirements on the node's labels.
    pub expressions: Vec<Requirement>,
    /// Requirements on the node's fields; Kubernetes supports only `metadata.name`.
    pub fields: Vec<Requirement>,
}

impl NodeTerm {
    /// Reads a `NodeSelectorTerm`.
    pub fn from_api(t: &NodeSelectorTerm) -> NodeTerm {
        let read = |list: &Option<Vec<NodeSelectorRequirement>>| {
            list.iter()
                .flatten()
                .map(Requirement::from_node)
                .collect::<Vec<_>>()
        };
        NodeTerm {
            expressions: read(&t.match_expressions),
            fields: read(&t.match_fields),
        }
    }

    /// Whether a node with these labels and this name satisfies the term. A term with no
    /// requirements matches no node (Kubernetes' `nodeaffinity.NewNodeSelector`).
    pub fn matches(&self, labels: &Labels, node_name: &str) -> bool {
        if self.expressions.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.expressions.iter().all(|r| r.matches(labels))
            && self
                .fields
                .iter()
                .all(|r| r.key == "metadata.name" && r.matches_value(Some(node_name)))
    }
}

/// A `metav1.LabelSelector` over pod labels; `matchLabels` become `In` requirements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSelector {
    /// All must hold; none means every pod matches.
    pub requirements: Vec<Requirement>,
}

impl PodSelector {
    /// Reads a `LabelSelector`.
    pub fn from_api(s: &LabelSelector) -> PodSelector {
        let mut requirements: Vec<Requirement> = s
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement {
                key: k.clone(),
                op: Operator::In,
                values: vec![v.clone()],
            })
            .collect();
        requirements.extend(
            s.match_expressions
                .iter()
                .flatten()
                .map(Requirement::from_label),
        );
        PodSelector { requirements }
    }

    /// Whether a pod with these labels is selected.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_operator_compares_as_kubernetes_does() {
        let l = labels(&[("zone", "a"), ("gen", "5")]);
        assert!(Requirement::new("zone", "In", &["a", "b"]).matches(&l));
        assert!(!Requirement::new("zone", "In", &["b"]).matches(&l));
        assert!(Requirement::new("zone", "NotIn", &["b"]).matches(&l));
        assert!(Requirement::new("missing", "NotIn", &["b"]).matches(&l));
        assert!(!Requirement::new("zone", "NotIn", &["a"]).matches(&l));
        assert!(Requirement::new("zone", "Exists", &[]).matches(&l));
        assert!(!Requirement::new("missing", "Exists", &[]).matches(&l));
        assert!(Requirement::new("missing", "DoesNotExist", &[]).matches(&l));
        assert!(Requirement::new("gen", "Gt", &["4"]).matches(&l));
        assert!(!Requirement::new("gen", "Gt", &["5"]).matches(&l));
        assert!(Requirement::new("gen", "Lt", &["6"]).matches(&l));
        assert!(!Requirement::new("zone", "Lt", &["6"]).matches(&l));
        assert!(!Requirement::new("zone", "Like", &["a"]).matches(&l));
    }

    #[test]
    fn an_empty_term_matches_no_node_and_fields_match_the_name() {
        let l = labels(&[("zone", "a")]);
        assert!(!NodeTerm::default().matches(&l, "n1"));
        let by_name = NodeTerm {
            expressions: vec![],
            fields: vec![Requirement::new("metadata.name", "In", &["n1"])],
        };
        assert!(by_name.matches(&l, "n1"));
        assert!(!by_name.matches(&l, "n2"));
    }

    #[test]
    fn match_labels_and_expressions_both_apply() {
        let sel = PodSelector::from_api(&LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["db".into()]),
            }]),
        });
        assert!(sel.matches(&labels(&[("app", "web")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!sel.matches(&labels(&[("app", "api")])));
        assert!(PodSelector::default().matches(&labels(&[])));
    }
}
