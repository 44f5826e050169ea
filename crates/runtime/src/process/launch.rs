//! Starting a container as a host process: its environment, its program, its log file, its
//! process group.
//!
//! The process gets its own process group (`setpgid(0, 0)` through `process_group(0)`) and writes
//! straight into its log file, never into a pipe the agent reads: so it neither dies with the
//! agent (no SIGHUP from the agent's group, no SIGPIPE when the agent goes away) nor depends on
//! the agent to make progress, and a restarted agent re-adopts it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::cgroup::{self, Cgroups};
use super::procfs;
use super::record::{self, ContainerRecord, ExitRecord, SandboxManifest};
use crate::{ContainerSpec, RuntimeError};

/// The search path used when neither the pod nor the agent sets `PATH` (the Debian default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The name of the variable a mount's host path is passed in: `BRUME_MOUNT_` then the container
/// path upper-cased with every other character than a letter or digit made `_`
/// (`/data/cache` → `BRUME_MOUNT_DATA_CACHE`).
pub fn mount_var(container_path: &str) -> String {
    let body: String = container_path
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("BRUME_MOUNT_{body}")
}

/// The name of the variable a named port is passed in: `BRUME_PORT_` then the port name
/// upper-cased with `-` made `_` (`http-alt` → `BRUME_PORT_HTTP_ALT`).
pub fn port_var(port_name: &str) -> String {
    format!(
        "BRUME_PORT_{}",
        port_name.to_ascii_uppercase().replace('-', "_")
    )
}

/// The environment of a container process, later entries winning over earlier ones:
/// `PATH` (the agent's, so commands resolve as on the host; nothing else is inherited from the
/// agent), then what the runtime provides — `BRUME_BIND_ADDRESS`, `PORT` (the first host port of
/// this container), `BRUME_PORT_<NAME>` for each named port, `BRUME_MOUNT_<PATH>` for each
/// mount (the process runtime cannot remap paths, so a program finds its volumes through these)
/// — then the pod's own `env`, which wins as it does in Kubernetes.
pub fn container_env(
    spec: &ContainerSpec,
    manifest: &SandboxManifest,
    agent_path: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = vec![(
        "PATH".to_string(),
        agent_path.unwrap_or(DEFAULT_PATH).to_string(),
    )];
    env.push((
        "BRUME_BIND_ADDRESS".to_string(),
        manifest.sandbox.pod_ip.to_string(),
    ));
    let mine = manifest
        .spec
        .ports
        .iter()
        .zip(&manifest.sandbox.host_ports)
        .filter(|(p, _)| p.container == spec.name);
    let mut first = true;
    for (port, host_port) in mine {
        if first {
            env.push(("PORT".to_string(), host_port.to_string()));
            first = false;
        }
        if let Some(name) = &port.name {
            env.push((port_var(name), host_port.to_string()));
        }
    }
    for m in &spec.mounts {
        env.push((mount_var(&m.container_path), m.host_path.clone()));
    }
    env.extend(spec.env.iter().cloned());
    dedup_last_wins(env)
}

/// Keeps one entry per name, at its first position with its last value.
fn dedup_last_wins(env: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(env.len());
    for (k, v) in env {
        match out.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// Finds the program to run: a name with a `/` is taken as a path (relative to the working
/// directory), anything else is searched in `path_var`. It must be an executable file.
pub fn resolve_program(
    program: &str,
    path_var: &str,
    working_dir: Option<&Path>,
) -> Result<PathBuf, RuntimeError> {
    let not_found = |detail: String| RuntimeError::CommandNotFound {
        command: program.to_string(),
        detail,
    };
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = match working_dir {
            Some(dir) if Path::new(program).is_relative() => dir.join(program),
            _ => PathBuf::from(program),
        };
        return if executable(&path) {
            Ok(path)
        } else if path.exists() {
            Err(not_found(format!(
                "{} is not an executable file",
                path.display()
            )))
        } else {
            Err(not_found(format!("{} does not exist", path.display())))
        };
    }
    std::env::split_paths(path_var)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
        .ok_or_else(|| {
            not_found(format!(
                "no executable named {program:?} in PATH {path_var:?} on this node (the process \
                 runtime runs host programs; install it or give an absolute path)"
            ))
        })
}

/// A started container process, before its record is written and its reaper is set up.
pub struct Launched {
    /// Its record (no exit yet).
    pub record: ContainerRecord,
    /// The child handle the reaper waits on.
    pub child: tokio::process::Child,
}

/// Starts one container attempt of a sandbox.
pub fn launch(
    state_dir: &Path,
    manifest: &SandboxManifest,
    spec: &ContainerSpec,
    attempt: u32,
    cgroups: &Cgroups,
) -> Result<Launched, RuntimeError> {
    let argv: Vec<String> = spec.command.iter().chain(&spec.args).cloned().collect();
    if spec.command.is_empty() {
        return Err(RuntimeError::InvalidConfig(format!(
            "container {:?}: the process runtime needs command (it has no images, so there is no \
             entrypoint to fall back on)",
            spec.name
        )));
    }
    let working_dir = spec.working_dir.as_deref().map(Path::new);
    if let Some(dir) = working_dir
        && !dir.is_dir()
    {
        return Err(RuntimeError::InvalidConfig(format!(
            "container {:?}: workingDir {} does not exist on this node",
            spec.name,
            dir.display()
        )));
    }
    let agent_path = std::env::var("PATH").ok();
    let env = container_env(spec, manifest, agent_path.as_deref());
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let program = resolve_program(&argv[0], path_var, working_dir)?;

    let uid = &manifest.sandbox.pod_uid;
    let log = record::log_path(state_dir, uid, &spec.name, attempt);
    let io = |what: &str, e: std::io::Error| RuntimeError::Backend(format!("{what}: {e}"));
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| io(&format!("opening {}", log.display()), e))?;
    let err = out
        .try_clone()
        .map_err(|e| io("duplicating the log file", e))?;

    let group = cgroups.create(
        uid,
        &spec.name,
        spec.cpu_limit_milli,
        spec.memory_limit_bytes,
    )?;
    let mut full = vec![program.display().to_string()];
    full.extend(argv[1..].iter().cloned());
    let run = match &group {
        Some(dir) => cgroup::wrap_argv(dir, &full),
        None => full,
    };

    let mut cmd = tokio::process::Command::new(&run[0]);
    cmd.args(&run[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        // A group of its own: signals to the agent's group do not reach it, and stop_container
        // signals the whole group it forks.
        .process_group(0)
        // The process must outlive the agent (re-adoption), so it is not killed on drop.
        .kill_on_drop(false);
    if let Some(dir) = working_dir {
        cmd.current_dir(dir);
    }
    let child = cmd.spawn().map_err(|e| RuntimeError::CommandNotFound {
        command: argv[0].clone(),
        detail: e.to_string(),
    })?;
    let pid = child
        .id()
        .ok_or_else(|| RuntimeError::Backend("the child exited before its pid was read".into()))?
        as i32;
    // The child is not reaped before its reaper waits on it, so its stat is there even if it has
    // already exited.
    let start_ticks = procfs::read_stat(pid).map_or(0, |s| s.start_ticks);
    let record = ContainerRecord {
        pod_uid: uid.clone(),
        name: spec.name.clone(),
        attempt,
        pid,
        start_ticks,
        started_at: record::now_rfc3339(),
        argv,
        env,
        working_dir: spec.working_dir.clone(),
        cgroup: group,
        exit: None,
    };
    Ok(Launched { record, child })
}

/// How an exit status reads in Kubernetes terms: the code, or 128+N for signal N (as a shell
/// reports it, and as the kubelet shows 137 for SIGKILL); `Completed` for 0, `OOMKilled` when the
/// kernel killed it for memory, `Error` otherwise.
pub fn exit_record(code: Option<i32>, signal: Option<i32>, oom: bool) -> ExitRecord {
    let exit_code = code.or(signal.map(|s| 128 + s)).unwrap_or(-1);
    let reason = if oom {
        "OOMKilled"
    } else if exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    ExitRecord {
        exit_code,
        reason: reason.to_string(),
        finished_at: record::now_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mount, PortSpec, Sandbox, SandboxSpec};
    use std::net::{IpAddr, Ipv4Addr};

    fn manifest() -> SandboxManifest {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5));
        let port = |container: &str, name: Option<&str>| PortSpec {
            container: container.into(),
            name: name.map(Into::into),
            container_port: 80,
            host_port: None,
            protocol: "TCP".into(),
        };
        SandboxManifest {
            sandbox: Sandbox {
                pod_uid: "u".into(),
                id: "u".into(),
                pod_ip: ip,
                host_ports: vec![40001, 40002, 40003],
            },
            spec: SandboxSpec {
                pod_uid: "u".into(),
                namespace: "default".into(),
                name: "p".into(),
                host_ip: ip,
                ports: vec![
                    port("other", Some("x")),
                    port("web", Some("http-alt")),
                    port("web", None),
                ],
            },
            created_at: String::new(),
        }
    }

    fn get<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn env_carries_this_containers_ports_mounts_and_bind_address() {
        let spec = ContainerSpec {
            name: "web".into(),
            mounts: vec![Mount {
                host_path: "/var/lib/brume/v1".into(),
                container_path: "/data/my-cache".into(),
                read_only: false,
            }],
            env: vec![("GREETING".into(), "hi".into())],
            ..ContainerSpec::default()
        };
        let env = container_env(&spec, &manifest(), Some("/bin"));
        assert_eq!(get(&env, "PORT"), Some("40002"));
        assert_eq!(get(&env, "BRUME_PORT_HTTP_ALT"), Some("40002"));
        assert_eq!(get(&env, "BRUME_PORT_X"), None);
        assert_eq!(get(&env, "BRUME_BIND_ADDRESS"), Some("10.0.0.5"));
        assert_eq!(
            get(&env, "BRUME_MOUNT_DATA_MY_CACHE"),
            Some("/var/lib/brume/v1")
        );
        assert_eq!(get(&env, "GREETING"), Some("hi"));
        assert_eq!(get(&env, "PATH"), Some("/bin"));
    }

    #[test]
    fn pod_env_wins_over_runtime_values() {
        let spec = ContainerSpec {
            name: "web".into(),
            env: vec![
                ("PORT".into(), "8080".into()),
                ("PATH".into(), "/opt".into()),
            ],
            ..ContainerSpec::default()
        };
        let env = container_env(&spec, &manifest(), None);
        assert_eq!(get(&env, "PORT"), Some("8080"));
        assert_eq!(get(&env, "PATH"), Some("/opt"));
        assert_eq!(env.iter().filter(|(k, _)| k == "PORT").count(), 1);
    }

    #[test]
    fn programs_resolve_through_path_or_fail_naming_the_command() {
        let sh = resolve_program("sh", DEFAULT_PATH, None).unwrap();
        assert!(sh.ends_with("sh"));
        let err = resolve_program("no-such-brume-cmd", DEFAULT_PATH, None).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::CommandNotFound { command, .. } if command == "no-such-brume-cmd")
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.txt"), "not a program").unwrap();
        let err = resolve_program("./data.txt", DEFAULT_PATH, Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("not an executable"), "{err}");
    }

    #[test]
    fn exit_statuses_read_as_kubernetes_reasons() {
        assert_eq!(exit_record(Some(0), None, false).reason, "Completed");
        let e = exit_record(Some(3), None, false);
        assert_eq!((e.exit_code, e.reason.as_str()), (3, "Error"));
        assert_eq!(exit_record(None, Some(9), false).exit_code, 137);
        assert_eq!(exit_record(None, Some(9), true).reason, "OOMKilled");
    }
}
