//! Field selectors: the `fieldSelector` list parameter (`spec.nodeName=n1,status.phase!=Failed`)
//! and whether an object matches one. The selectable fields per kind are the ones Kubernetes'
//! registries expose (`pkg/registry/<group>/<kind>/strategy.go`, `...ToSelectableFields`).

use serde_json::Value;

use super::SelectorError;
use crate::resource::ResourceInfo;

/// A field one may select on: its selector name, where it lives in the object, and the text it
/// compares as when the object does not set it.
struct Selectable {
    name: &'static str,
    path: &'static [&'static str],
    /// Kubernetes reads typed structs, so an unset bool is `false` and an unset count is `0`.
    missing: &'static str,
}

const fn field(name: &'static str, path: &'static [&'static str]) -> Selectable {
    Selectable {
        name,
        path,
        missing: "",
    }
}

const fn typed(
    name: &'static str,
    path: &'static [&'static str],
    missing: &'static str,
) -> Selectable {
    Selectable {
        name,
        path,
        missing,
    }
}

static COMMON: &[Selectable] = &[
    field("metadata.name", &["metadata", "name"]),
    field("metadata.namespace", &["metadata", "namespace"]),
];

static PODS: &[Selectable] = &[
    field("spec.nodeName", &["spec", "nodeName"]),
    field("spec.restartPolicy", &["spec", "restartPolicy"]),
    field("spec.schedulerName", &["spec", "schedulerName"]),
    field("spec.serviceAccountName", &["spec", "serviceAccountName"]),
    typed("spec.hostNetwork", &["spec", "hostNetwork"], "false"),
    field("status.phase", &["status", "phase"]),
    field("status.podIP", &["status", "podIP"]),
    field("status.nominatedNodeName", &["status", "nominatedNodeName"]),
];

static NODES: &[Selectable] = &[typed(
    "spec.unschedulable",
    &["spec", "unschedulable"],
    "false",
)];

static EVENTS: &[Selectable] = &[
    field("involvedObject.kind", &["involvedObject", "kind"]),
    field("involvedObject.namespace", &["involvedObject", "namespace"]),
    field("involvedObject.name", &["involvedObject", "name"]),
    field("involvedObject.uid", &["involvedObject", "uid"]),
    field(
        "involvedObject.apiVersion",
        &["involvedObject", "apiVersion"],
    ),
    field(
        "involvedObject.resourceVersion",
        &["involvedObject", "resourceVersion"],
    ),
    field("involvedObject.fieldPath", &["involvedObject", "fieldPath"]),
    field("reason", &["reason"]),
    // Kubernetes maps `reportingComponent` to the `reportingComponent` JSON field (Go's
    // ReportingController) and `source` to `source.component`.
    field("reportingComponent", &["reportingComponent"]),
    field("source", &["source", "component"]),
    field("type", &["type"]),
];

static SECRETS: &[Selectable] = &[field("type", &["type"])];

static NAMESPACES: &[Selectable] = &[field("status.phase", &["status", "phase"])];

static REPLICASETS: &[Selectable] = &[typed("status.replicas", &["status", "replicas"], "0")];

/// The fields of a kind beyond `metadata.name` and `metadata.namespace`.
fn kind_fields(info: &ResourceInfo) -> &'static [Selectable] {
    match (info.group, info.plural) {
        ("", "pods") => PODS,
        ("", "nodes") => NODES,
        ("", "events") => EVENTS,
        ("", "secrets") => SECRETS,
        ("", "namespaces") => NAMESPACES,
        ("apps", "replicasets") => REPLICASETS,
        _ => &[],
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Equals,
    NotEquals,
}

#[derive(Clone, Debug)]
struct Term {
    path: &'static [&'static str],
    missing: &'static str,
    op: Op,
    value: String,
}

impl Term {
    fn matches(&self, obj: &Value) -> bool {
        let found = self.path.iter().try_fold(obj, |v, k| v.get(k));
        let text = match found {
            None | Some(Value::Null) => self.missing.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => other.to_string(),
        };
        (text == self.value) == (self.op == Op::Equals)
    }
}

/// A field selector: a conjunction of `field=value` and `field!=value` terms over the fields a
/// kind allows. The default selector has no terms and matches everything.
#[derive(Clone, Debug, Default)]
pub struct FieldSelector {
    terms: Vec<Term>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` syntax: comma-separated `f=v`, `f==v` or `f!=v`, where values
    /// may escape `\,`, `\=` and `\\` as Kubernetes allows. Every field must be one the kind of
    /// `info` supports; otherwise the error names the field, the kind and the allowed fields.
    pub fn parse(s: &str, info: &ResourceInfo) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for (start, part) in split_terms(s) {
            if part.trim().is_empty() {
                continue;
            }
            let (lhs, op, rhs, rhs_start) = split_term(part).ok_or_else(|| {
                syntax(
                    s,
                    start,
                    format!("the term {part:?} has no operator"),
                    "field=value, field==value or field!=value",
                )
            })?;
            let name = lhs.trim();
            if name.is_empty() {
                return Err(syntax(
                    s,
                    start,
                    format!("the term {part:?} has no field name"),
                    "a field name before the operator, as in metadata.name=web",
                ));
            }
            let lead = rhs.chars().take_while(|c| c.is_whitespace()).count();
            let value = unescape(rhs.trim()).map_err(|(offset, problem)| {
                syntax(
                    s,
                    start + rhs_start + lead + offset,
                    problem,
                    "a value where ',', '=' and '\\' are escaped as '\\,', '\\=' and '\\\\'",
                )
            })?;
            let found = COMMON
                .iter()
                .chain(kind_fields(info))
                .find(|f| f.name == name)
                .ok_or_else(|| SelectorError::UnsupportedField {
                    field: name.to_string(),
                    kind: info.kind.to_string(),
                    allowed: allowed(info),
                })?;
            terms.push(Term {
                path: found.path,
                missing: found.missing,
                op,
                value,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Whether an object satisfies every term. A field the object does not set compares as the
    /// empty string (as `false` for boolean fields and `0` for counts); booleans compare as
    /// `true` and `false`.
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|t| t.matches(obj))
    }

    /// True when the selector has no terms and so matches everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value a `field=value` term requires of the field at `path` (`["spec", "nodeName"]`
    /// for `spec.nodeName`), so that an index can answer instead of a scan. `None` when no
    /// equality term names that field.
    pub fn required_value(&self, path: &[&str]) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.op == Op::Equals && t.path == path)
            .map(|t| t.value.as_str())
    }
}

fn syntax(input: &str, position: usize, problem: String, expected: &str) -> SelectorError {
    SelectorError::Syntax {
        input: input.to_string(),
        position,
        problem,
        expected: expected.to_string(),
    }
}

/// The fields a kind can be selected by, for error messages.
fn allowed(info: &ResourceInfo) -> String {
    COMMON
        .iter()
        .chain(kind_fields(info))
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits on commas that are not escaped, with each part's start in characters.
fn split_terms(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start_byte = 0;
    let mut start_char = 0;
    let mut escaped = false;
    for (n, (i, c)) in s.char_indices().enumerate() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            out.push((start_char, &s[start_byte..i]));
            start_byte = i + 1;
            start_char = n + 1;
        }
    }
    out.push((start_char, &s[start_byte..]));
    out
}

/// Finds the first unescaped `!=`, `==` or `=`: (field, operator, value, value start in chars).
fn split_term(term: &str) -> Option<(&str, Op, &str, usize)> {
    let mut escaped = false;
    for (n, (i, c)) in term.char_indices().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        let rest = &term[i..];
        let (op, width) = if c == '\\' {
            escaped = true;
            continue;
        } else if rest.starts_with("!=") {
            (Op::NotEquals, 2)
        } else if rest.starts_with("==") {
            (Op::Equals, 2)
        } else if c == '=' {
            (Op::Equals, 1)
        } else {
            continue;
        };
        return Some((&term[..i], op, &term[i + width..], n + width));
    }
    None
}

/// Undoes Kubernetes' field value escaping; the error gives the offset in characters.
fn unescape(s: &str) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(s.len());
    let mut escape_at = None;
    for (n, c) in s.chars().enumerate() {
        if escape_at.take().is_some() {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err((n - 1, format!("invalid escape sequence '\\{c}'"))),
            }
            continue;
        }
        match c {
            '\\' => escape_at = Some(n),
            '=' | ',' => return Err((n, format!("unescaped '{c}' in the value {s:?}"))),
            _ => out.push(c),
        }
    }
    if let Some(n) = escape_at {
        return Err((n, "the value ends with a lone '\\'".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{by_kind, by_plural};
    use serde_json::json;

    fn pods() -> &'static ResourceInfo {
        by_plural("", "v1", "pods").unwrap()
    }

    #[test]
    fn required_values_are_the_equality_terms_only() {
        let sel = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed", pods()).unwrap();
        assert_eq!(sel.required_value(&["spec", "nodeName"]), Some("n1"));
        assert_eq!(
            sel.required_value(&["status", "phase"]),
            None,
            "!= is not required"
        );
        let not = FieldSelector::parse("spec.nodeName!=n1", pods()).unwrap();
        assert_eq!(not.required_value(&["spec", "nodeName"]), None);
        assert_eq!(
            FieldSelector::default().required_value(&["spec", "nodeName"]),
            None
        );
    }

    #[test]
    fn pod_fields_match_as_kubernetes_does() {
        let pod = json!({
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "hostNetwork": true},
            "status": {"phase": "Running", "podIP": "10.0.0.5"}
        });
        let pending = json!({"metadata": {"name": "web-2", "namespace": "default"}, "spec": {}});
        // (selector, matches pod, matches pending)
        let table = [
            ("", true, true),
            ("metadata.name=web-1", true, false),
            ("metadata.name==web-1", true, false),
            ("metadata.name!=web-1", false, true),
            ("metadata.namespace=default", true, true),
            ("spec.nodeName=n1,status.phase=Running", true, false),
            ("spec.nodeName=", false, true),
            ("spec.nodeName!=", true, false),
            ("spec.hostNetwork=true", true, false),
            ("spec.hostNetwork=false", false, true),
            ("status.podIP=10.0.0.5", true, false),
            ("status.phase!=Failed,status.phase!=Succeeded", true, true),
            ("spec.restartPolicy=Always", true, false),
            ("status.nominatedNodeName=", true, true),
            (" metadata.name = web-1 ,, ", true, false),
        ];
        for (sel, on_pod, on_pending) in table {
            let s = FieldSelector::parse(sel, pods()).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&pod), on_pod, "{sel} on the running pod");
            assert_eq!(s.matches(&pending), on_pending, "{sel} on the pending pod");
        }
    }

    #[test]
    fn other_kinds_expose_their_fields() {
        let node = by_kind("v1", "Node").unwrap();
        let s = FieldSelector::parse("spec.unschedulable=false", node).unwrap();
        assert!(s.matches(&json!({"spec": {}})));
        assert!(!s.matches(&json!({"spec": {"unschedulable": true}})));

        let events = by_kind("v1", "Event").unwrap();
        let s = FieldSelector::parse(
            "involvedObject.kind=Pod,involvedObject.name=web,source=kubelet,type=Warning,reportingComponent=k",
            events,
        )
        .unwrap();
        assert!(s.matches(&json!({
            "involvedObject": {"kind": "Pod", "name": "web"},
            "source": {"component": "kubelet"}, "type": "Warning", "reportingComponent": "k"
        })));
        assert!(!s.matches(&json!({"involvedObject": {"kind": "Pod", "name": "web"}})));

        let rs = by_kind("apps/v1", "ReplicaSet").unwrap();
        let s = FieldSelector::parse("status.replicas=0", rs).unwrap();
        assert!(s.matches(&json!({"status": {}})));
        assert!(!s.matches(&json!({"status": {"replicas": 3}})));
        assert!(
            FieldSelector::parse("status.replicas=3", rs)
                .unwrap()
                .matches(&json!({"status": {"replicas": 3}}))
        );

        let secrets = by_kind("v1", "Secret").unwrap();
        assert!(
            FieldSelector::parse("type=Opaque", secrets)
                .unwrap()
                .matches(&json!({"type": "Opaque"}))
        );
        let ns = by_kind("v1", "Namespace").unwrap();
        assert!(FieldSelector::parse("status.phase=Active", ns).is_ok());
        let lease = by_kind("coordination.k8s.io/v1", "Lease").unwrap();
        assert!(FieldSelector::parse("metadata.name=x", lease).is_ok());
    }

    #[test]
    fn unsupported_fields_name_the_kind_and_the_allowed_list() {
        let deploy = by_kind("apps/v1", "Deployment").unwrap();
        let e = FieldSelector::parse("spec.replicas=2", deploy).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field label not supported: spec.replicas (Deployment can be selected by: \
             metadata.name, metadata.namespace)"
        );
        let e = FieldSelector::parse("metadata.name=a,spec.nodename=n1", pods()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("field label not supported: spec.nodename"),
            "{msg}"
        );
        assert!(msg.contains("spec.nodeName, spec.restartPolicy"), "{msg}");
        assert!(FieldSelector::parse("type=Opaque", pods()).is_err());
    }

    #[test]
    fn syntax_errors_and_escapes() {
        // (selector, position, text the message must contain)
        let table = [
            ("metadata.name", 0, "has no operator"),
            ("metadata.name=a,status.phase", 16, "has no operator"),
            ("=a", 0, "no field name"),
            ("metadata.name=a=b", 15, "unescaped '='"),
            ("metadata.name=a\\qb", 15, "invalid escape sequence '\\q'"),
            ("metadata.name=ab\\", 16, "lone '\\'"),
        ];
        for (sel, position, want) in table {
            let e = FieldSelector::parse(sel, pods()).expect_err(sel);
            let msg = e.to_string();
            assert!(
                matches!(e, SelectorError::Syntax { position: p, .. } if p == position),
                "{sel}: {msg}"
            );
            assert!(msg.contains(want), "{sel}: {msg}");
        }
        let s = FieldSelector::parse("metadata.name=a\\,b\\=c\\\\d", pods()).unwrap();
        assert!(s.matches(&json!({"metadata": {"name": "a,b=c\\d"}})));
        assert!(FieldSelector::default().is_empty());
        assert!(!s.is_empty());
    }
}
