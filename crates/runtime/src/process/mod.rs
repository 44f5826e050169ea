//! The `process` runtime: a pod's containers run as host processes (DESIGN §6).
//!
//! - **Sandbox**: a folder `state_dir/pods/<uid>/` with `sandbox.json`, and host ports on the
//!   node address from a [`PortAllocator`]. There is no network namespace: the pod IP is the node
//!   address and programs bind the ports they are given.
//! - **Container**: `command + args` (required: there are no images) in its own process group,
//!   stdout and stderr appended to `<container>-<attempt>.log`, its pid, start time and exit in
//!   `<container>-<attempt>.json`. The environment is described in [`launch::container_env`]:
//!   `PORT`, `BRUME_PORT_<NAME>`, `BRUME_BIND_ADDRESS`, and `BRUME_MOUNT_<PATH>` for each mount,
//!   since paths cannot be remapped for a host process.
//! - **Logs**: raw in the file; `timestamps` come from a stamper task that notes when the file
//!   grew (within 200 ms; see [`stamps`]).
//! - **Limits**: cgroup v2 where the host lets the agent write `/sys/fs/cgroup`;
//!   [`ContainerRuntime::limits_enforced`] tells the agent when they are not, so it can say so in
//!   an event.
//! - **Restarts of the agent**: processes do not die with the agent, and a new `ProcessRuntime`
//!   on the same `state_dir` lists and manages them. Their exit code is only known to the agent
//!   that started them (the parent that waits on them): a re-adopted process that dies is
//!   reported `Exited` with code -1 and reason `Unknown` (137 if this runtime SIGKILLed it).
//! - **Stats** come from the container's cgroup, or its process group in `/proc` ([`stats`]).
//! - **Exec** runs a host process with the container's env and working dir (not in a namespace).

pub mod cgroup;
pub mod exec;
pub mod launch;
pub mod logs;
pub mod procfs;
pub mod record;
pub mod stamps;
pub mod stats;
pub mod stop;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

use self::cgroup::Cgroups;
use self::procfs::Liveness;
use self::record::{ContainerRecord, ExitRecord, SandboxManifest};
use self::stop::{StopAction, StopPhase};
use crate::ports::{DEFAULT_HOST_PORT_RANGE, PortAllocator};
use crate::{
    ContainerId, ContainerListing, ContainerRuntime, ContainerSpec, ContainerState, ContainerStats,
    ExecResult, LogOptions, LogStream, RuntimeError, Sandbox, SandboxListing, SandboxSpec,
};

/// How long a state query waits for this runtime's reaper to record the exit of a child it has
/// just seen die.
const REAPER_WAIT: Duration = Duration::from_secs(2);

/// Settings of a [`ProcessRuntime`] beyond its folder and address.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    /// The host ports handed out to pods.
    pub port_range: RangeInclusive<u16>,
    /// The cgroup v2 mount point, or `None` to enforce no limits.
    pub cgroup_root: Option<PathBuf>,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        Self {
            port_range: DEFAULT_HOST_PORT_RANGE,
            cgroup_root: Some(PathBuf::from(cgroup::CGROUP_ROOT)),
        }
    }
}

/// Runs containers as host processes (handler `process`).
pub struct ProcessRuntime {
    state_dir: PathBuf,
    ports: PortAllocator,
    cgroups: Cgroups,
    /// The exits of the children this runtime started, as its reapers learn them.
    exits: Mutex<HashMap<ContainerId, watch::Receiver<Option<ExitRecord>>>>,
    /// The containers whose log output a stamper of this runtime times.
    stamped: Mutex<HashSet<ContainerId>>,
}

impl ProcessRuntime {
    /// A runtime keeping its state under `state_dir` and publishing ports on `host_ip`, with the
    /// default options. Sandboxes already under `state_dir` keep their ports.
    pub fn new(state_dir: PathBuf, host_ip: IpAddr) -> Result<Self, RuntimeError> {
        Self::with_options(state_dir, host_ip, ProcessOptions::default())
    }

    /// A runtime with explicit options.
    pub fn with_options(
        state_dir: PathBuf,
        host_ip: IpAddr,
        options: ProcessOptions,
    ) -> Result<Self, RuntimeError> {
        let pods = state_dir.join("pods");
        std::fs::create_dir_all(&pods)
            .map_err(|e| RuntimeError::Backend(format!("creating {}: {e}", pods.display())))?;
        let cgroups = options
            .cgroup_root
            .as_deref()
            .map_or_else(Cgroups::disabled, Cgroups::detect);
        let rt = Self {
            state_dir,
            ports: PortAllocator::new(host_ip, options.port_range),
            cgroups,
            exits: Mutex::new(HashMap::new()),
            stamped: Mutex::new(HashSet::new()),
        };
        for uid in rt.pod_uids()? {
            if let Ok(m) = record::read_manifest(&rt.state_dir, &uid) {
                rt.ports.restore(&uid, &m.sandbox.host_ports);
            }
        }
        Ok(rt)
    }

    /// The folder this runtime keeps its state in.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The path of a container's log file (for `logs --previous` after removal by the agent, or
    /// diagnostics).
    pub fn log_path(&self, id: &ContainerId) -> Result<PathBuf, RuntimeError> {
        let (uid, name, attempt) = record::parse_container_id(id)?;
        Ok(record::log_path(&self.state_dir, &uid, &name, attempt))
    }

    fn pod_uids(&self) -> Result<Vec<String>, RuntimeError> {
        let pods = self.state_dir.join("pods");
        let entries = std::fs::read_dir(&pods)
            .map_err(|e| RuntimeError::Backend(format!("reading {}: {e}", pods.display())))?;
        let mut uids: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        uids.sort();
        Ok(uids)
    }

    fn read_record(&self, id: &ContainerId) -> Result<(PathBuf, ContainerRecord), RuntimeError> {
        let (uid, name, attempt) = record::parse_container_id(id)?;
        let path = record::record_path(&self.state_dir, &uid, &name, attempt);
        let rec = record::read_json(&path, &format!("container {id}"))?;
        Ok((path, rec))
    }

    /// Starts timing a running container's log output, once per container and runtime.
    fn ensure_stamper(&self, id: &ContainerId, rec: &ContainerRecord, fresh: bool) {
        let new = self
            .stamped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone());
        if new {
            let log = record::log_path(&self.state_dir, &rec.pod_uid, &rec.name, rec.attempt);
            stamps::spawn_stamper(log, rec.pid, rec.start_ticks, fresh);
        }
    }

    fn exit_watch(&self, id: &ContainerId) -> Option<watch::Receiver<Option<ExitRecord>>> {
        let exits = self.exits.lock().unwrap_or_else(|e| e.into_inner());
        exits.get(id).cloned()
    }

    /// The exit of a process seen dead: from this runtime's reaper if it is our child, else
    /// unknown (`fallback`), written to the record so it stays the same.
    async fn settle_exit(
        &self,
        id: &ContainerId,
        path: &Path,
        rec: &mut ContainerRecord,
        fallback: ExitRecord,
    ) -> ExitRecord {
        if let Some(mut rx) = self.exit_watch(id) {
            let waited = tokio::time::timeout(REAPER_WAIT, rx.wait_for(Option::is_some)).await;
            if let Ok(Ok(exit)) = waited
                && let Some(exit) = exit.clone()
            {
                rec.exit = Some(exit.clone());
                return exit;
            }
        }
        // Another runtime's reaper (an older agent in the same process) may have written it.
        if let Ok(fresh) = record::read_json::<ContainerRecord>(path, "record")
            && let Some(exit) = fresh.exit
        {
            rec.exit = Some(exit.clone());
            return exit;
        }
        rec.exit = Some(fallback.clone());
        if let Err(e) = record::write_json(path, rec) {
            tracing::warn!(container = %id, error = %e, "cannot record the exit");
        }
        fallback
    }

    async fn state_of(
        &self,
        id: &ContainerId,
        path: &Path,
        mut rec: ContainerRecord,
    ) -> ContainerState {
        let exit = match &rec.exit {
            Some(exit) => exit.clone(),
            None if procfs::liveness(rec.pid, rec.start_ticks) == Liveness::Alive => {
                return ContainerState::Running {
                    started_at: rec.started_at,
                };
            }
            None => self.settle_exit(id, path, &mut rec, unknown_exit()).await,
        };
        ContainerState::Exited {
            exit_code: exit.exit_code,
            reason: exit.reason,
            started_at: rec.started_at,
            finished_at: exit.finished_at,
        }
    }

    async fn stop(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError> {
        let (path, mut rec) = self.read_record(id)?;
        if rec.exit.is_some() {
            return Ok(());
        }
        let pgid = Pid::from_raw(rec.pid);
        let mut phase = StopPhase::Start;
        let mut signalled = false;
        loop {
            let alive = procfs::liveness(rec.pid, rec.start_ticks) == Liveness::Alive;
            let (next, action) = stop::step(phase, alive, tokio::time::Instant::now(), grace);
            phase = next;
            match action {
                StopAction::Term => {
                    signalled = true;
                    let _ = killpg(pgid, Signal::SIGTERM);
                }
                StopAction::Kill => {
                    signalled = true;
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
                StopAction::Wait(d) => tokio::time::sleep(d).await,
                StopAction::Finish => break,
            }
        }
        match phase {
            StopPhase::Stopped { killed } => {
                if signalled {
                    // What the leader forked may outlive it; the container ends with it.
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
                let fallback = if killed {
                    launch::exit_record(None, Some(Signal::SIGKILL as i32), false)
                } else {
                    unknown_exit()
                };
                self.settle_exit(id, &path, &mut rec, fallback).await;
                Ok(())
            }
            _ => Err(RuntimeError::Backend(format!(
                "container {id}: process {} is still alive after SIGKILL (uninterruptible sleep?)",
                rec.pid
            ))),
        }
    }
}

/// The exit of a re-adopted process that died: only its parent could read its status.
fn unknown_exit() -> ExitRecord {
    ExitRecord {
        exit_code: -1,
        reason: "Unknown".to_string(),
        finished_at: record::now_rfc3339(),
    }
}

#[async_trait]
impl ContainerRuntime for ProcessRuntime {
    fn handler(&self) -> &'static str {
        "process"
    }

    /// Limits are applied only where cgroup v2 is writable (see [`cgroup::Cgroups::detect`]).
    fn limits_enforced(&self) -> bool {
        self.cgroups.enforced()
    }

    async fn create_sandbox(&self, spec: &SandboxSpec) -> Result<Sandbox, RuntimeError> {
        let uid = &spec.pod_uid;
        if uid.is_empty() || uid.contains(['/', '.']) {
            return Err(RuntimeError::InvalidConfig(format!(
                "pod uid {uid:?} cannot name a folder; expected a uid such as a UUID"
            )));
        }
        if let Ok(m) = record::read_manifest(&self.state_dir, uid) {
            return Ok(m.sandbox);
        }
        let host_ports = self.ports.allocate(uid, &spec.ports)?;
        let dir = record::pod_dir(&self.state_dir, uid);
        let made = std::fs::create_dir_all(&dir)
            .map_err(|e| RuntimeError::Backend(format!("creating {}: {e}", dir.display())));
        let manifest = SandboxManifest {
            sandbox: Sandbox {
                pod_uid: uid.clone(),
                id: dir.display().to_string(),
                pod_ip: self.ports.host_ip(),
                host_ports,
            },
            spec: spec.clone(),
            created_at: record::now_rfc3339(),
        };
        let written =
            made.and_then(|()| record::write_json(&dir.join(record::SANDBOX_FILE), &manifest));
        if let Err(e) = written {
            self.ports.release(uid);
            return Err(e);
        }
        Ok(manifest.sandbox)
    }

    async fn remove_sandbox(&self, pod_uid: &str) -> Result<(), RuntimeError> {
        let dir = record::pod_dir(&self.state_dir, pod_uid);
        for rec in record::read_records(&dir)? {
            let id = record::container_id(pod_uid, &rec.name, rec.attempt);
            self.remove_container(&id).await?;
        }
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(RuntimeError::Backend(format!(
                "removing {}: {e}",
                dir.display()
            )));
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
        let uid = &sandbox.pod_uid;
        let manifest = record::read_manifest(&self.state_dir, uid)?;
        let id = record::container_id(uid, &spec.name, attempt);
        let path = record::record_path(&self.state_dir, uid, &spec.name, attempt);
        if path.exists() {
            // Already started (a retried call): starting is idempotent per attempt.
            return Ok(id);
        }
        let launched = launch::launch(&self.state_dir, &manifest, spec, attempt, &self.cgroups)?;
        let mut child = launched.child;
        if let Err(e) = record::write_json(&path, &launched.record) {
            let _ = killpg(Pid::from_raw(launched.record.pid), Signal::SIGKILL);
            let _ = child.wait().await;
            return Err(e);
        }
        self.ensure_stamper(&id, &launched.record, true);
        let (tx, rx) = watch::channel(None);
        self.exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), rx);
        let cgroup = launched.record.cgroup.clone();
        tokio::spawn(async move {
            let exit = match child.wait().await {
                Ok(status) => {
                    use std::os::unix::process::ExitStatusExt;
                    let oom = cgroup.as_deref().is_some_and(cgroup::oom_killed);
                    launch::exit_record(status.code(), status.signal(), oom)
                }
                Err(_) => unknown_exit(),
            };
            // The record is gone if the container or its sandbox was removed meanwhile.
            if let Ok(mut rec) = record::read_json::<ContainerRecord>(&path, "record")
                && rec.exit.is_none()
            {
                rec.exit = Some(exit.clone());
                let _ = record::write_json(&path, &rec);
            }
            let _ = tx.send(Some(exit));
        });
        Ok(id)
    }

    async fn container_state(&self, id: &ContainerId) -> Result<ContainerState, RuntimeError> {
        let (path, rec) = self.read_record(id)?;
        Ok(self.state_of(id, &path, rec).await)
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<(), RuntimeError> {
        self.stop(id, grace).await
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        let (path, rec) = match self.read_record(id) {
            Ok(found) => found,
            Err(RuntimeError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.stop(id, Duration::ZERO).await?;
        if let Some(dir) = &rec.cgroup {
            cgroup::remove(dir);
        }
        let log = self.log_path(id)?;
        // The log first: a stamper that finds it gone stops instead of writing its index again.
        let times = stamps::times_path(&log);
        for file in [log, path, times] {
            if let Err(e) = std::fs::remove_file(&file)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(RuntimeError::Backend(format!(
                    "removing {}: {e}",
                    file.display()
                )));
            }
        }
        self.exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.stamped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(())
    }

    /// From the container's cgroup when it has one, else from its process group in `/proc`
    /// ([`stats`]).
    async fn container_stats(
        &self,
        id: &ContainerId,
    ) -> Result<Option<ContainerStats>, RuntimeError> {
        let (_, rec) = self.read_record(id)?;
        if rec.exit.is_some() || procfs::liveness(rec.pid, rec.start_ticks) != Liveness::Alive {
            return Ok(None);
        }
        let (cgroup, pid) = (rec.cgroup, rec.pid);
        // A scan of /proc reads a file per process on the host: off the async workers.
        let read = move || {
            cgroup
                .as_deref()
                .and_then(stats::read_cgroup)
                .unwrap_or_else(|| stats::read_process_group(pid))
        };
        tokio::task::spawn_blocking(read)
            .await
            .map(Some)
            .map_err(|e| RuntimeError::Backend(format!("reading the stats of {id}: {e}")))
    }

    async fn exec(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, RuntimeError> {
        let (_, rec) = self.read_record(id)?;
        if rec.exit.is_some() || procfs::liveness(rec.pid, rec.start_ticks) != Liveness::Alive {
            return Err(RuntimeError::Backend(format!(
                "container {id} is not running; exec needs a running container"
            )));
        }
        exec::exec(&rec, command, timeout).await
    }

    async fn logs(&self, id: &ContainerId, opts: &LogOptions) -> Result<LogStream, RuntimeError> {
        let (_, rec) = self.read_record(id)?;
        let (pid, ticks) = (rec.pid, rec.start_ticks);
        let running = rec.exit.is_none();
        logs::stream(self.log_path(id)?, opts, move || {
            running && procfs::liveness(pid, ticks) == Liveness::Alive
        })
    }

    async fn list(&self) -> Result<Vec<SandboxListing>, RuntimeError> {
        let mut out = Vec::new();
        for uid in self.pod_uids()? {
            let Ok(manifest) = record::read_manifest(&self.state_dir, &uid) else {
                continue;
            };
            let dir = record::pod_dir(&self.state_dir, &uid);
            let mut containers = Vec::new();
            for rec in record::read_records(&dir)? {
                let id = record::container_id(&uid, &rec.name, rec.attempt);
                let path = record::record_path(&self.state_dir, &uid, &rec.name, rec.attempt);
                let (name, attempt) = (rec.name.clone(), rec.attempt);
                if rec.exit.is_none() {
                    // Re-adopted: time its output from now on.
                    self.ensure_stamper(&id, &rec, false);
                }
                let state = self.state_of(&id, &path, rec).await;
                containers.push(ContainerListing {
                    id,
                    name,
                    attempt,
                    state,
                });
            }
            out.push(SandboxListing {
                sandbox: manifest.sandbox,
                containers,
            });
        }
        Ok(out)
    }
}
