//! The `fake` runtime: nothing runs, every call is recorded, containers are `Running` as soon as
//! they start. Hollow nodes use it for scale work (thousands of pods, so it is a few hash maps
//! under one lock), and agent tests use it to assert on what the agent asked for and to inject
//! faults: a container exiting, a start failing, an exec probe failing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::ports::{DEFAULT_HOST_PORT_RANGE, PortAllocator};
use crate::process::record::now_rfc3339;
use crate::{
    ContainerId, ContainerListing, ContainerRuntime, ContainerSpec, ContainerState, ContainerStats,
    ExecResult, LogOptions, LogStream, RuntimeError, Sandbox, SandboxListing, SandboxSpec,
};

/// One call made to a [`FakeRuntime`], in the order made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeCall {
    /// `create_sandbox` for a pod uid.
    CreateSandbox {
        /// The pod uid.
        pod_uid: String,
    },
    /// `remove_sandbox` for a pod uid.
    RemoveSandbox {
        /// The pod uid.
        pod_uid: String,
    },
    /// `start_container`.
    StartContainer {
        /// The pod uid.
        pod_uid: String,
        /// The container name.
        container: String,
        /// The attempt.
        attempt: u32,
    },
    /// `container_state`.
    ContainerState {
        /// The container.
        id: ContainerId,
    },
    /// `stop_container`.
    StopContainer {
        /// The container.
        id: ContainerId,
        /// The grace period asked for.
        grace: Duration,
    },
    /// `remove_container`.
    RemoveContainer {
        /// The container.
        id: ContainerId,
    },
    /// `exec`.
    Exec {
        /// The container.
        id: ContainerId,
        /// The command.
        command: Vec<String>,
    },
    /// `logs`.
    Logs {
        /// The container.
        id: ContainerId,
    },
    /// `list`.
    List,
}

/// Makes the error a failing start returns (a `RuntimeError` is not `Clone`, so a hook builds
/// a fresh one each time).
pub type ErrorFactory = Arc<dyn Fn() -> RuntimeError + Send + Sync>;

struct FakeContainer {
    name: String,
    attempt: u32,
    state: ContainerState,
    logs: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    sandboxes: HashMap<String, (Sandbox, Vec<ContainerId>)>,
    containers: HashMap<ContainerId, FakeContainer>,
    calls: Vec<FakeCall>,
    start_failures: HashMap<String, ErrorFactory>,
    exit_on_start: HashMap<String, i32>,
    exec_codes: HashMap<String, i32>,
    stats: HashMap<ContainerId, ContainerStats>,
}

/// An in-memory runtime that records its calls (handler `fake`).
pub struct FakeRuntime {
    inner: Mutex<Inner>,
    ports: PortAllocator,
    recording: bool,
    limits_enforced: AtomicBool,
}

impl FakeRuntime {
    /// A fake publishing ports on `host_ip` and recording every call.
    pub fn new(host_ip: IpAddr) -> Self {
        Self::with_port_range(host_ip, DEFAULT_HOST_PORT_RANGE)
    }

    /// A fake handing out host ports from `range` (never bound: hollow pods listen on nothing).
    pub fn with_port_range(host_ip: IpAddr, range: RangeInclusive<u16>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            ports: PortAllocator::unprobed(host_ip, range),
            recording: true,
            limits_enforced: AtomicBool::new(true),
        }
    }

    /// Stops recording calls, so a hollow node running pods for hours does not grow its log.
    pub fn without_recording(mut self) -> Self {
        self.recording = false;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, inner: &mut Inner, call: FakeCall) {
        if self.recording {
            inner.calls.push(call);
        }
    }

    /// Every call made so far, oldest first.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.lock().calls.clone()
    }

    /// Forgets the calls made so far.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Makes a running container exit with `exit_code` now (reason `Completed` for 0, `Error`
    /// otherwise). Returns whether the container existed.
    pub fn exit_container(&self, id: &ContainerId, exit_code: i32) -> bool {
        let mut inner = self.lock();
        let Some(c) = inner.containers.get_mut(id) else {
            return false;
        };
        c.state = exited(&c.state, exit_code);
        true
    }

    /// Makes every start of a container named `container` fail with the error `make` builds,
    /// until [`Self::clear_start_failure`].
    pub fn fail_starts(
        &self,
        container: &str,
        make: impl Fn() -> RuntimeError + Send + Sync + 'static,
    ) {
        self.lock()
            .start_failures
            .insert(container.to_string(), Arc::new(make));
    }

    /// Lets containers named `container` start again.
    pub fn clear_start_failure(&self, container: &str) {
        self.lock().start_failures.remove(container);
    }

    /// Makes containers named `container` exit with `exit_code` as soon as they start (a crash
    /// loop), until [`Self::clear_exit_on_start`].
    pub fn exit_on_start(&self, container: &str, exit_code: i32) {
        self.lock()
            .exit_on_start
            .insert(container.to_string(), exit_code);
    }

    /// Lets containers named `container` keep running after they start.
    pub fn clear_exit_on_start(&self, container: &str) {
        self.lock().exit_on_start.remove(container);
    }

    /// Makes execs in containers named `container` return `exit_code` (0 by default).
    pub fn set_exec_exit_code(&self, container: &str, exit_code: i32) {
        self.lock()
            .exec_codes
            .insert(container.to_string(), exit_code);
    }

    /// Sets the counters a container reports from now on (zero until set), as if it had used
    /// that much CPU and memory. Returns whether the container existed.
    pub fn set_stats(&self, id: &ContainerId, stats: ContainerStats) -> bool {
        let mut inner = self.lock();
        if !inner.containers.contains_key(id) {
            return false;
        }
        inner.stats.insert(id.clone(), stats);
        true
    }

    /// Appends output to a container's logs. Returns whether the container existed.
    pub fn append_log(&self, id: &ContainerId, bytes: &[u8]) -> bool {
        let mut inner = self.lock();
        let Some(c) = inner.containers.get_mut(id) else {
            return false;
        };
        c.logs.extend_from_slice(bytes);
        true
    }

    /// Makes the fake say whether it enforces limits (true by default), as a process runtime
    /// on a host without cgroup v2 says false.
    pub fn set_limits_enforced(&self, enforced: bool) {
        self.limits_enforced.store(enforced, Ordering::Relaxed);
    }

    /// How many sandboxes and containers the fake holds.
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.sandboxes.len(), inner.containers.len())
    }
}

/// The `Exited` state that follows `state`.
fn exited(state: &ContainerState, exit_code: i32) -> ContainerState {
    let started_at = match state {
        ContainerState::Running { started_at } => started_at.clone(),
        ContainerState::Exited { .. } => return state.clone(),
        ContainerState::Created => now_rfc3339(),
    };
    ContainerState::Exited {
        exit_code,
        reason: if exit_code == 0 { "Completed" } else { "Error" }.to_string(),
        started_at,
        finished_at: now_rfc3339(),
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    fn handler(&self) -> &'static str {
        "fake"
    }

    fn limits_enforced(&self) -> bool {
        self.limits_enforced.load(Ordering::Relaxed)
    }

    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<Sandbox, RuntimeError> {
        let mut inner = self.lock();
        self.record(
            &mut inner,
            FakeCall::CreateSandbox {
                pod_uid: spec.pod_uid.clone(),
            },
        );
        if let Some((sandbox, _)) = inner.sandboxes.get(&spec.pod_uid) {
            return Ok(sandbox.clone());
        }
        let sandbox = Sandbox {
            pod_uid: spec.pod_uid.clone(),
            id: format!("fake-{}", spec.pod_uid),
            pod_ip: self.ports.host_ip(),
            host_ports: self.ports.allocate(&spec.pod_uid, &spec.ports)?,
        };
        inner
            .sandboxes
            .insert(spec.pod_uid.clone(), (sandbox.clone(), Vec::new()));
        Ok(sandbox)
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        self.record(
            &mut inner,
            FakeCall::RemoveSandbox {
                pod_uid: pod_uid.to_string(),
            },
        );
        if let Some((_, ids)) = inner.sandboxes.remove(pod_uid) {
            for id in ids {
                inner.containers.remove(&id);
                inner.stats.remove(&id);
            }
        }
        self.ports.release(pod_uid);
        Ok(())
    }

    async fn start_container(
        &self,
        sandbox: &Sandbox,
        spec: &ContainerSpec,
        attempt: u32,
    ) -> Result<ContainerId, RuntimeError> {
        let mut inner = self.lock();
        let uid = &sandbox.pod_uid;
        self.record(
            &mut inner,
            FakeCall::StartContainer {
                pod_uid: uid.clone(),
                container: spec.name.clone(),
                attempt,
            },
        );
        if let Some(make) = inner.start_failures.get(&spec.name) {
            return Err(make());
        }
        if !inner.sandboxes.contains_key(uid) {
            return Err(RuntimeError::NotFound(format!("sandbox {uid}")));
        }
        let id = ContainerId(format!("{uid}/{}-{attempt}", spec.name));
        if inner.containers.contains_key(&id) {
            return Ok(id);
        }
        let running = ContainerState::Running {
            started_at: now_rfc3339(),
        };
        let state = match inner.exit_on_start.get(&spec.name) {
            Some(code) => exited(&running, *code),
            None => running,
        };
        inner.containers.insert(
            id.clone(),
            FakeContainer {
                name: spec.name.clone(),
                attempt,
                state,
                logs: Vec::new(),
            },
        );
        if let Some((_, ids)) = inner.sandboxes.get_mut(uid) {
            ids.push(id.clone());
        }
        Ok(id)
    }

    async fn container_state(&self, id: &ContainerId) -> Result<ContainerState, RuntimeError> {
        let mut inner = self.lock();
        self.record(&mut inner, FakeCall::ContainerState { id: id.clone() });
        inner
            .containers
            .get(id)
            .map(|c| c.state.clone())
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))
    }

    /// Stops a container at once: it exits with 0 (`Completed`), as a program that handles
    /// SIGTERM does.
    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        self.record(
            &mut inner,
            FakeCall::StopContainer {
                id: id.clone(),
                grace,
            },
        );
        let c = inner
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        c.state = exited(&c.state, 0);
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        let mut inner = self.lock();
        self.record(&mut inner, FakeCall::RemoveContainer { id: id.clone() });
        inner.containers.remove(id);
        inner.stats.remove(id);
        let uid = id.0.split_once('/').map_or("", |(uid, _)| uid).to_string();
        if let Some((_, ids)) = inner.sandboxes.get_mut(&uid) {
            ids.retain(|c| c != id);
        }
        Ok(())
    }

    /// The counters set with [`FakeRuntime::set_stats`] (zero otherwise) while it runs.
    async fn container_stats(
        &self,
        id: &ContainerId,
    ) -> Result<Option<ContainerStats>, RuntimeError> {
        let inner = self.lock();
        let c = inner
            .containers
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        Ok(matches!(c.state, ContainerState::Running { .. })
            .then(|| inner.stats.get(id).copied().unwrap_or_default()))
    }

    async fn exec(
        &self,
        id: &ContainerId,
        command: &[String],
        _timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        let mut inner = self.lock();
        self.record(
            &mut inner,
            FakeCall::Exec {
                id: id.clone(),
                command: command.to_vec(),
            },
        );
        let c = inner
            .containers
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        if !matches!(c.state, ContainerState::Running { .. }) {
            return Err(RuntimeError::Backend(format!(
                "container {id} is not running; exec needs a running container"
            )));
        }
        let exit_code = inner.exec_codes.get(&c.name).copied().unwrap_or(0);
        Ok(ExecResult {
            exit_code,
            output: String::new(),
        })
    }

    /// The logs appended so far ([`FakeRuntime::append_log`]); `follow` ends there too.
    async fn logs(&self, id: &ContainerId, opts: &LogOptions) -> Result<LogStream, RuntimeError> {
        let mut inner = self.lock();
        self.record(&mut inner, FakeCall::Logs { id: id.clone() });
        let c = inner
            .containers
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        let shown = match opts.tail_lines {
            Some(n) => crate::process::logs::tail(&c.logs, n),
            None => &c.logs[..],
        };
        let chunk = Bytes::copy_from_slice(shown);
        Ok(futures::stream::iter((!chunk.is_empty()).then_some(Ok(chunk))).boxed())
    }

    async fn list(&self) -> Result<Vec<SandboxListing>, RuntimeError> {
        let mut inner = self.lock();
        self.record(&mut inner, FakeCall::List);
        let mut out: Vec<SandboxListing> = inner
            .sandboxes
            .values()
            .map(|(sandbox, ids)| SandboxListing {
                sandbox: sandbox.clone(),
                containers: ids
                    .iter()
                    .filter_map(|id| {
                        inner.containers.get(id).map(|c| ContainerListing {
                            id: id.clone(),
                            name: c.name.clone(),
                            attempt: c.attempt,
                            state: c.state.clone(),
                        })
                    })
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.sandbox.pod_uid.cmp(&b.sandbox.pod_uid));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PortSpec;
    use std::net::Ipv4Addr;

    fn sandbox_spec(uid: &str) -> SandboxSpec {
        SandboxSpec {
            pod_uid: uid.into(),
            namespace: "default".into(),
            name: format!("pod-{uid}"),
            host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: vec![PortSpec {
                container: "app".into(),
                name: Some("http".into()),
                container_port: 80,
                host_port: None,
                protocol: "TCP".into(),
            }],
        }
    }

    fn app() -> ContainerSpec {
        ContainerSpec {
            name: "app".into(),
            ..ContainerSpec::default()
        }
    }

    fn fake() -> FakeRuntime {
        FakeRuntime::new(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    #[tokio::test]
    async fn containers_run_at_once_and_calls_are_recorded() {
        let rt = fake();
        let sb = rt.create_sandbox(&sandbox_spec("u1")).await.unwrap();
        assert_eq!(sb.host_ports.len(), 1);
        let id = rt.start_container(&sb, &app(), 0).await.unwrap();
        assert!(matches!(
            rt.container_state(&id).await.unwrap(),
            ContainerState::Running { .. }
        ));
        rt.stop_container(&id, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(matches!(
            rt.container_state(&id).await.unwrap(),
            ContainerState::Exited { exit_code: 0, .. }
        ));
        assert_eq!(
            rt.calls()[..2],
            [
                FakeCall::CreateSandbox {
                    pod_uid: "u1".into()
                },
                FakeCall::StartContainer {
                    pod_uid: "u1".into(),
                    container: "app".into(),
                    attempt: 0
                },
            ]
        );
    }

    #[tokio::test]
    async fn stats_are_what_was_set_while_the_container_runs() {
        let rt = fake();
        let sb = rt.create_sandbox(&sandbox_spec("u1")).await.unwrap();
        let id = rt.start_container(&sb, &app(), 0).await.unwrap();
        assert_eq!(
            rt.container_stats(&id).await.unwrap(),
            Some(ContainerStats::default())
        );
        let busy = ContainerStats {
            cpu_usage_ns: 1_500_000_000,
            memory_working_set_bytes: 4096,
        };
        assert!(rt.set_stats(&id, busy));
        assert_eq!(rt.container_stats(&id).await.unwrap(), Some(busy));
        assert!(rt.exit_container(&id, 0));
        assert_eq!(rt.container_stats(&id).await.unwrap(), None, "exited");
        rt.remove_container(&id).await.unwrap();
        assert!(matches!(
            rt.container_stats(&id).await,
            Err(RuntimeError::NotFound(_))
        ));
        assert!(!rt.set_stats(&id, busy));
    }

    #[tokio::test]
    async fn hooks_exit_fail_and_set_exec_codes() {
        let rt = fake();
        let sb = rt.create_sandbox(&sandbox_spec("u1")).await.unwrap();
        let id = rt.start_container(&sb, &app(), 0).await.unwrap();
        assert!(rt.limits_enforced());
        rt.set_limits_enforced(false);
        assert!(!rt.limits_enforced());
        rt.set_exec_exit_code("app", 1);
        let r = rt
            .exec(&id, &["true".into()], Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(r.exit_code, 1);
        assert!(rt.exit_container(&id, 3));
        assert!(matches!(
            rt.container_state(&id).await.unwrap(),
            ContainerState::Exited { exit_code: 3, ref reason, .. } if reason == "Error"
        ));
        rt.fail_starts("app", || RuntimeError::CommandNotFound {
            command: "web".into(),
            detail: "injected".into(),
        });
        let err = rt.start_container(&sb, &app(), 1).await.unwrap_err();
        assert!(matches!(err, RuntimeError::CommandNotFound { .. }));
        rt.clear_start_failure("app");
        rt.exit_on_start("app", 2);
        let id2 = rt.start_container(&sb, &app(), 1).await.unwrap();
        assert!(matches!(
            rt.container_state(&id2).await.unwrap(),
            ContainerState::Exited { exit_code: 2, .. }
        ));
    }

    #[tokio::test]
    async fn list_and_remove_follow_sandboxes() {
        let rt = fake().without_recording();
        for i in 0..1000 {
            let sb = rt
                .create_sandbox(&sandbox_spec(&format!("u{i}")))
                .await
                .unwrap();
            rt.start_container(&sb, &app(), 0).await.unwrap();
        }
        assert_eq!(rt.counts(), (1000, 1000));
        assert!(rt.calls().is_empty());
        let listed = rt.list().await.unwrap();
        assert_eq!(listed.len(), 1000);
        assert_eq!(listed[0].containers.len(), 1);
        rt.remove_sandbox("u0").await.unwrap();
        assert_eq!(rt.counts(), (999, 999));
    }
}
