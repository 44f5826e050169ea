//! The labels Brume keeps on every Docker container it creates. They are the runtime's only
//! memory: an agent that restarts finds its sandboxes and containers again through them.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::{ContainerSpec, SandboxSpec};

/// The pod's uid; the key every Brume container carries.
pub const POD_UID: &str = "io.brume.pod-uid";
/// The pod's namespace.
pub const POD_NAMESPACE: &str = "io.brume.pod-namespace";
/// The pod's name.
pub const POD_NAME: &str = "io.brume.pod-name";
/// The container's name in the pod, or [`SANDBOX_NAME`] for the sandbox.
pub const CONTAINER: &str = "io.brume.container";
/// The restart attempt, counted from 0.
pub const ATTEMPT: &str = "io.brume.attempt";
/// The sandbox's allocated host ports, as a JSON array in the order of the sandbox spec.
pub const HOST_PORTS: &str = "io.brume.host-ports";
/// The address the ports are published on (the pod IP).
pub const HOST_IP: &str = "io.brume.host-ip";
/// The node that owns the container, when several agents share one Docker engine.
pub const NODE: &str = "io.brume.node";

/// The value of [`CONTAINER`] on a sandbox (the name the kubelet gives its pause containers).
pub const SANDBOX_NAME: &str = "POD";

/// The labels of a pod's sandbox.
pub fn sandbox_labels(
    spec: &SandboxSpec,
    host_ports: &[u16],
    node: Option<&str>,
) -> HashMap<String, String> {
    let mut labels = pod_labels(
        &spec.pod_uid,
        &spec.namespace,
        &spec.name,
        spec.host_ip,
        host_ports,
        node,
    );
    labels.insert(CONTAINER.into(), SANDBOX_NAME.into());
    labels.insert(ATTEMPT.into(), "0".into());
    labels
}

/// The labels of an app container: the caller's labels, then the sandbox's pod identity, then
/// the container's name and attempt (Brume's keys win over the caller's).
pub fn container_labels(
    sandbox_labels: &HashMap<String, String>,
    spec: &ContainerSpec,
    attempt: u32,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for key in [POD_UID, POD_NAMESPACE, POD_NAME, HOST_PORTS, HOST_IP, NODE] {
        if let Some(value) = sandbox_labels.get(key) {
            labels.insert(key.into(), value.clone());
        }
    }
    labels.insert(CONTAINER.into(), spec.name.clone());
    labels.insert(ATTEMPT.into(), attempt.to_string());
    labels
}

fn pod_labels(
    uid: &str,
    namespace: &str,
    name: &str,
    host_ip: IpAddr,
    host_ports: &[u16],
    node: Option<&str>,
) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    labels.insert(POD_UID.into(), uid.into());
    labels.insert(POD_NAMESPACE.into(), namespace.into());
    labels.insert(POD_NAME.into(), name.into());
    labels.insert(
        HOST_PORTS.into(),
        serde_json::to_string(host_ports).unwrap_or_else(|_| "[]".into()),
    );
    labels.insert(HOST_IP.into(), host_ip.to_string());
    if let Some(node) = node {
        labels.insert(NODE.into(), node.into());
    }
    labels
}

/// The label filter that selects this runtime's containers: every Brume container, or only
/// those of `node` when several agents share the engine. `pod_uid` narrows it to one pod.
pub fn filter(node: Option<&str>, pod_uid: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut labels = vec![match pod_uid {
        Some(uid) => format!("{POD_UID}={uid}"),
        None => POD_UID.to_string(),
    }];
    if let Some(node) = node {
        labels.push(format!("{NODE}={node}"));
    }
    HashMap::from([("label".to_string(), labels)])
}

/// The Brume identity read back from a container's labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The pod's uid.
    pub pod_uid: String,
    /// The container's name in the pod ([`SANDBOX_NAME`] for the sandbox).
    pub container: String,
    /// The restart attempt.
    pub attempt: u32,
    /// The published host ports.
    pub host_ports: Vec<u16>,
    /// The address the ports are published on, when recorded.
    pub host_ip: Option<IpAddr>,
}

impl Parsed {
    /// Whether these are the labels of a sandbox.
    pub fn is_sandbox(&self) -> bool {
        self.container == SANDBOX_NAME
    }
}

/// Reads the Brume labels of a container, or `None` when it is not one of Brume's.
pub fn parse(labels: &HashMap<String, String>) -> Option<Parsed> {
    Some(Parsed {
        pod_uid: labels.get(POD_UID)?.clone(),
        container: labels.get(CONTAINER)?.clone(),
        attempt: labels
            .get(ATTEMPT)
            .and_then(|a| a.parse().ok())
            .unwrap_or(0),
        host_ports: labels
            .get(HOST_PORTS)
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default(),
        host_ip: labels.get(HOST_IP).and_then(|ip| ip.parse().ok()),
    })
}

/// A Docker container name for a pod's container: readable in `docker ps`, unique per pod uid
/// and attempt (the whole uid is kept, as the kubelet does), and made only of the characters
/// Docker accepts (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
pub fn container_name(
    namespace: &str,
    pod: &str,
    uid: &str,
    container: &str,
    attempt: u32,
) -> String {
    let raw = format!("brume_{container}_{pod}_{namespace}_{uid}_{attempt}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortSpec;
    use std::collections::BTreeMap;

    fn sandbox_spec() -> SandboxSpec {
        SandboxSpec {
            pod_uid: "0f3c-77".into(),
            namespace: "default".into(),
            name: "web".into(),
            host_ip: "127.0.0.2".parse().unwrap(),
            ports: vec![PortSpec {
                container: "app".into(),
                name: None,
                container_port: 80,
                host_port: None,
                protocol: "TCP".into(),
            }],
        }
    }

    #[test]
    fn sandbox_labels_round_trip_through_parse() {
        let labels = sandbox_labels(&sandbox_spec(), &[40001], Some("n1"));
        let parsed = parse(&labels).unwrap();
        assert!(parsed.is_sandbox());
        assert_eq!(parsed.pod_uid, "0f3c-77");
        assert_eq!(parsed.host_ports, vec![40001]);
        assert_eq!(parsed.host_ip, Some("127.0.0.2".parse().unwrap()));
        assert_eq!(labels[NODE], "n1");
        assert_eq!(labels[HOST_PORTS], "[40001]");
    }

    #[test]
    fn container_labels_keep_caller_labels_but_brume_keys_win() {
        let sandbox = sandbox_labels(&sandbox_spec(), &[40001], None);
        let spec = ContainerSpec {
            name: "app".into(),
            labels: BTreeMap::from([
                ("team".to_string(), "a".to_string()),
                (ATTEMPT.to_string(), "99".to_string()),
            ]),
            ..Default::default()
        };
        let labels = container_labels(&sandbox, &spec, 3);
        assert_eq!(labels["team"], "a");
        assert_eq!(labels[ATTEMPT], "3");
        assert_eq!(labels[CONTAINER], "app");
        assert_eq!(labels[POD_UID], "0f3c-77");
        assert_eq!(labels[HOST_PORTS], "[40001]");
        assert!(!labels.contains_key(NODE));
        let parsed = parse(&labels).unwrap();
        assert!(!parsed.is_sandbox());
        assert_eq!(parsed.attempt, 3);
    }

    #[test]
    fn parse_rejects_foreign_containers() {
        assert_eq!(parse(&HashMap::from([("x".into(), "y".into())])), None);
    }

    #[test]
    fn filter_narrows_by_node_and_pod() {
        assert_eq!(filter(None, None)["label"], vec![POD_UID.to_string()]);
        assert_eq!(
            filter(Some("n1"), Some("u1"))["label"],
            vec![format!("{POD_UID}=u1"), format!("{NODE}=n1")]
        );
    }

    #[test]
    fn container_names_use_only_docker_characters() {
        let name = container_name("default", "web.v1", "0f3c-77aa-bb", "app", 2);
        assert_eq!(name, "brume_app_web.v1_default_0f3c-77aa-bb_2");
        let odd = container_name("ns", "p", "u", "a/b c", 0);
        assert_eq!(odd, "brume_a-b-c_p_ns_u_0");
    }
}
