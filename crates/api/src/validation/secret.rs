//! Secrets (`ValidateSecret`, `ValidateSecretUpdate`): keys and size as for ConfigMaps, the keys
//! each well-known `type` requires, and what may not change.

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use super::configmap::{MAX_DATA_BYTES, validate_immutable, validate_keys};
use super::errors::{immutable, quote, too_long};
use super::{typed, typed_quiet};
use crate::error::FieldError;

/// The data keys each built-in Secret type needs: all of them, or (for basic auth) any one.
fn required_keys(ty: &str) -> (&'static [&'static str], bool) {
    match ty {
        "kubernetes.io/dockercfg" => (&[".dockercfg"], true),
        "kubernetes.io/dockerconfigjson" => (&[".dockerconfigjson"], true),
        "kubernetes.io/basic-auth" => (&["username", "password"], false),
        "kubernetes.io/ssh-auth" => (&["ssh-privatekey"], true),
        "kubernetes.io/tls" => (&["tls.crt", "tls.key"], true),
        _ => (&[], true),
    }
}

/// Validates a new or updated Secret. `stringData` counts as data: defaulting folds it in, and
/// validation gives the same answer before or after.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(secret) = typed::<Secret>(obj, "", errs) else {
        return;
    };
    let mut total = validate_keys(secret.data.as_ref(), "data", |b| b.0.len(), errs);
    total += validate_keys(secret.string_data.as_ref(), "stringData", String::len, errs);
    if total > MAX_DATA_BYTES {
        errs.push(too_long("data", MAX_DATA_BYTES));
    }
    let has = |key: &str| {
        secret.data.as_ref().is_some_and(|d| d.contains_key(key))
            || secret
                .string_data
                .as_ref()
                .is_some_and(|d| d.contains_key(key))
    };
    let ty = secret.type_.as_deref().unwrap_or("Opaque");
    let (keys, all) = required_keys(ty);
    let missing: Vec<&&str> = keys.iter().filter(|k| !has(k)).collect();
    if (all && !missing.is_empty()) || (!all && missing.len() == keys.len()) {
        for key in missing {
            errs.push(FieldError::required(
                format!("data[{key}]"),
                format!("a Secret of type {ty} needs the key {key}"),
            ));
        }
    }
    if ty == "kubernetes.io/service-account-token" {
        let key = "kubernetes.io/service-account.name";
        let annotated = secret
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.get(key).is_some_and(|v| !v.is_empty()));
        if !annotated {
            errs.push(FieldError::required(
                format!("metadata.annotations[{key}]"),
                "the service account the token belongs to",
            ));
        }
    }
}

/// Checks an update against the stored Secret: the type is fixed, and an immutable Secret keeps
/// its data.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (Some(new), Some(old)) = (typed_quiet::<Secret>(obj), typed_quiet::<Secret>(old)) else {
        return;
    };
    let ty = |s: &Secret| s.type_.clone().unwrap_or_else(|| "Opaque".to_string());
    if ty(&new) != ty(&old) {
        errs.push(immutable("type", quote(&ty(&new))));
    }
    let changed = [("data", new.data != old.data || new.string_data.is_some())];
    validate_immutable(old.immutable, new.immutable, &changed, errs);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(obj: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn typed_secrets_need_their_keys() {
        assert!(messages(json!({"type": "Opaque", "data": {"password": "c2VjcmV0"}})).is_empty());
        assert!(
            messages(json!({"type": "kubernetes.io/basic-auth", "stringData": {"username": "u"}}))
                .is_empty()
        );
        assert_eq!(
            messages(json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "Y2VydA=="}})),
            [
                "data[tls.key]: Required value: a Secret of type kubernetes.io/tls needs the key tls.key"
            ]
        );
        assert_eq!(
            messages(json!({"type": "kubernetes.io/basic-auth"})).len(),
            2
        );
        assert_eq!(
            messages(json!({"type": "kubernetes.io/service-account-token"})),
            [
                "metadata.annotations[kubernetes.io/service-account.name]: Required value: the service account the token belongs to"
            ]
        );
        assert_eq!(
            messages(json!({"stringData": {"a b": "x"}})),
            [
                "stringData[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ]
        );
    }

    #[test]
    fn type_is_fixed_and_immutable_data_too() {
        let old = json!({"type": "Opaque", "data": {"a": "MQ=="}, "immutable": true});
        let mut errs = Vec::new();
        validate_update(
            &json!({"type": "kubernetes.io/tls", "data": {"a": "Mg=="}, "immutable": true}),
            &old,
            &mut errs,
        );
        let m: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert_eq!(
            m,
            [
                "type: Invalid value: \"kubernetes.io/tls\": field is immutable",
                "data: Forbidden: field is immutable when `immutable` is set"
            ]
        );
    }
}
