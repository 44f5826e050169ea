//! The Downward API: what a pod may learn about itself, for environment variables
//! (`valueFrom.fieldRef`, `valueFrom.resourceFieldRef`) and for `downwardAPI` volumes and
//! projections. Pure: the pod, its addresses and the node's allocatable resources go in.

use brume_api::validation::parse_quantity;
use serde_json::Value;

/// What a Downward API value may be computed from besides the pod itself.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The pod's IP (the node address, with host ports).
    pub pod_ip: String,
    /// The node's IP.
    pub host_ip: String,
    /// The node's resources.
    pub node: NodeResources,
}

/// The node's allocatable resources: the value of a limit a container does not set.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeResources {
    /// CPUs in millicores.
    pub cpu_milli: i128,
    /// Memory in bytes.
    pub memory_bytes: i128,
}

impl NodeResources {
    /// The resources of the machine the agent runs on.
    pub fn of(host: &crate::node::HostFacts) -> Self {
        NodeResources {
            cpu_milli: i128::from(host.cpus) * 1000,
            memory_bytes: i128::from(host.memory_bytes),
        }
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// A whole label or annotation map in the Downward API's file format: `key="value"` lines,
/// sorted by key, values escaped as Go's `%q` does for the common cases.
fn map_lines(map: Option<&Value>) -> String {
    let mut items: Vec<(&String, &str)> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    items.sort();
    items
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.to_string())))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of `fieldPath` for `pod`, or `None` when Kubernetes does not offer that field.
pub fn field(pod: &Value, path: &str, facts: &Facts) -> Option<String> {
    Some(match path {
        "metadata.name" => s(pod, "/metadata/name").into(),
        "metadata.namespace" => s(pod, "/metadata/namespace").into(),
        "metadata.uid" => s(pod, "/metadata/uid").into(),
        "metadata.labels" => map_lines(pod.pointer("/metadata/labels")),
        "metadata.annotations" => map_lines(pod.pointer("/metadata/annotations")),
        "spec.nodeName" => s(pod, "/spec/nodeName").into(),
        "spec.serviceAccountName" => s(pod, "/spec/serviceAccountName").into(),
        "status.podIP" | "status.podIPs" => facts.pod_ip.clone(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        other => {
            // metadata.labels['key'] and metadata.annotations['key']
            let lookup = |prefix: &str, field: &str| {
                other
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_suffix("']"))
                    .map(|k| {
                        pod.pointer(&format!("/metadata/{field}"))
                            .and_then(|m| m.get(k))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    })
            };
            return lookup("metadata.labels['", "labels")
                .or_else(|| lookup("metadata.annotations['", "annotations"));
        }
    })
}

/// The value of a `resourceFieldRef` (`limits.cpu`, `requests.memory`, ...) of container
/// `container` of `pod`, divided by `divisor` and rounded up, as Kubernetes does. A limit the
/// container does not set is the node's allocatable amount.
pub fn resource(
    pod: &Value,
    container: &str,
    resource: &str,
    divisor: Option<&str>,
    facts: &Facts,
) -> Result<String, String> {
    let c = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().into_iter().flatten())
        .find(|c| c["name"].as_str() == Some(container))
        .ok_or_else(|| {
            format!("resourceFieldRef names container {container:?}, which the pod does not have")
        })?;
    let (kind, name) = resource.split_once('.').ok_or_else(|| {
        format!("resourceFieldRef resource {resource:?} is not limits.<name> or requests.<name>")
    })?;
    let quantity = |kind: &str| {
        c.pointer(&format!("/resources/{kind}/{name}"))
            .and_then(Value::as_str)
    };
    let cpu = name == "cpu";
    if !cpu && name != "memory" && name != "ephemeral-storage" {
        return Err(format!(
            "resourceFieldRef resource {resource:?}: only cpu, memory and ephemeral-storage are served"
        ));
    }
    // In milli-units for CPU, units otherwise.
    let value = match (kind, quantity(kind)) {
        (_, Some(q)) => {
            let q = parse_quantity(q).map_err(|e| format!("{resource}: {e}"))?;
            if cpu { q.as_milli() } else { q.as_units() }
        }
        ("limits", None) if cpu => facts.node.cpu_milli,
        ("limits", None) if name == "memory" => facts.node.memory_bytes,
        ("limits" | "requests", None) => 0,
        _ => {
            return Err(format!(
                "resourceFieldRef resource {resource:?} is not limits.<name> or requests.<name>"
            ));
        }
    };
    let divisor = match divisor.filter(|d| !d.is_empty()) {
        Some(d) => {
            let q = parse_quantity(d).map_err(|e| format!("divisor {d:?}: {e}"))?;
            if cpu { q.as_milli() } else { q.as_units() }
        }
        None if cpu => 1000,
        None => 1,
    };
    if divisor <= 0 {
        return Err(format!("divisor {divisor:?} must be positive"));
    }
    Ok(((value + divisor - 1) / divisor).to_string())
}

/// The files of a `downwardAPI` volume or projection: each item's `path` with its value. As in
/// Kubernetes, volume items may name only `metadata.*` fields (the pod's addresses are not
/// known before its sandbox exists) and resources.
pub fn files(
    pod: &Value,
    items: &[Value],
    facts: &Facts,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    items
        .iter()
        .map(|item| {
            let path = s(item, "/path");
            if path.is_empty() {
                return Err("a downwardAPI item has no path".to_string());
            }
            let value =
                if let Some(fp) = item.pointer("/fieldRef/fieldPath").and_then(Value::as_str) {
                    fp.starts_with("metadata.")
                        .then(|| field(pod, fp, facts))
                        .flatten()
                        .ok_or_else(|| {
                            format!(
                                "item {path:?}: fieldRef {fp:?} is not served in volumes: use \
                             metadata.name, metadata.namespace, metadata.uid, metadata.labels, \
                             metadata.annotations or one label or annotation"
                            )
                        })?
                } else if let Some(r) = item.get("resourceFieldRef") {
                    resource(
                        pod,
                        s(r, "/containerName"),
                        s(r, "/resource"),
                        r["divisor"].as_str(),
                        facts,
                    )
                    .map_err(|e| format!("item {path:?}: {e}"))?
                } else {
                    return Err(format!(
                        "item {path:?} has neither fieldRef nor resourceFieldRef"
                    ));
                };
            Ok((path.to_string(), value.into_bytes()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "say \"hi\""}},
            "spec": {"nodeName": "edge-1", "containers": [{"name": "c", "resources": {
                "limits": {"memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "32Mi"}}}]}
        })
    }

    fn facts() -> Facts {
        Facts {
            pod_ip: "10.0.0.7".into(),
            host_ip: "10.0.0.7".into(),
            node: NodeResources {
                cpu_milli: 4000,
                memory_bytes: 8 << 30,
            },
        }
    }

    #[test]
    fn fields_read_the_pod_and_its_maps() {
        let (p, f) = (pod(), facts());
        assert_eq!(field(&p, "metadata.name", &f).unwrap(), "web-1");
        assert_eq!(field(&p, "spec.nodeName", &f).unwrap(), "edge-1");
        assert_eq!(field(&p, "status.podIP", &f).unwrap(), "10.0.0.7");
        assert_eq!(field(&p, "metadata.labels['tier']", &f).unwrap(), "front");
        assert_eq!(
            field(&p, "metadata.labels", &f).unwrap(),
            "app=\"web\"\ntier=\"front\""
        );
        assert_eq!(
            field(&p, "metadata.annotations", &f).unwrap(),
            "note=\"say \\\"hi\\\"\""
        );
        assert_eq!(field(&p, "spec.containers", &f), None);
    }

    #[test]
    fn resources_divide_round_up_and_default_limits_to_the_node() {
        let (p, f) = (pod(), facts());
        let r = |res: &str, div: Option<&str>| resource(&p, "c", res, div, &f);
        assert_eq!(r("limits.memory", Some("1Mi")).unwrap(), "64");
        assert_eq!(
            r("requests.memory", None).unwrap(),
            (32u64 << 20).to_string()
        );
        assert_eq!(r("requests.cpu", Some("1m")).unwrap(), "250");
        assert_eq!(
            r("requests.cpu", None).unwrap(),
            "1",
            "250m rounds up to 1 core"
        );
        assert_eq!(
            r("limits.cpu", None).unwrap(),
            "4",
            "no limit: the node's CPUs"
        );
        assert!(
            r("limits.gpu", None)
                .unwrap_err()
                .contains("only cpu, memory")
        );
        assert!(
            resource(&p, "x", "limits.cpu", None, &f)
                .unwrap_err()
                .contains("\"x\"")
        );
    }

    #[test]
    fn volume_items_become_files_or_say_what_is_wrong() {
        let (p, f) = (pod(), facts());
        let items = vec![
            json!({"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}),
            json!({"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}),
        ];
        let out = files(&p, &items, &f).unwrap();
        assert_eq!(out[0], ("name".to_string(), b"web-1".to_vec()));
        assert_eq!(out[1], ("mem".to_string(), b"64".to_vec()));
        let bad = vec![json!({"path": "x", "fieldRef": {"fieldPath": "spec.volumes"}})];
        assert!(
            files(&p, &bad, &f)
                .unwrap_err()
                .contains("\"spec.volumes\"")
        );
        let ip = vec![json!({"path": "x", "fieldRef": {"fieldPath": "status.podIP"}})];
        assert!(
            files(&p, &ip, &f)
                .unwrap_err()
                .contains("not served in volumes")
        );
    }
}
