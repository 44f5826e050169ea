//! `metadata`: names, namespace, labels, annotations, owner references and finalizers on create,
//! and the identity fields that may not change on update (`ValidateObjectMeta[Update]`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::errors::{forbidden, immutable, invalid_str, non_negative, quote};
use super::labels::{qualified_name, validate_annotations, validate_labels};
use super::name::{NameRule, dns1123_label};
use super::{typed, typed_quiet};
use crate::error::FieldError;
use crate::resource::ResourceInfo;

/// Decodes `metadata` of `obj` (absent metadata counts as empty).
fn meta_of(obj: &Value, errs: &mut Vec<FieldError>) -> Option<ObjectMeta> {
    match obj.get("metadata") {
        None | Some(Value::Null) => Some(ObjectMeta::default()),
        Some(meta) => typed(meta, "metadata", errs),
    }
}

/// Validates the metadata of a new or updated object of kind `info`.
pub(super) fn validate(info: &ResourceInfo, obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(meta) = meta_of(obj, errs) else {
        return;
    };
    let rule = NameRule::for_kind(info.kind);
    let name = meta.name.as_deref().unwrap_or("");
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    if !generate_name.is_empty() {
        for msg in rule.check(generate_name, true) {
            errs.push(invalid_str("metadata.generateName", generate_name, msg));
        }
    }
    // Kubernetes generates the name before validating; a valid generateName alone is accepted
    // here so that it does not matter whether the server has generated it yet.
    if name.is_empty() && generate_name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else if !name.is_empty() {
        for msg in rule.check(name, false) {
            errs.push(invalid_str("metadata.name", name, msg));
        }
    }
    validate_namespace(info, meta.namespace.as_deref().unwrap_or(""), errs);
    non_negative("metadata.generation", meta.generation, errs);
    if let Some(labels) = &meta.labels {
        validate_labels(labels, "metadata.labels", errs);
    }
    if let Some(annotations) = &meta.annotations {
        validate_annotations(annotations, "metadata.annotations", errs);
    }
    validate_owner_references(&meta, errs);
    validate_finalizers(meta.finalizers.as_deref().unwrap_or(&[]), errs);
}

fn validate_namespace(info: &ResourceInfo, namespace: &str, errs: &mut Vec<FieldError>) {
    let field = "metadata.namespace";
    if info.namespaced() {
        if namespace.is_empty() {
            errs.push(FieldError::required(
                field,
                format!("{} objects live in a namespace", info.kind),
            ));
        }
        for msg in dns1123_label(namespace)
            .into_iter()
            .filter(|_| !namespace.is_empty())
        {
            errs.push(invalid_str(field, namespace, msg));
        }
    } else if !namespace.is_empty() {
        errs.push(forbidden(
            field,
            format!("not allowed on this type: {} is cluster-scoped", info.kind),
        ));
    }
}

fn validate_owner_references(meta: &ObjectMeta, errs: &mut Vec<FieldError>) {
    let refs = meta.owner_references.as_deref().unwrap_or(&[]);
    // Kubernetes names these fields without the list index.
    for r in refs {
        for (field, value, what) in [
            ("apiVersion", &r.api_version, "version"),
            ("kind", &r.kind, "kind"),
            ("name", &r.name, "name"),
            ("uid", &r.uid, "uid"),
        ] {
            if value.is_empty() {
                errs.push(invalid_str(
                    format!("metadata.ownerReferences.{field}"),
                    value,
                    format!("{what} must not be empty"),
                ));
            }
        }
    }
    let controllers: Vec<String> = refs
        .iter()
        .filter(|r| r.controller == Some(true))
        .map(|r| format!("{}/{}", r.kind, r.name))
        .collect();
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            "metadata.ownerReferences",
            super::errors::json(&refs),
            format!(
                "Only one reference can have Controller set to true. Found \"true\" in references \
                 for {}",
                controllers.join(" and ")
            ),
        ));
    }
}

fn validate_finalizers(finalizers: &[String], errs: &mut Vec<FieldError>) {
    for f in finalizers {
        for msg in qualified_name(f) {
            errs.push(invalid_str("metadata.finalizers", f, msg));
        }
    }
    let has = |name: &str| finalizers.iter().any(|f| f == name);
    if has("orphan") && has("foregroundDeletion") {
        errs.push(invalid_str(
            "metadata.finalizers",
            "orphan",
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// Checks that an update keeps the object's identity: name, namespace and uid.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let get = |v: &Value| -> Option<ObjectMeta> {
        match v.get("metadata") {
            None | Some(Value::Null) => Some(ObjectMeta::default()),
            Some(m) => typed_quiet(m),
        }
    };
    let (Some(new), Some(old)) = (get(obj), get(old)) else {
        return;
    };
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    for (field, new, old) in [
        ("metadata.name", text(&new.name), text(&old.name)),
        (
            "metadata.namespace",
            text(&new.namespace),
            text(&old.namespace),
        ),
    ] {
        if new != old {
            errs.push(immutable(field, quote(&new)));
        }
    }
    // The server fills in the uid; a body without one keeps the stored uid.
    let (new_uid, old_uid) = (text(&new.uid), text(&old.uid));
    if !new_uid.is_empty() && !old_uid.is_empty() && new_uid != old_uid {
        errs.push(immutable("metadata.uid", quote(&new_uid)));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resource::by_kind;

    fn messages(kind: (&str, &str), obj: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(by_kind(kind.0, kind.1).unwrap(), &obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    const POD: (&str, &str) = ("v1", "Pod");

    #[test]
    fn names_follow_the_kind_rule() {
        assert!(
            messages(
                POD,
                json!({"metadata": {"name": "web.v1", "namespace": "default"}})
            )
            .is_empty()
        );
        let m = messages(
            POD,
            json!({"metadata": {"name": "Web_1", "namespace": "default"}}),
        );
        assert_eq!(m.len(), 1);
        assert!(
            m[0].starts_with(
                "metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain must \
                 consist of lower case alphanumeric characters, '-' or '.', and must start and \
                 end with an alphanumeric character (e.g. 'example.com', regex used for \
                 validation is '"
            ),
            "{m:?}"
        );
        let m = messages(("v1", "Namespace"), json!({"metadata": {"name": "a.b"}}));
        assert!(
            m[0].starts_with("metadata.name: Invalid value: \"a.b\": a lowercase RFC 1123 label")
        );
        let m = messages(POD, json!({"metadata": {"namespace": "default"}}));
        assert_eq!(
            m,
            ["metadata.name: Required value: name or generateName is required"]
        );
        assert!(
            messages(
                POD,
                json!({"metadata": {"generateName": "web-", "namespace": "d"}})
            )
            .is_empty()
        );
        let m = messages(
            POD,
            json!({"metadata": {"generateName": "Web-", "namespace": "d"}}),
        );
        assert!(
            m[0].starts_with("metadata.generateName: Invalid value: \"Web-\""),
            "{m:?}"
        );
    }

    #[test]
    fn namespaces_are_required_or_forbidden_by_scope() {
        let m = messages(POD, json!({"metadata": {"name": "p"}}));
        assert_eq!(
            m,
            ["metadata.namespace: Required value: Pod objects live in a namespace"]
        );
        let m = messages(POD, json!({"metadata": {"name": "p", "namespace": "Prod"}}));
        assert!(m[0].starts_with(
            "metadata.namespace: Invalid value: \"Prod\": a lowercase RFC 1123 label"
        ));
        let m = messages(
            ("v1", "Node"),
            json!({"metadata": {"name": "n1", "namespace": "default"}}),
        );
        assert_eq!(
            m,
            ["metadata.namespace: Forbidden: not allowed on this type: Node is cluster-scoped"]
        );
    }

    #[test]
    fn labels_annotations_owners_and_finalizers() {
        let m = messages(
            POD,
            json!({"metadata": {"name": "p", "namespace": "d",
            "labels": {"app": "web", "bad key": "x"},
            "annotations": {"ok/Fine": "x", "-bad": "y"},
            "finalizers": ["example.com/cleanup", "orphan", "foregroundDeletion", "a/b/c"],
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "1", "controller": true},
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs2", "uid": "", "controller": true}
            ]}}),
        );
        let fields: Vec<&str> = m.iter().map(|s| s.split(':').next().unwrap()).collect();
        assert_eq!(
            fields,
            [
                "metadata.labels",
                "metadata.annotations",
                "metadata.ownerReferences.uid",
                "metadata.ownerReferences",
                "metadata.finalizers",
                "metadata.finalizers"
            ],
            "{m:#?}"
        );
        assert!(m[3].contains("Only one reference can have Controller set to true"));
    }

    #[test]
    fn identity_is_immutable_on_update() {
        let old = json!({"metadata": {"name": "web", "namespace": "default", "uid": "u1"}});
        let mut errs = Vec::new();
        validate_update(
            &json!({"metadata": {"name": "web2", "namespace": "default", "uid": "u2"}}),
            &old,
            &mut errs,
        );
        let m: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert_eq!(
            m,
            [
                "metadata.name: Invalid value: \"web2\": field is immutable",
                "metadata.uid: Invalid value: \"u2\": field is immutable"
            ]
        );
        let mut errs = Vec::new();
        validate_update(
            &json!({"metadata": {"name": "web", "namespace": "default"}}),
            &old,
            &mut errs,
        );
        assert!(errs.is_empty());
    }
}
