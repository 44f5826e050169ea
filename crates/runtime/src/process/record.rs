//! What the process runtime keeps on disk, so an agent that restarts finds its pods again:
//!
//! ```text
//! state_dir/pods/<uid>/sandbox.json            the SandboxManifest
//! state_dir/pods/<uid>/<container>-<attempt>.json  a ContainerRecord
//! state_dir/pods/<uid>/<container>-<attempt>.log   the process's stdout and stderr
//! state_dir/pods/<uid>/<container>-<attempt>.times when parts of the log were written
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ContainerId, RuntimeError, Sandbox, SandboxSpec};

/// The file name of a sandbox manifest inside its pod folder.
pub const SANDBOX_FILE: &str = "sandbox.json";

/// A sandbox as written to `sandbox.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SandboxManifest {
    /// The sandbox handed back to the agent.
    pub sandbox: Sandbox,
    /// The spec it was made from (port names and containers, for `BRUME_PORT_<NAME>`).
    pub spec: SandboxSpec,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

/// How a container process ended, as written by the reaper or by the runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// The exit code; 128+N for a process killed by signal N; -1 when unknown.
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled` or `Unknown`.
    pub reason: String,
    /// When it ended (RFC 3339).
    pub finished_at: String,
}

/// One container attempt as written to `<container>-<attempt>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// The pod uid.
    pub pod_uid: String,
    /// The container's name in the pod.
    pub name: String,
    /// The restart attempt.
    pub attempt: u32,
    /// The process id, which is also its process group id.
    pub pid: i32,
    /// The process start time in clock ticks since boot (`/proc/<pid>/stat` field 22): with the
    /// pid it names the process, so a reused pid is not mistaken for ours.
    pub start_ticks: u64,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The environment it was given (reused by exec).
    pub env: Vec<(String, String)>,
    /// Its working directory, if set.
    pub working_dir: Option<String>,
    /// The cgroup folder its limits live in, when limits were enforced.
    pub cgroup: Option<PathBuf>,
    /// How it ended, once known.
    pub exit: Option<ExitRecord>,
}

/// The folder of a pod's sandbox.
pub fn pod_dir(state_dir: &Path, pod_uid: &str) -> PathBuf {
    state_dir.join("pods").join(pod_uid)
}

/// The id of a container attempt: `<uid>/<container>-<attempt>`, which is also its path under
/// `state_dir/pods` without the extension.
pub fn container_id(pod_uid: &str, name: &str, attempt: u32) -> ContainerId {
    ContainerId(format!("{pod_uid}/{name}-{attempt}"))
}

/// Splits a container id into pod uid, container name and attempt.
pub fn parse_container_id(id: &ContainerId) -> Result<(String, String, u32), RuntimeError> {
    let bad = || RuntimeError::NotFound(format!("container {id} (not a process runtime id)"));
    let (uid, rest) = id.0.split_once('/').ok_or_else(bad)?;
    let (name, attempt) = rest.rsplit_once('-').ok_or_else(bad)?;
    let attempt = attempt.parse().map_err(|_| bad())?;
    if uid.is_empty() || name.is_empty() || uid.contains(['/', '.']) || name.contains('/') {
        return Err(bad());
    }
    Ok((uid.to_string(), name.to_string(), attempt))
}

/// The JSON record path of a container attempt.
pub fn record_path(state_dir: &Path, pod_uid: &str, name: &str, attempt: u32) -> PathBuf {
    pod_dir(state_dir, pod_uid).join(format!("{name}-{attempt}.json"))
}

/// The log file path of a container attempt.
pub fn log_path(state_dir: &Path, pod_uid: &str, name: &str, attempt: u32) -> PathBuf {
    pod_dir(state_dir, pod_uid).join(format!("{name}-{attempt}.log"))
}

/// Writes a value as JSON atomically (temporary file, then rename), readable by the owner only
/// since a container's environment may hold secrets.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    let io = |e: std::io::Error| RuntimeError::Backend(format!("writing {}: {e}", path.display()));
    let body = serde_json::to_vec_pretty(value)
        .map_err(|e| RuntimeError::Backend(format!("encoding {}: {e}", path.display())))?;
    crate::private_file::write_private(path, &body).map_err(io)
}

/// Reads a JSON value; a missing file is `NotFound` naming `what`.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str) -> Result<T, RuntimeError> {
    let body = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RuntimeError::NotFound(what.to_string()));
        }
        Err(e) => {
            return Err(RuntimeError::Backend(format!(
                "reading {}: {e}",
                path.display()
            )));
        }
    };
    serde_json::from_slice(&body)
        .map_err(|e| RuntimeError::Backend(format!("decoding {}: {e}", path.display())))
}

/// Reads a sandbox manifest.
pub fn read_manifest(state_dir: &Path, pod_uid: &str) -> Result<SandboxManifest, RuntimeError> {
    read_json(
        &pod_dir(state_dir, pod_uid).join(SANDBOX_FILE),
        &format!("sandbox {pod_uid}"),
    )
}

/// The container records in a pod folder, sorted by name then attempt.
pub fn read_records(dir: &Path) -> Result<Vec<ContainerRecord>, RuntimeError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(RuntimeError::Backend(format!(
                "reading {}: {e}",
                dir.display()
            )));
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_record = path.extension().is_some_and(|e| e == "json")
            && path.file_name().is_some_and(|n| n != SANDBOX_FILE);
        if is_record {
            let what = format!("container record {}", path.display());
            match read_json::<ContainerRecord>(&path, &what) {
                Ok(r) => out.push(r),
                // Removed between listing and reading: not ours any more.
                Err(RuntimeError::NotFound(_)) => {}
                Err(e) => tracing::warn!(error = %e, "skipping unreadable container record"),
            }
        }
    }
    out.sort_by(|a, b| (&a.name, a.attempt).cmp(&(&b.name, b.attempt)));
    Ok(out)
}

/// The current time in RFC 3339 with seconds, as Kubernetes writes it.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_round_trip_with_dashes_in_names() {
        let id = container_id("uid-1", "my-app", 7);
        assert_eq!(id.0, "uid-1/my-app-7");
        assert_eq!(
            parse_container_id(&id).unwrap(),
            ("uid-1".into(), "my-app".into(), 7)
        );
    }

    #[test]
    fn foreign_ids_are_not_found() {
        for bad in ["abc", "uid/name", "../x/name-1", "uid/-1", "uid/name-x"] {
            let err = parse_container_id(&ContainerId(bad.into())).unwrap_err();
            assert!(matches!(err, RuntimeError::NotFound(_)), "{bad}");
        }
    }
}
