//! What the kind printers share: the Name and Age columns, reading fields out of raw JSON, and
//! the cell shapes kubectl uses everywhere (`<none>`, label lists, selectors, "a,b,c + 2 more...").

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Column;
use super::duration::human_duration;

/// What kubectl prints for an absent value.
pub(super) const NONE: &str = "<none>";
/// What kubectl prints for a time it cannot know.
pub(super) const UNKNOWN: &str = "<unknown>";

/// The field doc of `metadata.name`, which Kubernetes uses as the Name column's description.
const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating \
resources, although some resources may allow a client to request the generation of an \
appropriate name automatically. Name is primarily intended for creation idempotence and \
configuration definition. Cannot be updated. More info: \
https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// The field doc of `metadata.creationTimestamp`, which Kubernetes uses for the Age column.
const CREATED_DOC: &str = "CreationTimestamp is a timestamp representing the server time when \
this object was created. It is not guaranteed to be set in happens-before order across separate \
operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\n\
Populated by the system. Read-only. Null for lists. More info: \
https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The Name column every kind starts with.
pub(super) const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    description: NAME_DOC,
    priority: 0,
};

/// The Age column: how long ago the object was created.
pub(super) const AGE: Column = col("Age", "string", CREATED_DOC);

/// A column shown by default.
pub(super) const fn col(name: &'static str, kind: &'static str, doc: &'static str) -> Column {
    Column {
        name,
        kind,
        format: "",
        description: doc,
        priority: 0,
    }
}

/// A column shown only with `-o wide`.
pub(super) const fn wide(name: &'static str, kind: &'static str, doc: &'static str) -> Column {
    Column {
        priority: 1,
        ..col(name, kind, doc)
    }
}

/// The string at a JSON pointer, or "" when it is absent or not a string.
pub(super) fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The non-empty string at a JSON pointer.
pub(super) fn some_text<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    Some(text(obj, pointer)).filter(|s| !s.is_empty())
}

/// The integer at a JSON pointer, or 0 (the Go zero value) when it is absent.
pub(super) fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The array at a JSON pointer, or an empty one.
pub(super) fn items<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The object at a JSON pointer; `null` counts as absent, as a nil pointer does in Go.
pub(super) fn object<'a>(obj: &'a Value, pointer: &str) -> Option<&'a Value> {
    obj.pointer(pointer).filter(|v| v.is_object())
}

/// How many keys the map at a JSON pointer has.
pub(super) fn map_len(obj: &Value, pointer: &str) -> usize {
    obj.pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

/// The value, or `<none>` when it is empty.
pub(super) fn or_none(s: &str) -> String {
    if s.is_empty() { NONE } else { s }.to_string()
}

/// The RFC 3339 time (`Time` or `MicroTime`) at a JSON pointer.
pub(super) fn time(obj: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    let raw = some_text(obj, pointer)?;
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long ago a time was, or `<unknown>` without one (kubectl's `translateTimestampSince`).
pub(super) fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or_else(|| UNKNOWN.to_string(), |t| human_duration(now - t))
}

/// The Name cell.
pub(super) fn name(obj: &Value) -> Value {
    json!(text(obj, "/metadata/name"))
}

/// The Age cell.
pub(super) fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    json!(since(time(obj, "/metadata/creationTimestamp"), now))
}

/// A string-to-string map as `k1=v1,k2=v2`, sorted by key, or `<none>` when empty
/// (`labels.FormatLabels`).
pub(super) fn labels(map: Option<&Value>) -> String {
    let Some(map) = map.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return NONE.to_string();
    };
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// A `LabelSelector` as kubectl writes it (`app=web,tier in (a,b),!canary`), requirements
/// sorted by key; "" for an empty selector, and `None` when an operator is unknown.
pub(super) fn selector(sel: &Value) -> Option<String> {
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = sel.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in labels {
            let value = value.as_str().unwrap_or("");
            requirements.push((key.clone(), format!("{key}={value}")));
        }
    }
    for expr in items(sel, "/matchExpressions") {
        let key = text(expr, "/key");
        let mut values: Vec<&str> = items(expr, "/values")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let rendered = match text(expr, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        };
        requirements.push((key.to_string(), rendered));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    let rendered: Vec<String> = requirements.into_iter().map(|(_, r)| r).collect();
    Some(rendered.join(","))
}

/// A selector cell as `metav1.FormatLabelSelector` writes it: `<none>` when absent or empty,
/// `<error>` when it cannot be read.
pub(super) fn selector_or_none(sel: Option<&Value>) -> String {
    let Some(sel) = sel.filter(|s| s.is_object()) else {
        return NONE.to_string();
    };
    match selector(sel) {
        Some(s) if s.is_empty() => NONE.to_string(),
        Some(s) => s,
        None => "<error>".to_string(),
    }
}

/// The first `max` entries joined by commas, then " + N more..." for the rest; `<unset>` when
/// there are none (kubectl's `listWithMoreString`).
pub(super) fn first_few(list: &[String], max: usize) -> String {
    if list.is_empty() {
        return "<unset>".to_string();
    }
    let shown = list[..list.len().min(max)].join(",");
    if list.len() > max {
        format!("{shown} + {} more...", list.len() - max)
    } else {
        shown
    }
}

/// The Containers and Images cells of a pod template: names and images, comma-separated.
pub(super) fn containers(template_spec: &Value) -> (Value, Value) {
    let containers = items(template_spec, "/containers");
    let join = |field: &str| -> String {
        let parts: Vec<&str> = containers.iter().map(|c| text(c, field)).collect();
        parts.join(",")
    };
    (json!(join("/name")), json!(join("/image")))
}

/// `host:port`, with brackets around an IPv6 host (Go's `net.JoinHostPort`).
pub(super) fn host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A resource quantity as stored (`"500m"`, `"1Gi"`); numbers are printed as they are.
pub(super) fn quantity(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_empty_maps_read_none() {
        assert_eq!(
            labels(Some(&json!({"tier": "fe", "app": "web"}))),
            "app=web,tier=fe"
        );
        assert_eq!(labels(Some(&json!({}))), "<none>");
        assert_eq!(labels(None), "<none>");
    }

    #[test]
    fn selectors_render_like_kubectl() {
        let sel = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]}
            ]
        });
        assert_eq!(
            selector(&sel).unwrap(),
            "app=web,!canary,env notin (dev),tier in (be,fe),zone"
        );
        assert_eq!(selector_or_none(Some(&json!({}))), "<none>");
        assert_eq!(selector_or_none(None), "<none>");
        assert_eq!(selector_or_none(Some(&Value::Null)), "<none>");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Near"}]});
        assert_eq!(selector_or_none(Some(&bad)), "<error>");
    }

    #[test]
    fn long_lists_are_cut_after_the_first_few() {
        let list: Vec<String> = (1..=5).map(|i| format!("10.0.0.{i}")).collect();
        assert_eq!(
            first_few(&list, 3),
            "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."
        );
        assert_eq!(first_few(&list[..3], 3), "10.0.0.1,10.0.0.2,10.0.0.3");
        assert_eq!(first_few(&[], 3), "<unset>");
    }

    #[test]
    fn ipv6_hosts_get_brackets() {
        assert_eq!(host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(host_port("fd00::1", 80), "[fd00::1]:80");
    }
}
