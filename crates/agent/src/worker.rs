//! One worker per pod: an explicit state machine that creates the sandbox, starts and restarts
//! containers, runs probes, posts status, and stops everything gracefully on deletion.
//!
//! ```text
//!   NeedSandbox ──sandbox made──▶ Running ──deletionTimestamp / pod gone──▶ Terminating ──▶ Finished
//!        │  (error: retried with back-off, reason in status)        ▲
//!        └──────────────────────────────────────────────────────────┘ (deleted before start)
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use brume_runtime::{
    ContainerId, ContainerListing, ContainerRuntime, ContainerState, RuntimeError, Sandbox,
    SandboxSpec,
};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::downward::NodeResources;
use crate::events::Recorder;
use crate::probe::{self, Probe, ProbeState, Verdict};
use crate::restart::{AfterExit, RestartPolicy, after_exit};
use crate::spec;
use crate::status::{ContainerView, PodView, pod_status};

/// The annotation carrying a pod's allocated host ports (see [`spec::host_ports_annotation`]).
pub const HOST_PORTS: &str = "fog.brume.io/host-ports";

/// How often a worker looks at its containers when nothing else wakes it.
const TICK: Duration = Duration::from_millis(500);

/// The stage of a pod's life on this node.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// The sandbox is not made yet.
    NeedSandbox,
    /// The sandbox exists; containers run, restart and are probed.
    Running,
    /// Containers are being stopped; the pod object is deleted at the end if it asked to be.
    Terminating,
    /// Nothing is left on the node.
    Finished,
}

/// What a worker shares with the agent.
#[derive(Clone)]
pub struct WorkerContext {
    /// The API client.
    pub client: kube::Client,
    /// The runtime the pod asked for.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// The node address.
    pub host_ip: IpAddr,
    /// Events about the pod.
    pub events: Recorder,
    /// Where `kubectl logs` finds the pod's containers.
    pub logs: crate::logs::LogRegistry,
    /// The agent's folder for pod volumes (`<state>/pods/<uid>/volumes/<name>`).
    pub pods_dir: std::path::PathBuf,
    /// The node's resources, for the Downward API (read once per agent).
    pub node: NodeResources,
}

struct Slot {
    /// An init container: runs to completion before any container starts.
    init: bool,
    spec_json: Value,
    name: String,
    id: Option<ContainerId>,
    attempt: u32,
    restarts: u32,
    state: Option<ContainerState>,
    last: Option<ContainerState>,
    waiting: Option<(String, String)>,
    retry_at: Option<Instant>,
    started_at: Option<Instant>,
    done: bool,
    liveness: Option<ProbeState>,
    readiness: Option<ProbeState>,
    startup: Option<ProbeState>,
}

impl Slot {
    fn new(spec_json: Value, init: bool) -> Slot {
        let probe = |key: &str, passing: bool| {
            spec_json
                .get(key)
                .and_then(|p| Probe::from_spec(p, &spec_json))
                .map(|p| ProbeState::new(p, passing))
        };
        Slot {
            init,
            name: spec_json["name"].as_str().unwrap_or("").to_string(),
            liveness: probe("livenessProbe", true),
            readiness: probe("readinessProbe", false),
            startup: probe("startupProbe", false),
            spec_json,
            id: None,
            attempt: 0,
            restarts: 0,
            state: None,
            last: None,
            waiting: None,
            retry_at: None,
            started_at: None,
            done: false,
        }
    }

    fn running(&self) -> bool {
        matches!(self.state, Some(ContainerState::Running { .. }))
    }

    fn started(&self) -> bool {
        self.running() && self.startup.as_ref().is_none_or(|p| p.passing)
    }

    fn ready(&self) -> bool {
        self.started() && self.readiness.as_ref().is_none_or(|p| p.passing)
    }

    fn view(&self, prefix: &str) -> ContainerView {
        ContainerView {
            name: self.name.clone(),
            image: self.spec_json["image"].as_str().unwrap_or("").to_string(),
            container_id: self.id.as_ref().map(|id| format!("{prefix}://{id}")),
            state: self.state.clone(),
            waiting: self.waiting.clone(),
            last: self.last.clone(),
            restart_count: self.restarts,
            ready: self.ready(),
            started: self.started(),
            done: self.done,
        }
    }
}

/// A pod's worker.
pub struct Worker {
    ctx: WorkerContext,
    stage: Stage,
    pod: Value,
    sandbox_spec: SandboxSpec,
    sandbox: Option<Sandbox>,
    sandbox_retry_at: Option<Instant>,
    sandbox_error: Option<String>,
    slots: Vec<Slot>,
    volumes: Option<Vec<(String, std::path::PathBuf)>>,
    start_time: String,
    posted: Value,
}

fn now_time() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn waiting_reason(err: &RuntimeError) -> (&'static str, String) {
    match err {
        RuntimeError::ImageNotFound { .. } => ("ErrImagePull", err.to_string()),
        RuntimeError::CommandNotFound { .. } => ("RunContainerError", err.to_string()),
        RuntimeError::InvalidConfig(_) => ("CreateContainerConfigError", err.to_string()),
        _ => ("CreateContainerError", err.to_string()),
    }
}

impl Worker {
    /// A worker for `pod`, re-adopting what the runtime already runs for it, if anything.
    pub fn new(
        ctx: WorkerContext,
        pod: Value,
        adopted: Option<(Sandbox, Vec<ContainerListing>)>,
    ) -> Worker {
        let sandbox_spec = spec::sandbox_spec(&pod, ctx.host_ip);
        let mut slots: Vec<Slot> = spec::init_containers(&pod)
            .into_iter()
            .map(|c| Slot::new(c, true))
            .chain(
                spec::containers(&pod)
                    .into_iter()
                    .map(|c| Slot::new(c, false)),
            )
            .collect();
        let mut stage = Stage::NeedSandbox;
        let mut sandbox = None;
        if let Some((sb, containers)) = adopted {
            for slot in &mut slots {
                // The newest attempt of each container is the live one.
                if let Some(c) = containers
                    .iter()
                    .filter(|c| c.name == slot.name)
                    .max_by_key(|c| c.attempt)
                {
                    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
                    let name = pod["metadata"]["name"].as_str().unwrap_or("");
                    ctx.logs
                        .started(ns, name, &slot.name, ctx.runtime.clone(), c.id.clone());
                    slot.id = Some(c.id.clone());
                    slot.attempt = c.attempt;
                    slot.restarts = c.attempt;
                    slot.state = Some(c.state.clone());
                    slot.started_at = Some(Instant::now());
                }
            }
            sandbox = Some(sb);
            stage = Stage::Running;
        }
        let posted = pod.get("status").cloned().unwrap_or(json!({}));
        let start_time = posted
            .get("startTime")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(now_time);
        Worker {
            ctx,
            stage,
            pod,
            sandbox_spec,
            sandbox,
            sandbox_retry_at: None,
            sandbox_error: None,
            slots,
            volumes: None,
            start_time,
            posted,
        }
    }

    fn name(&self) -> (String, String) {
        (
            self.pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            self.pod["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    }

    fn grace(&self) -> Duration {
        let secs = self.pod["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .or_else(|| self.pod["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(30);
        Duration::from_secs(secs.max(0) as u64)
    }

    /// Runs the worker until the pod is gone from the node. `updates` carries the newest pod
    /// object, or `None` once the pod no longer exists in the API.
    pub async fn run(mut self, mut updates: watch::Receiver<Option<Value>>) {
        loop {
            let latest = updates.borrow_and_update().clone();
            match latest {
                Some(pod) => self.pod = pod,
                None => self.stage = Stage::Terminating,
            }
            let deleting = self.pod["metadata"]
                .get("deletionTimestamp")
                .is_some_and(|v| !v.is_null());
            if deleting && self.stage != Stage::Finished {
                self.stage = Stage::Terminating;
            }
            match self.stage {
                Stage::NeedSandbox => self.make_sandbox().await,
                Stage::Running => self.tend_containers().await,
                Stage::Terminating => {
                    self.terminate().await;
                    self.stage = Stage::Finished;
                    if updates.borrow().is_some() {
                        self.finish_deletion().await;
                    }
                    return;
                }
                Stage::Finished => return,
            }
            self.post_status().await;
            tokio::select! {
                changed = updates.changed() => {
                    // The manager is gone (the agent is stopping): leave the containers
                    // running, to be re-adopted by the next agent (DESIGN §6).
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(TICK) => {}
            }
        }
    }

    async fn make_sandbox(&mut self) {
        if self.sandbox_retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        if self.volumes.is_none() {
            let root = self.ctx.pods_dir.join(&self.sandbox_spec.pod_uid);
            match crate::volumes::prepare(&self.ctx.client, &self.pod, &root, self.ctx.node).await {
                Ok(v) => self.volumes = Some(v),
                Err(e) => {
                    let msg = format!("MountVolume.SetUp failed for {e}");
                    self.ctx.events.warn(&self.pod, "FailedMount", &msg).await;
                    self.sandbox_error = Some(msg);
                    self.sandbox_retry_at = Some(Instant::now() + Duration::from_secs(5));
                    return;
                }
            }
        }
        match self.ctx.runtime.create_sandbox(&self.sandbox_spec).await {
            Ok(sb) => {
                self.annotate_ports(&sb).await;
                self.sandbox = Some(sb);
                self.sandbox_error = None;
                self.stage = Stage::Running;
                self.tend_containers().await;
            }
            Err(e) => {
                let msg = format!("failed to create the pod sandbox: {e}");
                self.ctx
                    .events
                    .warn(&self.pod, "FailedCreatePodSandBox", &msg)
                    .await;
                self.sandbox_error = Some(msg);
                self.sandbox_retry_at = Some(Instant::now() + Duration::from_secs(5));
            }
        }
    }

    async fn annotate_ports(&self, sb: &Sandbox) {
        if self.sandbox_spec.ports.is_empty() {
            return;
        }
        let (ns, name) = self.name();
        let value = spec::host_ports_annotation(&self.sandbox_spec, sb);
        let patch = json!({"metadata": {"annotations": {HOST_PORTS: value}}});
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        if let Err(e) = pods
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::warn!(pod = %name, error = %e, "could not publish host ports");
        }
    }

    async fn tend_containers(&mut self) {
        let Some(sandbox) = self.sandbox.clone() else {
            return;
        };
        let policy = RestartPolicy::parse(self.pod["spec"]["restartPolicy"].as_str());
        let now = Instant::now();
        for i in 0..self.slots.len() {
            if self.slots[i].done {
                continue;
            }
            // Init containers run one at a time, in order; containers wait for all of them.
            let waiting_on_init = self.slots[..i].iter().any(|s| {
                s.init
                    && !(s.done
                        && matches!(s.state, Some(ContainerState::Exited { exit_code: 0, .. })))
            });
            if waiting_on_init {
                break;
            }
            if let Some(id) = self.slots[i].id.clone() {
                match self.ctx.runtime.container_state(&id).await {
                    Ok(state) => self.slots[i].state = Some(state),
                    Err(RuntimeError::NotFound(_)) => {
                        self.slots[i].id = None;
                        self.slots[i].state = None;
                    }
                    Err(e) => tracing::warn!(error = %e, "container state unknown"),
                }
            }
            if let Some(ContainerState::Exited { exit_code, .. }) = self.slots[i].state.clone() {
                let ran = self.slots[i]
                    .started_at
                    .map(|t| now - t)
                    .unwrap_or_default();
                // An init container that succeeded is done whatever the policy; one that
                // failed follows the policy (Always counts as OnFailure for init containers).
                let decision = if self.slots[i].init && exit_code == 0 {
                    AfterExit::Done
                } else {
                    let p = if self.slots[i].init && policy == RestartPolicy::Always {
                        RestartPolicy::OnFailure
                    } else {
                        policy
                    };
                    after_exit(p, exit_code, self.slots[i].restarts, ran)
                };
                match decision {
                    AfterExit::Done => {
                        self.slots[i].done = true;
                        continue;
                    }
                    AfterExit::RestartAfter(wait) => {
                        let slot = &mut self.slots[i];
                        slot.last = slot.state.take();
                        slot.id = None;
                        slot.restarts += 1;
                        slot.attempt += 1;
                        slot.retry_at = Some(now + wait);
                        if !wait.is_zero() {
                            let msg = format!(
                                "back-off {}s restarting failed container={} pod={}",
                                wait.as_secs(),
                                slot.name,
                                self.pod["metadata"]["name"].as_str().unwrap_or("")
                            );
                            slot.waiting = Some(("CrashLoopBackOff".into(), msg.clone()));
                            self.ctx.events.warn(&self.pod, "BackOff", &msg).await;
                        }
                    }
                }
            }
            if self.slots[i].id.is_none() && self.slots[i].retry_at.is_none_or(|t| now >= t) {
                self.start(i, &sandbox).await;
            }
            if self.slots[i].running() {
                self.probe(i).await;
            }
        }
    }

    async fn start(&mut self, i: usize, sandbox: &Sandbox) {
        let mut cspec = spec::container_spec(
            &self.pod,
            &self.slots[i].spec_json,
            sandbox,
            &self.sandbox_spec,
            self.ctx.node,
        );
        // An adopted pod's volumes were made by the previous agent; make them again (it is
        // idempotent) so the mounts are known.
        if self.volumes.is_none() {
            let root = self.ctx.pods_dir.join(&self.sandbox_spec.pod_uid);
            self.volumes =
                crate::volumes::prepare(&self.ctx.client, &self.pod, &root, self.ctx.node)
                    .await
                    .ok();
        }
        let prepared = self.volumes.as_deref().unwrap_or(&[]);
        match crate::volumes::mounts(&self.slots[i].spec_json, prepared) {
            Ok(m) => cspec.mounts = m,
            Err(e) => {
                let slot = &mut self.slots[i];
                slot.waiting = Some(("CreateContainerConfigError".into(), e.to_string()));
                slot.retry_at = Some(Instant::now() + Duration::from_secs(10));
                return;
            }
        }
        let attempt = self.slots[i].attempt;
        match self
            .ctx
            .runtime
            .start_container(sandbox, &cspec, attempt)
            .await
        {
            Ok(id) => {
                let (ns, pod) = self.name();
                self.ctx.logs.started(
                    &ns,
                    &pod,
                    &self.slots[i].name,
                    self.ctx.runtime.clone(),
                    id.clone(),
                );
                let slot = &mut self.slots[i];
                slot.id = Some(id);
                slot.waiting = None;
                slot.retry_at = None;
                slot.started_at = Some(Instant::now());
                slot.state = Some(ContainerState::Running {
                    started_at: now_time(),
                });
                // A new attempt is probed from scratch: not ready, not started, alive.
                if let Some(r) = &mut slot.readiness {
                    r.reset(false);
                }
                if let Some(s) = &mut slot.startup {
                    s.reset(false);
                }
                if let Some(l) = &mut slot.liveness {
                    l.reset(true);
                }
                let msg = format!("Started container {}", slot.name);
                self.ctx.events.normal(&self.pod, "Started", &msg).await;
                let limited = cspec.cpu_limit_milli.is_some() || cspec.memory_limit_bytes.is_some();
                if limited && !self.ctx.runtime.limits_enforced() {
                    let msg = format!(
                        "the {} runtime cannot enforce the cpu/memory limits of container {} on this node (no writable cgroup v2)",
                        self.ctx.runtime.handler(),
                        cspec.name
                    );
                    self.ctx
                        .events
                        .warn(&self.pod, "LimitsNotEnforced", &msg)
                        .await;
                }
            }
            Err(e) => {
                let (reason, message) = waiting_reason(&e);
                let slot = &mut self.slots[i];
                let wait = crate::restart::backoff(slot.restarts.max(1), Duration::ZERO);
                slot.retry_at = Some(Instant::now() + wait);
                // After the first failure a missing image is ImagePullBackOff, as in Kubernetes.
                let reason = if reason == "ErrImagePull" && slot.waiting.is_some() {
                    "ImagePullBackOff"
                } else {
                    reason
                };
                slot.waiting = Some((reason.to_string(), message.clone()));
                self.ctx
                    .events
                    .warn(&self.pod, "Failed", &format!("Error: {message}"))
                    .await;
            }
        }
    }

    async fn probe(&mut self, i: usize) {
        let now = Instant::now();
        let host = self.ctx.host_ip;
        let ports: Vec<(u16, u16)> = self
            .sandbox_spec
            .ports
            .iter()
            .zip(
                self.sandbox
                    .as_ref()
                    .map(|s| s.host_ports.clone())
                    .unwrap_or_default(),
            )
            .filter(|(p, _)| p.container == self.slots[i].name)
            .map(|(p, h)| (p.container_port, h))
            .collect();
        let map = move |port: u16| ports.iter().find(|(c, _)| *c == port).map(|(_, h)| *h);
        let Some(id) = self.slots[i].id.clone() else {
            return;
        };
        let Some(started) = self.slots[i].started_at else {
            return;
        };
        let runtime = self.ctx.runtime.clone();
        // Startup first: liveness and readiness wait until it passes.
        if let Some(p) = self.slots[i].startup.as_mut()
            && !p.passing
        {
            if p.due(started, now) {
                let ok = probe::check(&p.probe, host, &map, &runtime, &id).await;
                if p.record(ok, now) == Verdict::Failed || (!ok && p.probe.failure_threshold == 0) {
                    self.kill_unhealthy(i, "startup").await;
                }
            }
            return;
        }
        if let Some(p) = self.slots[i].readiness.as_mut()
            && p.due(started, now)
        {
            let ok = probe::check(&p.probe, host, &map, &runtime, &id).await;
            p.record(ok, now);
        }
        let mut failed = false;
        if let Some(p) = self.slots[i].liveness.as_mut()
            && p.due(started, now)
        {
            let ok = probe::check(&p.probe, host, &map, &runtime, &id).await;
            failed = p.record(ok, now) == Verdict::Failed;
        }
        if failed {
            self.kill_unhealthy(i, "liveness").await;
        }
    }

    async fn kill_unhealthy(&mut self, i: usize, which: &str) {
        let name = self.slots[i].name.clone();
        let msg = format!("Container {name} failed {which} probe, will be restarted");
        self.ctx.events.warn(&self.pod, "Unhealthy", &msg).await;
        if let Some(id) = self.slots[i].id.clone() {
            let _ = self.ctx.runtime.stop_container(&id, self.grace()).await;
        }
    }

    async fn terminate(&mut self) {
        let grace = self.grace();
        for slot in &self.slots {
            if let Some(id) = &slot.id {
                let msg = format!("Stopping container {}", slot.name);
                self.ctx.events.normal(&self.pod, "Killing", &msg).await;
                if let Err(e) = self.ctx.runtime.stop_container(id, grace).await {
                    tracing::warn!(error = %e, "stopping a container failed");
                }
            }
        }
        if let Err(e) = self
            .ctx
            .runtime
            .remove_sandbox(&self.sandbox_spec.pod_uid)
            .await
        {
            tracing::warn!(error = %e, "removing the sandbox failed");
        }
    }

    /// The last step of graceful deletion: the agent deletes the pod with no grace left.
    async fn finish_deletion(&self) {
        let (ns, name) = self.name();
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let uid = self.sandbox_spec.pod_uid.clone();
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(kube::api::Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        if let Err(e) = pods.delete(&name, &params).await {
            tracing::debug!(pod = %name, error = %e, "final delete");
        }
    }

    async fn post_status(&mut self) {
        let prefix = self.ctx.runtime.handler();
        let view = PodView {
            host_ip: Some(self.ctx.host_ip.to_string()),
            pod_ip: self.sandbox.as_ref().map(|s| s.pod_ip.to_string()),
            start_time: Some(self.start_time.clone()),
            containers: self
                .slots
                .iter()
                .filter(|s| !s.init)
                .map(|s| s.view(prefix))
                .collect(),
            init_containers: self
                .slots
                .iter()
                .filter(|s| s.init)
                .map(|s| s.view(prefix))
                .collect(),
            sandbox_error: self.sandbox_error.clone(),
        };
        let status = pod_status(&view, &now_time(), &self.posted);
        if status == self.posted {
            return;
        }
        let (ns, name) = self.name();
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let patch = json!({"status": status});
        match pods
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => self.posted = status,
            Err(e) => tracing::debug!(pod = %name, error = %e, "status update failed; will retry"),
        }
    }
}
