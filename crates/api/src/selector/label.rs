//! Label selectors: the `labelSelector` list parameter and the `metav1.LabelSelector` objects in
//! specs (Deployment `spec.selector`, ...), and whether a set of labels matches one.

mod object;
mod parse;

use std::fmt;

use serde_json::Value;

use super::SelectorError;
use super::names::{check_key, check_value};

/// How a requirement compares a label, as in k8s.io/apimachinery `pkg/selection`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (a,b)`: the label is present with one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>3`: the label is an integer greater than the value.
    GreaterThan,
    /// `key<3`: the label is an integer less than the value.
    LessThan,
}

/// Why a requirement is invalid, before the caller says where it came from.
#[derive(Debug)]
pub(crate) enum Invalid {
    /// The key is not a qualified name.
    Key(String),
    /// One value is not a label value (or not an integer for `>` and `<`).
    Value(String, String),
    /// The number of values does not suit the operator.
    Shape(String),
}

/// One condition on one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Requirement {
    key: String,
    op: Operator,
    /// Sorted and without duplicates, as Kubernetes keeps them.
    values: Vec<String>,
}

impl Requirement {
    /// A requirement, checked as Kubernetes' `NewRequirement` checks it.
    pub(crate) fn new(key: String, op: Operator, values: Vec<String>) -> Result<Self, Invalid> {
        check_key(&key).map_err(Invalid::Key)?;
        let count = values.len();
        match op {
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if count != 1 => {
                return Err(Invalid::Shape(format!(
                    "exact-match operators take exactly one value, got {count}"
                )));
            }
            Operator::In | Operator::NotIn if count == 0 => {
                return Err(Invalid::Shape(
                    "for 'in' and 'notin' the set of values can't be empty; give at least one \
                     value, as in 'key in (a,b)'"
                        .into(),
                ));
            }
            Operator::Exists | Operator::DoesNotExist if count != 0 => {
                return Err(Invalid::Shape(format!(
                    "existence operators take no values, got {count}"
                )));
            }
            Operator::GreaterThan | Operator::LessThan => {
                if count != 1 {
                    return Err(Invalid::Shape(format!(
                        "'>' and '<' take exactly one value, got {count}"
                    )));
                }
                if values[0].parse::<i64>().is_err() {
                    return Err(Invalid::Value(
                        values[0].clone(),
                        "for '>' and '<' the value must be an integer".into(),
                    ));
                }
            }
            _ => {}
        }
        if !matches!(op, Operator::GreaterThan | Operator::LessThan) {
            for v in &values {
                check_value(v).map_err(|reason| Invalid::Value(v.clone(), reason))?;
            }
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Requirement { key, op, values })
    }

    fn matches(&self, labels: &Value) -> bool {
        let got = labels.get(&self.key).and_then(Value::as_str);
        let listed = |v: &str| self.values.binary_search_by(|x| x.as_str().cmp(v)).is_ok();
        let number = || got.and_then(|g| g.parse::<i64>().ok());
        let bound = || self.values[0].parse::<i64>().unwrap_or_default();
        match self.op {
            Operator::Equals | Operator::DoubleEquals | Operator::In => got.is_some_and(listed),
            Operator::NotEquals | Operator::NotIn => got.is_none_or(|g| !listed(g)),
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
            Operator::GreaterThan => number().is_some_and(|n| n > bound()),
            Operator::LessThan => number().is_some_and(|n| n < bound()),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let one = self.values.first().map(String::as_str).unwrap_or_default();
        let set = self.values.join(",");
        match self.op {
            Operator::Equals => write!(f, "{key}={one}"),
            Operator::DoubleEquals => write!(f, "{key}=={one}"),
            Operator::NotEquals => write!(f, "{key}!={one}"),
            Operator::In => write!(f, "{key} in ({set})"),
            Operator::NotIn => write!(f, "{key} notin ({set})"),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::GreaterThan => write!(f, "{key}>{one}"),
            Operator::LessThan => write!(f, "{key}<{one}"),
        }
    }
}

/// A label selector: a conjunction of requirements on labels. The default selector has none and
/// matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// Sorted by key (stably), as Kubernetes sorts them, so the printed form is canonical.
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector { requirements }
    }

    /// Parses the Kubernetes selector syntax of the `labelSelector` parameter: comma-separated
    /// `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a` (and `a>1`, `a<1`), with
    /// keys and values checked as Kubernetes checks them. An empty string selects everything.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        parse::parse(s).map(Self::from_requirements)
    }

    /// Reads a `metav1.LabelSelector` object (`matchLabels` and `matchExpressions`). Null and
    /// `{}` select everything.
    pub fn from_label_selector(sel: &Value) -> Result<Self, SelectorError> {
        object::from_object(sel).map(Self::from_requirements)
    }

    /// Whether an object's labels satisfy every requirement. `labels` is the `metadata.labels`
    /// object, or `Null` when the object has none.
    pub fn matches(&self, labels: &Value) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True when the selector has no requirements and so matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical form Kubernetes prints: requirements sorted by key, sets sorted
    /// (`app=web,tier in (a,b)`); the empty selector prints as the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_form_matches_as_kubernetes_does() {
        let web = json!({"app": "web", "tier": "front", "n": "5"});
        let db = json!({"app": "db"});
        let none = Value::Null;
        // (selector, matches web, matches db, matches an object without labels)
        let table = [
            ("", true, true, true),
            ("app=web", true, false, false),
            ("app==web", true, false, false),
            ("app!=web", false, true, true),
            ("app in (web,cache)", true, false, false),
            ("app notin (web)", false, true, true),
            ("tier", true, false, false),
            ("!tier", false, true, true),
            ("app=web,tier=front", true, false, false),
            ("app=web,tier=back", false, false, false),
            ("app in (web,db),!tier", false, true, false),
            ("n>4", true, false, false),
            ("n<5", false, false, false),
            ("app=", false, false, false),
        ];
        for (sel, on_web, on_db, on_none) in table {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&web), on_web, "{sel} on web");
            assert_eq!(s.matches(&db), on_db, "{sel} on db");
            assert_eq!(s.matches(&none), on_none, "{sel} on no labels");
        }
        let empty_value = LabelSelector::parse("app=").unwrap();
        assert!(empty_value.matches(&json!({"app": ""})));
    }

    #[test]
    fn prints_the_canonical_form() {
        let table = [
            ("", ""),
            ("tier in (b, a, a),app=web", "app=web,tier in (a,b)"),
            ("  app == web ,  ! old", "app==web,!old"),
            ("z notin (y),a!=b,m", "a!=b,m,z notin (y)"),
            ("a>3", "a>3"),
            ("app=in", "app=in"),
        ];
        for (input, want) in table {
            assert_eq!(
                LabelSelector::parse(input).unwrap().to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn default_and_empty_match_everything() {
        let s = LabelSelector::default();
        assert!(s.is_empty());
        assert!(s.matches(&json!({"a": "b"})));
        assert!(LabelSelector::parse("  ").unwrap().is_empty());
        assert!(!LabelSelector::parse("a").unwrap().is_empty());
    }

    #[test]
    fn requirement_shapes_are_checked() {
        let shape = |op, values: &[&str]| {
            let values = values.iter().map(|v| v.to_string()).collect();
            Requirement::new("k".into(), op, values)
        };
        assert!(matches!(shape(Operator::In, &[]), Err(Invalid::Shape(_))));
        assert!(matches!(
            shape(Operator::Equals, &["a", "b"]),
            Err(Invalid::Shape(_))
        ));
        assert!(matches!(
            shape(Operator::Exists, &["a"]),
            Err(Invalid::Shape(_))
        ));
        assert!(matches!(
            shape(Operator::GreaterThan, &["x"]),
            Err(Invalid::Value(..))
        ));
        assert!(matches!(
            shape(Operator::In, &["-bad"]),
            Err(Invalid::Value(..))
        ));
        assert!(shape(Operator::NotIn, &["a", "a"]).is_ok());
    }
}
