//! Commands run inside a running container (exec probes).

use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures::StreamExt;

use super::errors;
use crate::{ExecResult, RuntimeError};

/// How much output an exec keeps: enough for a probe's message (the kubelet keeps 10 KiB of
/// exec probe output; 4 KiB is plenty for an event).
pub const MAX_OUTPUT: usize = 4096;

/// The exit code reported when the command outlives its timeout (the code of `timeout(1)`).
pub const TIMEOUT_EXIT_CODE: i32 = 124;

/// Appends `chunk` to `out` without letting `out` grow past [`MAX_OUTPUT`] bytes.
pub fn keep_prefix(out: &mut Vec<u8>, chunk: &[u8]) {
    let room = MAX_OUTPUT.saturating_sub(out.len());
    out.extend_from_slice(&chunk[..chunk.len().min(room)]);
}

/// Runs `command` in container `id`, returning its exit code and the first bytes of its
/// combined output; a command still running after `timeout` reports exit code 124.
pub async fn run(
    docker: &Docker,
    id: &str,
    command: &[String],
    timeout: Duration,
) -> Result<ExecResult, RuntimeError> {
    if command.is_empty() {
        return Err(RuntimeError::InvalidConfig("exec command is empty".into()));
    }
    let options = CreateExecOptions {
        cmd: Some(command.to_vec()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec = docker
        .create_exec(id, options)
        .await
        .map_err(|e| match errors::status(&e) {
            Some(409) => {
                RuntimeError::Backend(format!("exec in container {id}: it is not running"))
            }
            _ => errors::backend(&format!("container {id}"), e),
        })?;
    let mut output = Vec::new();
    let finished = tokio::time::timeout(timeout, async {
        match docker.start_exec(&exec.id, None).await {
            Ok(StartExecResults::Attached {
                output: mut stream, ..
            }) => {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| errors::backend(&format!("exec in {id}"), e))?;
                    keep_prefix(&mut output, &chunk.into_bytes());
                }
                Ok(())
            }
            Ok(StartExecResults::Detached) => Ok(()),
            Err(e) => Err(errors::backend(&format!("exec in {id}"), e)),
        }
    })
    .await;
    let mut text = String::from_utf8_lossy(&output).into_owned();
    match finished {
        Err(_) => {
            text.push_str(&format!(
                "\ncommand timed out after {}s",
                timeout.as_secs_f64()
            ));
            return Ok(ExecResult {
                exit_code: TIMEOUT_EXIT_CODE,
                output: text,
            });
        }
        Ok(result) => result?,
    }
    // The output ends when the process does, but the engine may record the exit a moment
    // later.
    for _ in 0..40 {
        let inspect = docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| errors::backend(&format!("exec {}", exec.id), e))?;
        if inspect.running != Some(true) {
            let exit_code = inspect
                .exit_code
                .map(|c| i32::try_from(c).unwrap_or(i32::MAX))
                .unwrap_or(-1);
            return Ok(ExecResult {
                exit_code,
                output: text,
            });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Err(RuntimeError::Backend(format!(
        "exec {} in {id}: output ended but the command still runs",
        exec.id
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_capped() {
        let mut out = Vec::new();
        keep_prefix(&mut out, &[b'a'; 4000]);
        keep_prefix(&mut out, &[b'b'; 4000]);
        assert_eq!(out.len(), MAX_OUTPUT);
        assert_eq!(out[MAX_OUTPUT - 1], b'b');
        keep_prefix(&mut out, b"c");
        assert_eq!(out.len(), MAX_OUTPUT);
    }
}
