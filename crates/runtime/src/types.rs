//! The values passed to and from a [`crate::ContainerRuntime`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What a sandbox needs: the pod's identity and the ports its containers declare.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The pod's uid; sandboxes are keyed by it.
    pub pod_uid: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The node address the pod's ports are published on (DESIGN §6: endpoints are
    /// `nodeAddress:hostPort`).
    pub host_ip: IpAddr,
    /// Every port declared by the pod's containers.
    pub ports: Vec<PortSpec>,
}

/// One declared container port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// The container that declares it.
    pub container: String,
    /// The port's name, if any (`BRUME_PORT_<NAME>` for the process runtime).
    pub name: Option<String>,
    /// The container port.
    pub container_port: u16,
    /// A fixed host port asked for in the spec, or `None` to allocate one.
    pub host_port: Option<u16>,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
}

/// A sandbox as created: where the pod's ports ended up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    /// The pod's uid.
    pub pod_uid: String,
    /// The runtime's own id for the sandbox (a container id for docker, a folder for process).
    pub id: String,
    /// The address the pod is reached at (`status.podIP`): the node address.
    pub pod_ip: IpAddr,
    /// The host port allocated for each declared port, in the order of `SandboxSpec::ports`.
    pub host_ports: Vec<u16>,
}

/// Everything needed to start one container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The container's name in the pod.
    pub name: String,
    /// The image (docker) or ignored (process).
    pub image: String,
    /// The entrypoint override (`command`).
    pub command: Vec<String>,
    /// The arguments (`args`).
    pub args: Vec<String>,
    /// The environment, already resolved (downward API and ports included).
    pub env: Vec<(String, String)>,
    /// The working directory, if set.
    pub working_dir: Option<String>,
    /// CPU limit in millicores, if any.
    pub cpu_limit_milli: Option<u64>,
    /// Memory limit in bytes, if any.
    pub memory_limit_bytes: Option<u64>,
    /// Mounts, already materialised on the host by the agent (emptyDir, configMap, secret,
    /// hostPath).
    pub mounts: Vec<Mount>,
    /// Labels to keep on the runtime object (pod uid, container name, attempt).
    pub labels: BTreeMap<String, String>,
}

/// A host path mounted into a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// The folder or file on the host.
    pub host_path: String,
    /// Where it appears in the container.
    pub container_path: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The runtime's id for a container.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerId(pub String);

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a container is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    /// Created but not started yet.
    Created,
    /// Running since the given RFC 3339 time.
    Running {
        /// When it started.
        started_at: String,
    },
    /// Exited.
    Exited {
        /// The exit code.
        exit_code: i32,
        /// `Completed`, `Error`, `OOMKilled`, ...
        reason: String,
        /// When it started (RFC 3339).
        started_at: String,
        /// When it finished (RFC 3339).
        finished_at: String,
    },
}

/// The result of an exec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    /// The exit code (non-zero fails an exec probe).
    pub exit_code: i32,
    /// The first bytes of combined output.
    pub output: String,
}

/// What `logs` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogOptions {
    /// Keep streaming new output.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
    /// Prefix each line with its RFC 3339 time.
    pub timestamps: bool,
}

/// A sandbox found by [`crate::ContainerRuntime::list`], with its containers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SandboxListing {
    /// The sandbox.
    pub sandbox: Sandbox,
    /// The containers in it.
    pub containers: Vec<ContainerListing>,
}

/// A container found by [`crate::ContainerRuntime::list`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerListing {
    /// Its id.
    pub id: ContainerId,
    /// Its name in the pod.
    pub name: String,
    /// Its restart attempt.
    pub attempt: u32,
    /// Its state.
    pub state: ContainerState,
}

/// A running container's resource counters at one instant, as cAdvisor reads them for the
/// kubelet: the agent turns two of them into a CPU rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStats {
    /// CPU time used since the container started, user and system, in nanoseconds. It only
    /// grows while the container runs; a reader must treat a decrease as a reset.
    pub cpu_usage_ns: u64,
    /// The memory working set in bytes: what the container holds that the kernel cannot simply
    /// drop (resident memory, or the cgroup's usage less its inactive file cache), the figure
    /// the kubelet, `kubectl top` and the OOM killer go by.
    pub memory_working_set_bytes: u64,
}
