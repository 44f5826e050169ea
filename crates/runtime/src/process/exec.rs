//! Exec in a process container: the command runs as another host process with the container's
//! environment and working directory. It is not inside any namespace or cgroup of the container
//! (the process runtime has none to enter), which is enough for exec probes such as
//! `cat /tmp/healthy` or `curl localhost:$PORT`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::launch::{DEFAULT_PATH, resolve_program};
use super::record::ContainerRecord;
use crate::{ExecResult, RuntimeError};

/// How much output an exec keeps: the kubelet reads 10 KiB of exec probe output
/// (`maxReadLength` in kubernetes `pkg/probe/exec/exec.go`).
pub const MAX_OUTPUT: usize = 10 * 1024;

/// The exit code reported when an exec runs out of time, as coreutils `timeout` reports it.
pub const TIMEOUT_EXIT_CODE: i32 = 124;

/// Runs `command` with the environment and working directory of `record`'s container.
/// Running out of `timeout` kills it and returns exit code [`TIMEOUT_EXIT_CODE`] with a note in
/// the output (a failed probe, as the kubelet counts a timed-out exec probe).
pub async fn exec(
    record: &ContainerRecord,
    command: &[String],
    timeout: Duration,
) -> Result<ExecResult, RuntimeError> {
    let Some(first) = command.first() else {
        return Err(RuntimeError::InvalidConfig(
            "exec needs a command (an empty command was given)".into(),
        ));
    };
    let path_var = record
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let working_dir = record.working_dir.as_deref().map(Path::new);
    let program = resolve_program(first, path_var, working_dir)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&command[1..])
        .env_clear()
        .envs(record.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // An exec belongs to the agent's probe: if the agent goes, so does the exec.
        .kill_on_drop(true);
    if let Some(dir) = working_dir {
        cmd.current_dir(dir);
    }
    let child = cmd.spawn().map_err(|e| RuntimeError::CommandNotFound {
        command: first.clone(),
        detail: e.to_string(),
    })?;
    let pgid = child.id().map(|pid| nix::unistd::Pid::from_raw(pid as i32));
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            use std::os::unix::process::ExitStatusExt;
            let exit_code = out
                .status
                .code()
                .or(out.status.signal().map(|s| 128 + s))
                .unwrap_or(-1);
            let mut bytes = out.stdout;
            bytes.extend_from_slice(&out.stderr);
            bytes.truncate(MAX_OUTPUT);
            Ok(ExecResult {
                exit_code,
                output: String::from_utf8_lossy(&bytes).into_owned(),
            })
        }
        Ok(Err(e)) => Err(RuntimeError::Backend(format!("exec {first:?}: {e}"))),
        // Dropping the future killed the child (kill_on_drop); what it forked goes with its
        // process group.
        Err(_) => {
            if let Some(pgid) = pgid {
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            }
            Ok(ExecResult {
                exit_code: TIMEOUT_EXIT_CODE,
                output: format!("command {first:?} timed out after {timeout:?}"),
            })
        }
    }
}
