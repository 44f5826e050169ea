//! Reading a `metav1.LabelSelector` object into requirements, as Kubernetes'
//! `LabelSelectorAsSelector` does: each `matchLabels` entry is `key=value`, each
//! `matchExpressions` item is `In`, `NotIn`, `Exists` or `DoesNotExist`.

use serde_json::Value;

use super::{Invalid, Operator, Requirement};
use crate::selector::SelectorError;

const OPERATORS: &str = "In, NotIn, Exists, DoesNotExist";

fn invalid(field: impl Into<String>, detail: impl Into<String>) -> SelectorError {
    SelectorError::InvalidObject {
        field: field.into(),
        detail: detail.into(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Builds the requirement, naming `field` in the error when it is invalid.
fn requirement(
    key: &str,
    op: Operator,
    values: Vec<String>,
    field: &str,
) -> Result<Requirement, SelectorError> {
    Requirement::new(key.to_string(), op, values).map_err(|e| match e {
        Invalid::Key(reason) => SelectorError::InvalidKey {
            key: key.to_string(),
            location: field.to_string(),
            reason,
        },
        Invalid::Value(value, reason) => SelectorError::InvalidValue {
            key: key.to_string(),
            value,
            location: field.to_string(),
            reason,
        },
        Invalid::Shape(detail) => invalid(field, detail),
    })
}

/// The requirements of a selector object; null and `{}` give none (everything matches).
pub(super) fn from_object(sel: &Value) -> Result<Vec<Requirement>, SelectorError> {
    let obj = match sel {
        Value::Null => return Ok(vec![]),
        Value::Object(obj) => obj,
        other => {
            return Err(invalid(
                "selector",
                format!(
                    "must be an object with matchLabels and matchExpressions, not {}",
                    kind_of(other)
                ),
            ));
        }
    };
    let mut out = Vec::new();
    match obj.get("matchLabels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(labels)) => {
            for (key, value) in labels {
                let field = format!("matchLabels[{key}]");
                let Some(value) = value.as_str() else {
                    return Err(invalid(
                        field,
                        format!("must be a string, not {}", kind_of(value)),
                    ));
                };
                out.push(requirement(
                    key,
                    Operator::Equals,
                    vec![value.to_string()],
                    &field,
                )?);
            }
        }
        Some(other) => {
            return Err(invalid(
                "matchLabels",
                format!(
                    "must be an object of label keys to values, not {}",
                    kind_of(other)
                ),
            ));
        }
    }
    match obj.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                out.push(expression(item, &format!("matchExpressions[{i}]"))?);
            }
        }
        Some(other) => {
            return Err(invalid(
                "matchExpressions",
                format!("must be a list, not {}", kind_of(other)),
            ));
        }
    }
    Ok(out)
}

fn expression(item: &Value, at: &str) -> Result<Requirement, SelectorError> {
    let Some(item) = item.as_object() else {
        return Err(invalid(
            at,
            format!(
                "must be an object with key, operator and values, not {}",
                kind_of(item)
            ),
        ));
    };
    let key = match item.get("key") {
        Some(Value::String(k)) => k.as_str(),
        Some(other) => {
            return Err(invalid(
                format!("{at}.key"),
                format!("must be a string, not {}", kind_of(other)),
            ));
        }
        None => return Err(invalid(format!("{at}.key"), "is required")),
    };
    let op = match item.get("operator").and_then(Value::as_str) {
        Some("In") => Operator::In,
        Some("NotIn") => Operator::NotIn,
        Some("Exists") => Operator::Exists,
        Some("DoesNotExist") => Operator::DoesNotExist,
        Some(other) => {
            return Err(invalid(
                format!("{at}.operator"),
                format!("{other:?} is not a valid label selector operator; valid: {OPERATORS}"),
            ));
        }
        None => {
            return Err(invalid(
                format!("{at}.operator"),
                format!("is required and must be one of {OPERATORS}"),
            ));
        }
    };
    let mut values = Vec::new();
    match item.get("values") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (j, v) in list.iter().enumerate() {
                match v.as_str() {
                    Some(s) => values.push(s.to_string()),
                    None => {
                        return Err(invalid(
                            format!("{at}.values[{j}]"),
                            format!("must be a string, not {}", kind_of(v)),
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(invalid(
                format!("{at}.values"),
                format!("must be a list of strings, not {}", kind_of(other)),
            ));
        }
    }
    requirement(key, op, values, at)
}

#[cfg(test)]
mod tests {
    use crate::selector::SelectorError;
    use crate::selector::label::LabelSelector;
    use serde_json::{Value, json};

    fn from(v: Value) -> Result<LabelSelector, SelectorError> {
        LabelSelector::from_label_selector(&v)
    }

    #[test]
    fn null_and_empty_select_everything() {
        for v in [Value::Null, json!({}), json!({"matchLabels": null})] {
            let s = from(v).unwrap();
            assert!(s.is_empty());
            assert!(s.matches(&json!({"x": "y"})));
        }
    }

    #[test]
    fn labels_and_expressions_combine() {
        let s = from(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "team", "operator": "Exists"},
                {"key": "old", "operator": "DoesNotExist", "values": []}
            ]
        }))
        .unwrap();
        assert_eq!(
            s.to_string(),
            "app=web,env notin (prod),!old,team,tier in (edge,front)"
        );
        let good = json!({"app": "web", "tier": "edge", "team": "a"});
        assert!(s.matches(&good));
        let mut prod = good.clone();
        prod["env"] = json!("prod");
        assert!(!s.matches(&prod));
        let mut old = good.clone();
        old["old"] = json!("1");
        assert!(!s.matches(&old));
        assert!(!s.matches(&json!({"app": "web", "tier": "edge"})));
        assert!(!s.matches(&Value::Null));
    }

    #[test]
    fn errors_name_the_field() {
        // (selector object, text the message must contain)
        let table = [
            (json!("app=web"), "selector: must be an object"),
            (
                json!({"matchLabels": ["a"]}),
                "matchLabels: must be an object",
            ),
            (
                json!({"matchLabels": {"a": 1}}),
                "matchLabels[a]: must be a string",
            ),
            (
                json!({"matchExpressions": {}}),
                "matchExpressions: must be a list",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
                "matchExpressions[0].operator: \"Gt\" is not a valid label selector operator; valid: In, NotIn",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
                "matchExpressions[0]: for 'in' and 'notin' the set of values can't be empty",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "matchExpressions[0]: existence operators take no values",
            ),
            (
                json!({"matchExpressions": [{"operator": "Exists"}]}),
                "matchExpressions[0].key: is required",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}),
                "matchExpressions[0].values[0]: must be a string",
            ),
        ];
        for (sel, want) in table {
            let msg = from(sel.clone()).expect_err(&sel.to_string()).to_string();
            assert!(msg.contains(want), "{sel}: {msg}");
        }
        let e = from(json!({"matchLabels": {"bad key": "x"}})).unwrap_err();
        assert!(
            matches!(&e, SelectorError::InvalidKey { location, .. } if location == "matchLabels[bad key]"),
            "{e}"
        );
        let e = from(json!({"matchLabels": {"a": "-x"}})).unwrap_err();
        assert!(matches!(e, SelectorError::InvalidValue { .. }), "{e}");
    }
}
