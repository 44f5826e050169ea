//! CPU and memory limits for host processes through cgroup v2 (the kernel's
//! `Documentation/admin-guide/cgroup-v2.rst`): a group `brume/<uid>-<container>` under the
//! unified hierarchy with `cpu.max` and `memory.max`. Where the hierarchy is v1, read-only or
//! lacks the controllers, limits are not enforced and [`Cgroups::enforced`] says so.

use std::path::{Path, PathBuf};

use crate::RuntimeError;

/// The cgroup v2 mount point on Linux.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The `cpu.max` period in microseconds: the kernel default (100 ms).
const CPU_PERIOD_US: u64 = 100_000;

/// The smallest quota the kernel accepts in `cpu.max`, in microseconds.
const CPU_MIN_QUOTA_US: u64 = 1_000;

/// The `cpu.max` line for a limit in millicores: 1000 millicores is one full period per period.
pub fn cpu_max_line(milli: u64) -> String {
    let quota = (milli.saturating_mul(CPU_PERIOD_US) / 1000).max(CPU_MIN_QUOTA_US);
    format!("{quota} {CPU_PERIOD_US}")
}

/// Where Brume's cgroups go, when the host lets it create them.
#[derive(Clone, Debug)]
pub struct Cgroups {
    parent: Option<PathBuf>,
}

impl Cgroups {
    /// Probes `root` (normally [`CGROUP_ROOT`]): it must be a v2 hierarchy offering the `cpu`
    /// and `memory` controllers, and writable, so `brume/` can be made with both delegated.
    pub fn detect(root: &Path) -> Self {
        let parent = Self::try_detect(root)
            .inspect_err(|e| tracing::info!(reason = %e, "process limits will not be enforced"))
            .ok();
        Self { parent }
    }

    /// A value that enforces nothing.
    pub fn disabled() -> Self {
        Self { parent: None }
    }

    fn try_detect(root: &Path) -> Result<PathBuf, String> {
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers"))
            .map_err(|e| format!("{} is not a cgroup v2 hierarchy: {e}", root.display()))?;
        for needed in ["cpu", "memory"] {
            if !controllers.split_whitespace().any(|c| c == needed) {
                return Err(format!("the {needed} controller is not available"));
            }
        }
        let parent = root.join("brume");
        std::fs::create_dir_all(&parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        for dir in [root, parent.as_path()] {
            std::fs::write(dir.join("cgroup.subtree_control"), "+cpu +memory")
                .map_err(|e| format!("cannot delegate cpu and memory in {}: {e}", dir.display()))?;
        }
        Ok(parent)
    }

    /// Whether limits are applied.
    pub fn enforced(&self) -> bool {
        self.parent.is_some()
    }

    /// Makes the group for one container with its limits, or `None` when there is nothing to
    /// limit or limits are not enforced here.
    pub fn create(
        &self,
        pod_uid: &str,
        container: &str,
        cpu_milli: Option<u64>,
        memory_bytes: Option<u64>,
    ) -> Result<Option<PathBuf>, RuntimeError> {
        let Some(parent) = &self.parent else {
            return Ok(None);
        };
        if cpu_milli.is_none() && memory_bytes.is_none() {
            return Ok(None);
        }
        let dir = parent.join(format!("{pod_uid}-{container}"));
        let io = |what: &str, e: std::io::Error| {
            RuntimeError::Backend(format!("cgroup {}: {what}: {e}", dir.display()))
        };
        std::fs::create_dir_all(&dir).map_err(|e| io("create", e))?;
        let cpu = cpu_milli.map_or_else(|| format!("max {CPU_PERIOD_US}"), cpu_max_line);
        std::fs::write(dir.join("cpu.max"), cpu).map_err(|e| io("cpu.max", e))?;
        let mem = memory_bytes.map_or_else(|| "max".to_string(), |b| b.to_string());
        std::fs::write(dir.join("memory.max"), mem).map_err(|e| io("memory.max", e))?;
        Ok(Some(dir))
    }
}

/// Whether the kernel OOM-killed a process of the group (`memory.events`, `oom_kill`).
pub fn oom_killed(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("memory.events"))
        .map(|events| {
            events.lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
        .unwrap_or(false)
}

/// Removes a container's group (it fails harmlessly while processes remain in it).
pub fn remove(dir: &Path) {
    if let Err(e) = std::fs::remove_dir(dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::debug!(dir = %dir.display(), error = %e, "cgroup not removed");
    }
}

/// The arguments that move a process into a cgroup before it runs the real program, so nothing
/// it forks escapes the limits: `sh -c 'echo $$ > procs && exec "$@"'` keeps the same pid.
pub fn wrap_argv(dir: &Path, argv: &[String]) -> Vec<String> {
    let mut out = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        r#"echo $$ > "$0" && exec "$@""#.to_string(),
        dir.join("cgroup.procs").display().to_string(),
    ];
    out.extend(argv.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_scales_millicores_to_the_period() {
        assert_eq!(cpu_max_line(500), "50000 100000");
        assert_eq!(cpu_max_line(2000), "200000 100000");
        assert_eq!(cpu_max_line(1), "1000 100000");
    }

    #[test]
    fn a_v1_or_missing_hierarchy_enforces_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cgroups::detect(dir.path());
        assert!(!c.enforced());
        assert_eq!(c.create("u", "c", Some(100), None).unwrap(), None);
    }

    #[test]
    fn a_writable_v2_hierarchy_gets_limits_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids",
        )
        .unwrap();
        let c = Cgroups::detect(dir.path());
        assert!(c.enforced());
        let group = c
            .create("u", "web", Some(250), Some(1 << 20))
            .unwrap()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(group.join("cpu.max")).unwrap(),
            "25000 100000"
        );
        assert_eq!(
            std::fs::read_to_string(group.join("memory.max")).unwrap(),
            "1048576"
        );
    }

    #[test]
    fn oom_kill_count_is_read_from_memory_events() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("memory.events"),
            "low 0\noom 1\noom_kill 0\n",
        )
        .unwrap();
        assert!(!oom_killed(dir.path()));
        std::fs::write(dir.path().join("memory.events"), "oom 1\noom_kill 2\n").unwrap();
        assert!(oom_killed(dir.path()));
    }
}
