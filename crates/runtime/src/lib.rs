//! How Brume runs the containers of a pod (DESIGN §6). The node agent's pod workers speak only
//! to the [`ContainerRuntime`] trait; a runtime is chosen per pod by `spec.runtimeClassName`
//! and advertised by its handler name.
//!
//! - `docker`: containers through the Docker Engine (bollard); the containers of a pod share one
//!   network namespace; ports are published on allocated host ports.
//! - `process`: `command`/`args` run as host processes in their own process group, with the
//!   allocated ports passed as `PORT` and `BRUME_PORT_<NAME>`.
//! - `fake`: records what it is asked and pretends, for hollow nodes and unit tests.
//!
//! The shapes follow the Kubernetes CRI loosely: a pod sandbox holds the shared network and
//! the allocated ports; containers are created and started in it; the runtime lists what it runs
//! so an agent that restarts re-adopts its pods instead of duplicating them.
#![warn(missing_docs)]

pub mod docker;
pub mod fake;
pub mod ports;
pub mod private_file;
pub mod process;
mod types;

pub use types::*;

use async_trait::async_trait;
use futures::stream::BoxStream;

/// Why a runtime operation failed. The agent turns these into container `waiting` reasons and
/// events, so each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The image is not present and cannot be pulled (no registry is reachable). Maps to the
    /// `ErrImagePull`/`ImagePullBackOff` reasons.
    #[error("image {image:?} is not present on this node and could not be pulled: {detail}")]
    ImageNotFound {
        /// The image reference from the pod spec.
        image: String,
        /// Why, including how to import it (`brume image import FILE.tar`).
        detail: String,
    },
    /// The command to run does not exist or cannot be executed. Maps to `RunContainerError`.
    #[error("cannot run {command:?}: {detail}")]
    CommandNotFound {
        /// The command (first word of command+args, or the image entrypoint).
        command: String,
        /// Why.
        detail: String,
    },
    /// The pod asks for something this runtime cannot do (`CreateContainerConfigError`).
    #[error("invalid container configuration: {0}")]
    InvalidConfig(String),
    /// No such sandbox or container (it was removed behind the agent's back).
    #[error("{0} not found")]
    NotFound(String),
    /// The runtime itself failed (daemon unreachable, I/O error, ...).
    #[error("runtime failure: {0}")]
    Backend(String),
}

/// A stream of log bytes.
pub type LogStream = BoxStream<'static, Result<bytes::Bytes, RuntimeError>>;

/// The operations the node agent needs from a container runtime.
#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// The handler name advertised on the Node and matched by `spec.runtimeClassName`.
    fn handler(&self) -> &'static str;

    /// Whether this runtime applies cpu and memory limits on this node. The process runtime
    /// cannot where cgroup v2 is not writable; the agent then says so in an event for pods that
    /// set limits.
    fn limits_enforced(&self) -> bool {
        true
    }

    /// Creates the pod's sandbox: its shared network and its host ports. Idempotent per pod uid:
    /// calling it again for a sandbox that exists returns the existing one.
    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<Sandbox, RuntimeError>;

    /// Removes a sandbox and every container in it (stopping them at once if still running).
    async fn remove_sandbox(&self, pod_uid: &str) -> Result<(), RuntimeError>;

    /// Creates and starts one container in a sandbox. `attempt` counts restarts from 0, and is
    /// kept on the container so a re-adopting agent knows the restart count.
    async fn start_container(
        &self,
        sandbox: &Sandbox,
        spec: &ContainerSpec,
        attempt: u32,
    ) -> Result<ContainerId, RuntimeError>;

    /// The state of a container.
    async fn container_state(&self, id: &ContainerId) -> Result<ContainerState, RuntimeError>;

    /// Stops a container: SIGTERM (or the image's stop signal), then SIGKILL after `grace`.
    async fn stop_container(
        &self,
        id: &ContainerId,
        grace: std::time::Duration,
    ) -> Result<(), RuntimeError>;

    /// Removes a stopped container (the agent keeps the previous attempt for `logs --previous`).
    async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError>;

    /// Runs a command inside a running container (exec probes). Returns the exit code and the
    /// first bytes of output.
    async fn exec(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: std::time::Duration,
    ) -> Result<ExecResult, RuntimeError>;

    /// A running container's CPU and memory counters (for the metrics API and the HPA), or
    /// `None` when it is not running.
    async fn container_stats(
        &self,
        id: &ContainerId,
    ) -> Result<Option<ContainerStats>, RuntimeError>;

    /// A container's logs: everything so far, then new output while `follow` is set.
    async fn logs(&self, id: &ContainerId, opts: &LogOptions) -> Result<LogStream, RuntimeError>;

    /// Every sandbox and container this runtime holds for this node, for re-adoption.
    async fn list(&self) -> Result<Vec<SandboxListing>, RuntimeError>;
}
