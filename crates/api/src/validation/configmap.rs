//! ConfigMaps (`ValidateConfigMap`, `ValidateConfigMapUpdate`): keys, total size and the
//! `immutable` flag. Secrets share the key and immutability rules.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;

use super::errors::{forbidden, invalid_str, max_len_error, regex_error, too_long};
use super::{typed, typed_quiet};
use crate::error::FieldError;

/// The most data a ConfigMap or Secret may hold, 1 MiB (`MaxSecretSize`), which keeps objects
/// within what the store accepts.
pub(super) const MAX_DATA_BYTES: usize = 1024 * 1024;

/// What makes `key` unusable as a data key (it becomes a file name when mounted); empty when
/// valid. Kubernetes' `IsConfigMapKey`.
pub(super) fn config_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push(max_len_error(253));
    }
    let charset = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
    if key.is_empty() || !key.bytes().all(charset) {
        errs.push(regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    match key {
        "." => errs.push("must not be '.'".to_string()),
        ".." => errs.push("must not be '..'".to_string()),
        k if k.starts_with("..") => errs.push("must not start with '..'".to_string()),
        _ => {}
    }
    errs
}

/// Checks the keys of one data map at `path` (`data`) and returns the bytes it holds.
pub(super) fn validate_keys<V>(
    map: Option<&BTreeMap<String, V>>,
    path: &str,
    size: impl Fn(&V) -> usize,
    errs: &mut Vec<FieldError>,
) -> usize {
    let mut total = 0;
    for (key, value) in map.into_iter().flatten() {
        for msg in config_key(key) {
            errs.push(invalid_str(format!("{path}[{key}]"), key, msg));
        }
        total += key.len() + size(value);
    }
    total
}

/// Validates a new or updated ConfigMap.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(cm) = typed::<ConfigMap>(obj, "", errs) else {
        return;
    };
    let mut total = validate_keys(cm.data.as_ref(), "data", String::len, errs);
    total += validate_keys(cm.binary_data.as_ref(), "binaryData", |b| b.0.len(), errs);
    if let (Some(data), Some(binary)) = (&cm.data, &cm.binary_data) {
        for key in data.keys().filter(|k| binary.contains_key(*k)) {
            errs.push(invalid_str(
                format!("data[{key}]"),
                key,
                "duplicate of key present in binaryData",
            ));
        }
    }
    if total > MAX_DATA_BYTES {
        errs.push(too_long("data", MAX_DATA_BYTES));
    }
}

/// Once `immutable` is true, neither the data nor the flag may change.
/// `changed` lists each data field with whether the update changes it.
pub(super) fn validate_immutable(
    old_immutable: Option<bool>,
    new_immutable: Option<bool>,
    changed: &[(&str, bool)],
    errs: &mut Vec<FieldError>,
) {
    if old_immutable != Some(true) {
        return;
    }
    if new_immutable != Some(true) {
        errs.push(forbidden(
            "immutable",
            "field is immutable when `immutable` is set",
        ));
    }
    for (field, _) in changed.iter().filter(|(_, changed)| *changed) {
        errs.push(forbidden(
            *field,
            "field is immutable when `immutable` is set",
        ));
    }
}

/// Checks an update against the stored ConfigMap: an immutable one keeps its data.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (Some(new), Some(old)) = (typed_quiet::<ConfigMap>(obj), typed_quiet::<ConfigMap>(old))
    else {
        return;
    };
    let changed = [
        ("data", new.data != old.data),
        ("binaryData", new.binary_data != old.binary_data),
    ];
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
    fn keys_and_size() {
        assert!(
            messages(
                json!({"data": {"nginx.conf": "server {}", "KEY_1": "v", ".hidden": ""},
                                "binaryData": {"logo.png": "iVBORw0K"}})
            )
            .is_empty()
        );
        assert_eq!(
            messages(json!({"data": {"bad/key": "x", "..x": "y"}})),
            [
                "data[..x]: Invalid value: \"..x\": must not start with '..'",
                "data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ]
        );
        assert_eq!(
            messages(json!({"data": {"big": "x".repeat(MAX_DATA_BYTES)}})),
            ["data: Too long: may not be more than 1048576 bytes"]
        );
        assert_eq!(
            messages(json!({"data": {"a": "1"}, "binaryData": {"a": "MQ=="}})),
            ["data[a]: Invalid value: \"a\": duplicate of key present in binaryData"]
        );
    }

    #[test]
    fn immutable_config_maps_keep_their_data() {
        let old = json!({"data": {"a": "1"}, "immutable": true});
        let mut errs = Vec::new();
        validate_update(
            &json!({"data": {"a": "2"}, "immutable": true}),
            &old,
            &mut errs,
        );
        validate_update(&json!({"data": {"a": "1"}}), &old, &mut errs);
        let m: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert_eq!(
            m,
            [
                "data: Forbidden: field is immutable when `immutable` is set",
                "immutable: Forbidden: field is immutable when `immutable` is set"
            ]
        );
        let mut errs = Vec::new();
        validate_update(
            &json!({"data": {"a": "2"}}),
            &json!({"data": {"a": "1"}}),
            &mut errs,
        );
        assert!(errs.is_empty());
    }
}
