//! Node ports of Services: which ones a Service holds, and the allocation the API server does on
//! create and update (Kubernetes' service registry with its node-port allocator). Every agent's
//! proxy listens on these ports (DESIGN §7), so one number belongs to one Service cluster-wide.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use serde_json::{Value, json};

use crate::FieldError;

/// The node-port range, as in Kubernetes' default `--service-node-port-range` (DESIGN §7).
pub const NODE_PORT_RANGE: RangeInclusive<i32> = 30000..=32767;

/// Whether a Service of this spec gets node ports: `NodePort`, and `LoadBalancer` unless
/// `allocateLoadBalancerNodePorts` is false.
pub fn wants_node_ports(svc: &Value) -> bool {
    let spec = &svc["spec"];
    match spec["type"].as_str() {
        Some("NodePort") => true,
        Some("LoadBalancer") => spec["allocateLoadBalancerNodePorts"] != json!(false),
        _ => false,
    }
}

/// The node ports a stored Service holds.
pub fn node_ports_of(svc: &Value) -> Vec<i32> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p["nodePort"].as_i64())
        .filter_map(|n| i32::try_from(n).ok())
        .filter(|n| *n != 0)
        .collect()
}

/// Gives every port of a new or updated Service the node port it should hold.
///
/// - A port that names a node port keeps it, unless another Service (`taken`) holds it.
/// - On update, a port that leaves `nodePort` out keeps the one it had (matched by name, then by
///   port and protocol), as Kubernetes' registry copies allocated values.
/// - A port still without one gets the first free number from `start` on, wrapping around the
///   range (the caller picks `start` at random, as Kubernetes' allocator picks at random).
/// - A Service that does not want node ports gets none (see [`drop_type_dependent_fields`]
///   for an update that changes the type).
///
/// The same number may serve two protocols of one Service (Kubernetes allows TCP and UDP on one
/// node port); across Services a number is held once.
pub fn assign_node_ports(
    new: &mut Value,
    old: Option<&Value>,
    taken: &BTreeSet<i32>,
    start: i32,
) -> Result<(), Vec<FieldError>> {
    let old_ports: Vec<Value> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let wants = wants_node_ports(new);
    let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    if !wants {
        return Ok(());
    }
    let mut errs = Vec::new();
    let mut held: BTreeSet<i32> = BTreeSet::new();
    for (i, port) in ports.iter_mut().enumerate() {
        let mut given = port["nodePort"].as_i64().unwrap_or(0);
        if given == 0 {
            given = matching_old(port, &old_ports).unwrap_or(0);
        }
        if given == 0 {
            continue;
        }
        let Ok(number) = i32::try_from(given) else {
            continue; // out of any range: validation names it
        };
        if taken.contains(&number) {
            errs.push(FieldError::invalid(
                format!("spec.ports[{i}].nodePort"),
                number,
                "provided port is already allocated",
            ));
        }
        port["nodePort"] = json!(number);
        held.insert(number);
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let size = NODE_PORT_RANGE.end() - NODE_PORT_RANGE.start() + 1;
    let first = start.clamp(*NODE_PORT_RANGE.start(), *NODE_PORT_RANGE.end());
    let mut next = 0;
    for (i, port) in ports.iter_mut().enumerate() {
        if port["nodePort"].as_i64().unwrap_or(0) != 0 {
            continue;
        }
        let free = (next..size)
            .map(|k| {
                (
                    k,
                    NODE_PORT_RANGE.start() + (first - NODE_PORT_RANGE.start() + k) % size,
                )
            })
            .find(|(_, n)| !taken.contains(n) && !held.contains(n));
        let Some((k, number)) = free else {
            errs.push(FieldError::invalid(
                format!("spec.ports[{i}].nodePort"),
                0,
                format!(
                    "no free node port left in the range {}-{}: delete a Service that holds one",
                    NODE_PORT_RANGE.start(),
                    NODE_PORT_RANGE.end()
                ),
            ));
            continue;
        };
        next = k + 1;
        port["nodePort"] = json!(number);
        held.insert(number);
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// Drops, on an update that changes a Service's type, the fields that only the old type may
/// carry and that the client left as they were: node ports, `externalTrafficPolicy`,
/// `allocateLoadBalancerNodePorts` (Kubernetes' `dropTypeDependentFields`, which runs before
/// validation). A field the client changed in the same update is kept, for validation to judge.
pub fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let ty = |v: &Value| {
        v["spec"]["type"]
            .as_str()
            .unwrap_or("ClusterIP")
            .to_string()
    };
    let new_type = ty(new);
    if new_type == ty(old) {
        return;
    }
    let old_spec = old["spec"].clone();
    let old_ports: Vec<Value> = old_spec["ports"].as_array().cloned().unwrap_or_default();
    let wants = wants_node_ports(new);
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut drop_if_same = |field: &str, keep: bool| {
        if !keep && spec.get(field).is_some() && spec.get(field) == old_spec.get(field) {
            spec.remove(field);
        }
    };
    drop_if_same(
        "externalTrafficPolicy",
        new_type == "NodePort" || new_type == "LoadBalancer",
    );
    drop_if_same("allocateLoadBalancerNodePorts", new_type == "LoadBalancer");
    if wants {
        return;
    }
    for port in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let given = port["nodePort"].as_i64().unwrap_or(0);
        let inherited = matching_old(port, &old_ports).is_some_and(|o| o == given);
        if (given == 0 || inherited)
            && let Some(m) = port.as_object_mut()
        {
            m.remove("nodePort");
        }
    }
}

/// The node port the old Service gave the port that `port` continues: the same name, or with
/// no names, the same port number and protocol.
fn matching_old(port: &Value, old_ports: &[Value]) -> Option<i64> {
    let name = port["name"].as_str().unwrap_or("");
    let protocol = |p: &Value| p["protocol"].as_str().unwrap_or("TCP").to_string();
    old_ports
        .iter()
        .find(|o| {
            if !name.is_empty() {
                o["name"].as_str() == Some(name)
            } else {
                o["port"] == port["port"] && protocol(o) == protocol(port)
            }
        })
        .and_then(|o| o["nodePort"].as_i64())
        .filter(|n| *n != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ty: &str, ports: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"type": ty, "ports": ports}})
    }

    fn ports(v: &Value) -> Vec<i32> {
        node_ports_of(v)
    }

    #[test]
    fn allocates_free_ports_from_the_start_and_wraps() {
        let mut s = svc("NodePort", json!([{"port": 80}, {"port": 443}]));
        let taken = BTreeSet::from([32767, 30000]);
        assign_node_ports(&mut s, None, &taken, 32766).unwrap();
        assert_eq!(ports(&s), [32766, 30001]);
    }

    #[test]
    fn a_given_port_is_kept_and_a_taken_one_is_refused() {
        let mut s = svc("NodePort", json!([{"port": 80, "nodePort": 30080}]));
        assign_node_ports(&mut s, None, &BTreeSet::new(), 31000).unwrap();
        assert_eq!(ports(&s), [30080]);
        let mut s = svc("NodePort", json!([{"port": 80, "nodePort": 30080}]));
        let errs = assign_node_ports(&mut s, None, &BTreeSet::from([30080]), 31000).unwrap_err();
        assert_eq!(
            errs[0].message(),
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
    }

    #[test]
    fn an_update_keeps_allocated_ports_and_a_type_change_drops_them() {
        let old = svc(
            "NodePort",
            json!([{"name": "http", "port": 80, "nodePort": 30080}, {"port": 81, "protocol": "TCP", "nodePort": 30081}]),
        );
        let mut new = svc(
            "NodePort",
            json!([{"name": "http", "port": 8080}, {"port": 81, "protocol": "TCP"}]),
        );
        assign_node_ports(&mut new, Some(&old), &BTreeSet::new(), 31000).unwrap();
        assert_eq!(ports(&new), [30080, 30081]);
        new["spec"]["externalTrafficPolicy"] = json!("Cluster");
        let mut cluster = new.clone();
        cluster["spec"]["type"] = json!("ClusterIP");
        drop_type_dependent_fields(&mut cluster, &new);
        assert!(ports(&cluster).is_empty());
        assert!(cluster["spec"].get("externalTrafficPolicy").is_none());
        // A port the client sets anew in the same update is left for validation.
        let mut changed = new.clone();
        changed["spec"]["type"] = json!("ClusterIP");
        changed["spec"]["ports"][0]["nodePort"] = json!(30090);
        drop_type_dependent_fields(&mut changed, &new);
        assert_eq!(ports(&changed), [30090]);
    }

    #[test]
    fn a_cluster_ip_service_gets_none_and_keeps_a_new_one_for_validation() {
        let mut s = svc("ClusterIP", json!([{"port": 80}]));
        assign_node_ports(&mut s, None, &BTreeSet::new(), 31000).unwrap();
        assert!(ports(&s).is_empty());
        let mut s = svc("ClusterIP", json!([{"port": 80, "nodePort": 30080}]));
        assign_node_ports(&mut s, None, &BTreeSet::new(), 31000).unwrap();
        assert_eq!(ports(&s), [30080]);
    }

    #[test]
    fn a_full_range_says_so() {
        let taken: BTreeSet<i32> = NODE_PORT_RANGE.collect();
        let mut s = svc("LoadBalancer", json!([{"port": 80}]));
        let errs = assign_node_ports(&mut s, None, &taken, 30000).unwrap_err();
        assert!(
            errs[0]
                .message()
                .contains("no free node port left in the range 30000-32767")
        );
        let mut s = svc("LoadBalancer", json!([{"port": 80}]));
        s["spec"]["allocateLoadBalancerNodePorts"] = json!(false);
        assign_node_ports(&mut s, None, &taken, 30000).unwrap();
        assert!(ports(&s).is_empty());
    }
}
