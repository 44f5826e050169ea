//! The Node object an agent registers and keeps current: identity, capacity, addresses,
//! runtime handlers and the Ready condition. Pure: host facts come in as a [`HostFacts`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Value, json};

/// The annotation listing the runtime handlers a node offers (the scheduler filters on it).
pub const RUNTIME_HANDLERS: &str = "fog.brume.io/runtime-handlers";
/// The annotation holding a node's GPS position, `"lat,lon"` (DESIGN §8).
pub const GEO: &str = "fog.brume.io/geo";
/// The kubelet version string Brume agents report.
pub const AGENT_VERSION: &str = concat!("v1.37.0-brume.", env!("CARGO_PKG_VERSION"));

/// What the agent found out about its host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostFacts {
    /// Logical CPUs.
    pub cpus: u32,
    /// Physical memory in bytes.
    pub memory_bytes: u64,
    /// `amd64`, `arm64`, ... (Go's names, as Kubernetes uses them).
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// The kernel release (`uname -r`).
    pub kernel_version: String,
    /// The OS image (`PRETTY_NAME` of /etc/os-release).
    pub os_image: String,
    /// The host name.
    pub hostname: String,
}

/// Who the node is and what it offers, from the agent's command line.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeIdentity {
    /// The node name.
    pub name: String,
    /// The address pods and node ports are reached at.
    pub address: IpAddr,
    /// Extra labels (`--labels`).
    pub labels: BTreeMap<String, String>,
    /// GPS position (`--geo lat,lon`).
    pub geo: Option<(f64, f64)>,
    /// Runtime handlers offered, the default first (`docker`, `process`, `fake`).
    pub handlers: Vec<String>,
    /// The version of the container runtime, for `containerRuntimeVersion`.
    pub runtime_version: String,
    /// Maximum pods.
    pub max_pods: u32,
}

/// Kubernetes' name for a Rust target architecture.
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The Ready condition at `now` (RFC 3339).
pub fn ready_condition(now: &str, since: &str) -> Value {
    json!({
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "message": "brume agent is posting ready status",
        "lastHeartbeatTime": now,
        "lastTransitionTime": since,
    })
}

/// The whole Node object to create, or to replace the agent-owned parts of.
pub fn node_object(id: &NodeIdentity, host: &HostFacts, now: &str) -> Value {
    let mut labels = BTreeMap::new();
    labels.insert("kubernetes.io/arch".to_string(), host.architecture.clone());
    labels.insert("kubernetes.io/os".to_string(), host.os.clone());
    labels.insert("kubernetes.io/hostname".to_string(), id.name.clone());
    labels.insert(
        "beta.kubernetes.io/arch".to_string(),
        host.architecture.clone(),
    );
    labels.insert("beta.kubernetes.io/os".to_string(), host.os.clone());
    labels.extend(id.labels.clone());
    let mut annotations = BTreeMap::new();
    annotations.insert(RUNTIME_HANDLERS.to_string(), id.handlers.join(","));
    if let Some((lat, lon)) = id.geo {
        annotations.insert(GEO.to_string(), format!("{lat},{lon}"));
    }
    let capacity = json!({
        "cpu": host.cpus.to_string(),
        "memory": format!("{}Ki", host.memory_bytes / 1024),
        "pods": id.max_pods.to_string(),
    });
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": id.name, "labels": labels, "annotations": annotations},
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "addresses": [
                {"type": "InternalIP", "address": id.address.to_string()},
                {"type": "Hostname", "address": host.hostname},
            ],
            "conditions": [ready_condition(now, now)],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": crate::logs::AGENT_PORT}},
            "nodeInfo": {
                "architecture": host.architecture,
                "operatingSystem": host.os,
                "kernelVersion": host.kernel_version,
                "osImage": host.os_image,
                "containerRuntimeVersion": id.runtime_version,
                "kubeletVersion": AGENT_VERSION,
                "kubeProxyVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts {
            cpus: 4,
            memory_bytes: 8 * 1024 * 1024 * 1024,
            architecture: "arm64".into(),
            os: "linux".into(),
            kernel_version: "6.1.0".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            hostname: "pi-1".into(),
        }
    }

    #[test]
    fn the_node_carries_capacity_identity_and_handlers() {
        let id = NodeIdentity {
            name: "pi-1".into(),
            address: "127.0.0.2".parse().unwrap(),
            labels: [(
                "topology.kubernetes.io/zone".to_string(),
                "lyon".to_string(),
            )]
            .into(),
            geo: Some((45.76, 4.84)),
            handlers: vec!["process".into(), "fake".into()],
            runtime_version: "process://0.1.0".into(),
            max_pods: 110,
        };
        let n = node_object(&id, &facts(), "2026-11-22T00:00:00Z");
        assert_eq!(n["status"]["capacity"]["cpu"], "4");
        assert_eq!(n["status"]["capacity"]["memory"], "8388608Ki");
        assert_eq!(n["metadata"]["labels"]["kubernetes.io/arch"], "arm64");
        assert_eq!(
            n["metadata"]["labels"]["topology.kubernetes.io/zone"],
            "lyon"
        );
        assert_eq!(
            n["metadata"]["annotations"][RUNTIME_HANDLERS],
            "process,fake"
        );
        assert_eq!(n["metadata"]["annotations"][GEO], "45.76,4.84");
        assert_eq!(n["status"]["addresses"][0]["address"], "127.0.0.2");
        assert_eq!(n["status"]["conditions"][0]["status"], "True");
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
    }
}
