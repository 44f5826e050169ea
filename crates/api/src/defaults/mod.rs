//! Kubernetes defaulting: the values the API server fills in when a client leaves a field out
//! (`SetDefaults_*` in `k8s.io/kubernetes/pkg/apis/*/v1`), so objects read back as they do from
//! Kubernetes. Only absent (or `null`) fields are set, so applying defaults twice changes nothing.

mod hpa;
mod pod;
mod service;
mod simple;
mod workload;

use serde_json::{Map, Value};

use crate::resource::ResourceInfo;

/// Fills in the defaults of the object's kind. Objects of kinds without defaults, and values of
/// unexpected types, are left alone: validation reports those.
pub fn apply_defaults(info: &ResourceInfo, obj: &mut Value) {
    let Value::Object(map) = obj else {
        return;
    };
    match (info.group, info.kind) {
        ("", "Pod") => pod::pod(map),
        ("", "Service") => service::service(map),
        ("", "Namespace") => simple::namespace(map),
        ("", "Secret") => simple::secret(map),
        ("", "Node") => simple::node(map),
        ("", "Endpoints") => simple::endpoints(map),
        ("discovery.k8s.io", "EndpointSlice") => simple::endpoint_slice(map),
        ("apps", "Deployment") => workload::deployment(map),
        ("apps", "ReplicaSet") => workload::replica_set(map),
        ("apps", "DaemonSet") => workload::daemon_set(map),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa::hpa(map),
        _ => {}
    }
}

/// Sets `key` to `value` when it is absent or `null`.
fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get_mut(key) {
        Some(v) if !v.is_null() => {}
        Some(v) => *v = value,
        None => {
            map.insert(key.to_string(), value);
        }
    }
}

/// The object at `key`, created empty when absent or `null`; `None` when it is something else.
fn object_at<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    set_default(map, key, Value::Object(Map::new()));
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// The object at `key` when there is one.
fn existing<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// The objects in the list at `key` (none when there is no list).
fn each<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

#[cfg(test)]
mod tests;
