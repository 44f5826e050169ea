//! Turning a Pod into what the runtime is asked for: the sandbox's ports and each container's
//! command, environment (with the downward API and the allocated ports) and limits. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use brume_api::validation::parse_quantity;
use brume_runtime::{ContainerSpec, PortSpec, Sandbox, SandboxSpec};
use serde_json::Value;

use crate::downward::{self, NodeResources};

/// The label the runtimes keep with a container's pod uid.
pub const POD_UID_LABEL: &str = "io.brume.pod-uid";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The containers of a pod spec.
pub fn containers(pod: &Value) -> Vec<Value> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The init containers of a pod spec, run one after another before the containers.
pub fn init_containers(pod: &Value) -> Vec<Value> {
    pod.pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The sandbox for a pod on a node at `host_ip`.
pub fn sandbox_spec(pod: &Value, host_ip: IpAddr) -> SandboxSpec {
    let mut ports = Vec::new();
    for c in containers(pod) {
        for p in c
            .get("ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let Some(container_port) = p.get("containerPort").and_then(Value::as_u64) else {
                continue;
            };
            ports.push(PortSpec {
                container: s(&c, "/name").to_string(),
                name: p.get("name").and_then(Value::as_str).map(String::from),
                container_port: container_port as u16,
                host_port: p
                    .get("hostPort")
                    .and_then(Value::as_u64)
                    .filter(|h| *h > 0)
                    .map(|h| h as u16),
                protocol: p
                    .get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_string(),
            });
        }
    }
    SandboxSpec {
        pod_uid: s(pod, "/metadata/uid").to_string(),
        namespace: s(pod, "/metadata/namespace").to_string(),
        name: s(pod, "/metadata/name").to_string(),
        host_ip,
        ports,
    }
}

/// The `fog.brume.io/host-ports` annotation: `{"<containerPort>/<protocol>": hostPort}`, which
/// the endpoint controllers use to build `nodeAddress:hostPort` endpoints.
pub fn host_ports_annotation(spec: &SandboxSpec, sandbox: &Sandbox) -> String {
    let map: BTreeMap<String, u16> = spec
        .ports
        .iter()
        .zip(&sandbox.host_ports)
        .map(|(p, h)| (format!("{}/{}", p.container_port, p.protocol), *h))
        .collect();
    serde_json::to_string(&map).unwrap_or_default()
}

/// A downward-API `fieldRef` value.
fn env_name(port_name: &str) -> String {
    port_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The runtime spec of container `c` of `pod`, once the sandbox exists.
pub fn container_spec(
    pod: &Value,
    c: &Value,
    sandbox: &Sandbox,
    sandbox_spec: &SandboxSpec,
    node: NodeResources,
) -> ContainerSpec {
    let name = s(c, "/name").to_string();
    let facts = downward::Facts {
        pod_ip: sandbox.pod_ip.to_string(),
        host_ip: sandbox_spec.host_ip.to_string(),
        node,
    };
    let mut env = Vec::new();
    // Allocated ports first, so the pod's own env can refer to them with $(PORT).
    let mine: Vec<(&PortSpec, u16)> = sandbox_spec
        .ports
        .iter()
        .zip(&sandbox.host_ports)
        .filter(|(p, _)| p.container == name)
        .map(|(p, h)| (p, *h))
        .collect();
    if let Some((_, first)) = mine.first() {
        env.push(("PORT".to_string(), first.to_string()));
    }
    for (p, h) in &mine {
        if let Some(n) = &p.name {
            env.push((format!("BRUME_PORT_{}", env_name(n)), h.to_string()));
        }
    }
    env.push(("BRUME_BIND_ADDRESS".to_string(), facts.host_ip.clone()));
    for e in c
        .get("env")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let key = s(&e, "/name").to_string();
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            expand(v, &env)
        } else if let Some(path) = e
            .pointer("/valueFrom/fieldRef/fieldPath")
            .and_then(Value::as_str)
        {
            downward::field(pod, path, &facts).unwrap_or_default()
        } else if let Some(r) = e.pointer("/valueFrom/resourceFieldRef") {
            let container = r["containerName"].as_str().unwrap_or(&name);
            let resource = r["resource"].as_str().unwrap_or("");
            downward::resource(pod, container, resource, r["divisor"].as_str(), &facts)
                .unwrap_or_default()
        } else {
            String::new()
        };
        env.push((key, value));
    }
    let strings = |ptr: &str| -> Vec<String> {
        c.pointer(ptr)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(|v| expand(v, &env)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let limit = |res: &str| {
        c.pointer(&format!("/resources/limits/{res}"))
            .and_then(Value::as_str)
            .and_then(|q| parse_quantity(q).ok())
    };
    let mut labels = BTreeMap::new();
    labels.insert(POD_UID_LABEL.to_string(), sandbox.pod_uid.clone());
    ContainerSpec {
        image: s(c, "/image").to_string(),
        command: strings("/command"),
        args: strings("/args"),
        working_dir: c
            .get("workingDir")
            .and_then(Value::as_str)
            .map(String::from),
        cpu_limit_milli: limit("cpu").map(|q| q.as_milli().max(0) as u64),
        memory_limit_bytes: limit("memory").map(|q| q.as_units().max(0) as u64),
        mounts: Vec::new(),
        labels,
        env,
        name,
    }
}

/// Kubernetes' `$(VAR)` expansion in values, command and args; `$$` escapes a dollar.
pub fn expand(value: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let var = &inner[..end];
            match env.iter().rev().find(|(k, _)| k == var) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({var})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"nodeName": "edge-1", "containers": [{
                "name": "web", "image": "busybox",
                "command": ["httpd", "-p", "$(PORT)"],
                "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 9090, "protocol": "UDP"}],
                "env": [
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "URL", "value": "http://$(BRUME_BIND_ADDRESS):$(PORT)/ $$HOME"},
                ],
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
            }]}
        })
    }

    #[test]
    fn ports_env_and_limits_reach_the_runtime_spec() {
        let host: IpAddr = "127.0.0.2".parse().unwrap();
        let sspec = sandbox_spec(&pod(), host);
        assert_eq!(sspec.ports.len(), 2);
        assert_eq!(sspec.ports[1].protocol, "UDP");
        let sandbox = Sandbox {
            pod_uid: "u1".into(),
            id: "s".into(),
            pod_ip: host,
            host_ports: vec![41000, 41001],
        };
        let c = container_spec(
            &pod(),
            &containers(&pod())[0],
            &sandbox,
            &sspec,
            NodeResources::default(),
        );
        let env: BTreeMap<_, _> = c.env.iter().cloned().collect();
        assert_eq!(env["PORT"], "41000");
        assert_eq!(env["BRUME_PORT_HTTP"], "41000");
        assert_eq!(env["POD"], "web-1");
        assert_eq!(env["APP"], "web");
        assert_eq!(env["URL"], "http://127.0.0.2:41000/ $HOME");
        assert_eq!(c.command, ["httpd", "-p", "41000"]);
        assert_eq!(c.cpu_limit_milli, Some(500));
        assert_eq!(c.memory_limit_bytes, Some(64 * 1024 * 1024));
        assert_eq!(
            host_ports_annotation(&sspec, &sandbox),
            r#"{"8080/TCP":41000,"9090/UDP":41001}"#
        );
    }

    #[test]
    fn expansion_leaves_unknown_variables() {
        assert_eq!(
            expand("$(NOPE) $(A)", &[("A".into(), "1".into())]),
            "$(NOPE) 1"
        );
        assert_eq!(expand("a$b", &[]), "a$b");
    }
}
