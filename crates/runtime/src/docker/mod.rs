//! The `docker` runtime: pods as Docker containers through the local engine (bollard, API
//! version negotiated, so Debian's `docker.io` 20.10 at API 1.41 works).
//!
//! A pod is a sandbox container (`brume/pause:1` by default) that holds the network namespace
//! and publishes the declared ports on `host_ip:<host port>`; its app containers join that
//! namespace (`network_mode: container:<sandbox>`), so they reach each other over localhost.
//! Every container carries the `io.brume.*` labels of [`labels`]; they are how a restarted
//! agent finds its pods again.

mod container;
mod errors;
mod exec;
mod images;
pub mod labels;
mod listing;
mod logs;
mod sandbox;
mod spec;
mod state;
mod stats;

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::ContainerInspectResponse;

pub use errors::IMPORT_HINT;

use crate::ports::{DEFAULT_HOST_PORT_RANGE, PortAllocator};
use crate::{
    ContainerId, ContainerRuntime, ContainerSpec, ContainerState, ContainerStats, ExecResult,
    LogOptions, LogStream, RuntimeError, Sandbox, SandboxListing, SandboxSpec,
};

/// How long `connect` waits for the engine to answer before deciding there is none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one request may wait for the engine's answer (bollard's default).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// Settings of the Docker runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerConfig {
    /// The image of pod sandboxes; it must run forever and exit on SIGTERM
    /// (`tests/images/build.sh` builds `brume/pause:1`).
    pub sandbox_image: String,
    /// The node name put on every container and used to filter listings, so several agents
    /// can share one engine (`brume dev`); `None` lists every Brume container.
    pub node_name: Option<String>,
    /// Whether an absent image may be pulled from a registry. Off by default: fog sites are
    /// often air-gapped, and images come from `brume image import` or `--images-dir`.
    pub pull_images: bool,
    /// How long a pull may take before the image counts as unavailable.
    pub pull_timeout: Duration,
    /// The engine's unix socket; `None` means `DOCKER_HOST` (when it is `unix://…`) or
    /// `/var/run/docker.sock`.
    pub socket: Option<String>,
    /// Where allocated host ports come from (when the runtime has its own allocator).
    pub port_range: RangeInclusive<u16>,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            sandbox_image: "brume/pause:1".into(),
            node_name: None,
            pull_images: false,
            pull_timeout: Duration::from_secs(60),
            socket: None,
            port_range: DEFAULT_HOST_PORT_RANGE,
        }
    }
}

/// The Docker implementation of [`ContainerRuntime`].
#[derive(Debug)]
pub struct DockerRuntime {
    docker: Docker,
    config: DockerConfig,
    host_ip: IpAddr,
    ports: Arc<PortAllocator>,
}

impl DockerRuntime {
    /// Connects to the local engine with default settings; `None` when no daemon answers (the
    /// `docker` handler is then not advertised). `host_ip` is the node address pods get when
    /// a listing does not record one.
    pub async fn connect(host_ip: IpAddr) -> Result<Option<Self>, RuntimeError> {
        Self::connect_with(host_ip, DockerConfig::default()).await
    }

    /// Connects to the local engine with its own host port allocator over
    /// `config.port_range`; `None` when no daemon answers.
    pub async fn connect_with(
        host_ip: IpAddr,
        config: DockerConfig,
    ) -> Result<Option<Self>, RuntimeError> {
        let ports = Arc::new(PortAllocator::new(host_ip, config.port_range.clone()));
        Self::connect_sharing(host_ip, config, ports).await
    }

    /// Connects to the local engine (`DOCKER_HOST=unix://…` or `/var/run/docker.sock`),
    /// negotiates the API version, and records in `ports` the host ports of the sandboxes it
    /// already holds; `None` when no daemon answers. Pass the allocator the node's other
    /// runtimes use, so two runtimes never hand out the same port.
    pub async fn connect_sharing(
        host_ip: IpAddr,
        config: DockerConfig,
        ports: Arc<PortAllocator>,
    ) -> Result<Option<Self>, RuntimeError> {
        let connected = match &config.socket {
            Some(path) => {
                Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            }
            None => Docker::connect_with_local_defaults(),
        };
        let docker = match connected {
            Ok(docker) => docker,
            Err(e) => {
                tracing::info!(error = %e, "no docker engine socket");
                return Ok(None);
            }
        };
        let docker = match tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version()).await {
            Ok(Ok(docker)) => docker,
            Ok(Err(e)) => {
                tracing::info!(error = %e, "no docker engine answers");
                return Ok(None);
            }
            Err(_) => {
                tracing::info!("the docker engine did not answer within {CONNECT_TIMEOUT:?}");
                return Ok(None);
            }
        };
        let runtime = Self {
            docker,
            ports,
            config,
            host_ip,
        };
        for listing in runtime.list().await? {
            let sandbox = listing.sandbox;
            runtime.ports.restore(&sandbox.pod_uid, &sandbox.host_ports);
        }
        tracing::info!(api = %runtime.api_version(), "docker runtime ready");
        Ok(Some(runtime))
    }

    /// The Docker API version agreed with the engine (`1.41` for Debian's docker.io 20.10).
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// The host port allocator this runtime draws from.
    pub fn port_allocator(&self) -> &Arc<PortAllocator> {
        &self.ports
    }

    /// The settings this runtime runs with.
    pub fn config(&self) -> &DockerConfig {
        &self.config
    }

    /// Loads an image archive (`docker save` output) into the engine and returns the image
    /// names it held; `brume image import FILE.tar` and the agent's `--images-dir` call it.
    pub async fn import_image(&self, tar: &Path) -> Result<Vec<String>, RuntimeError> {
        images::import(&self.docker, tar).await
    }

    /// Whether an image is present on this engine.
    pub async fn has_image(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if errors::is_not_found(&e) => Ok(false),
            Err(e) => Err(errors::backend(&format!("image {image}"), e)),
        }
    }

    /// The engine's full view of a container (`docker inspect`), for diagnostics and tests.
    pub async fn inspect(
        &self,
        id: &ContainerId,
    ) -> Result<ContainerInspectResponse, RuntimeError> {
        self.docker
            .inspect_container(&id.0, None)
            .await
            .map_err(|e| errors::backend(&format!("container {id}"), e))
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    fn handler(&self) -> &'static str {
        "docker"
    }

    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<Sandbox, RuntimeError> {
        sandbox::create(self, spec).await
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<(), RuntimeError> {
        sandbox::remove(self, pod_uid).await
    }

    async fn start_container(
        &self,
        sandbox: &Sandbox,
        spec: &ContainerSpec,
        attempt: u32,
    ) -> Result<ContainerId, RuntimeError> {
        container::start(self, sandbox, spec, attempt).await
    }

    async fn container_state(&self, id: &ContainerId) -> Result<ContainerState, RuntimeError> {
        let inspect = self.inspect(id).await?;
        Ok(inspect
            .state
            .as_ref()
            .map(state::from_docker)
            .unwrap_or(ContainerState::Created))
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError> {
        container::stop(&self.docker, &id.0, grace).await
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        container::remove(&self.docker, &id.0).await
    }

    async fn exec(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        exec::run(&self.docker, &id.0, command, timeout).await
    }

    async fn container_stats(
        &self,
        id: &ContainerId,
    ) -> Result<Option<ContainerStats>, RuntimeError> {
        stats::read(&self.docker, &id.0).await
    }

    async fn logs(&self, id: &ContainerId, opts: &LogOptions) -> Result<LogStream, RuntimeError> {
        logs::stream(&self.docker, &id.0, opts).await
    }

    async fn list(&self) -> Result<Vec<SandboxListing>, RuntimeError> {
        sandbox::list(self, None).await
    }
}
