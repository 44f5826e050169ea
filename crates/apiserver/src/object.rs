//! Reading and writing the parts of an object the server owns: metadata and stored bytes.

use brume_api::ResourceInfo;
use brume_store::KeyValue;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::ApiError;

/// The object stored in `kv`, with `metadata.resourceVersion` set from its `mod_revision`.
pub fn from_kv(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Internal(format!("stored object at {} is corrupt: {e}", kv.key)))?;
    set_resource_version(&mut obj, kv.mod_revision);
    Ok(obj)
}

/// The bytes to store: the object without `metadata.resourceVersion`, which the store's
/// revision supplies on every read.
pub fn to_bytes(obj: &Value) -> Bytes {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    Bytes::from(serde_json::to_vec(&obj).unwrap_or_default())
}

/// Sets `metadata.resourceVersion`.
pub fn set_resource_version(obj: &mut Value, rev: i64) {
    metadata_mut(obj).insert("resourceVersion".into(), json!(rev.to_string()));
}

/// The `metadata` map, created if missing.
pub fn metadata_mut(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

/// A string field of `metadata`, or "".
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The `metadata.resourceVersion` a client sent, parsed; `None` when absent or empty.
pub fn resource_version(obj: &Value, info: &ResourceInfo) -> Result<Option<i64>, ApiError> {
    match meta_str(obj, "resourceVersion") {
        "" => Ok(None),
        rv => rv.parse().map(Some).map_err(|_| {
            ApiError::invalid(
                info,
                meta_str(obj, "name"),
                &[brume_api::FieldError::invalid(
                    "metadata.resourceVersion",
                    rv,
                    "must be a resourceVersion returned by this server (a decimal number)",
                )],
            )
        }),
    }
}

/// The finalizers of an object.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// True when the object is being deleted (`metadata.deletionTimestamp` is set).
pub fn is_deleting(obj: &Value) -> bool {
    !meta_str(obj, "deletionTimestamp").is_empty()
}

/// The current time as Kubernetes writes timestamps (RFC 3339, seconds, `Z`).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
