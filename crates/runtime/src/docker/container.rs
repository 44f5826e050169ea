//! App containers: create and start in a sandbox, stop, remove.

use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, StopContainerOptionsBuilder,
};

use super::sandbox::force_remove;
use super::{DockerRuntime, errors, images, labels, spec};
use crate::{ContainerId, ContainerSpec, RuntimeError, Sandbox};

/// Creates and starts one container in the sandbox's network namespace. Starting an attempt
/// that already runs returns it (a retried call does not duplicate it).
pub async fn start(
    rt: &DockerRuntime,
    sandbox: &Sandbox,
    spec: &ContainerSpec,
    attempt: u32,
) -> Result<ContainerId, RuntimeError> {
    let gone = || {
        RuntimeError::NotFound(format!(
            "sandbox {:?} of pod {}",
            sandbox.id, sandbox.pod_uid
        ))
    };
    if sandbox.id.is_empty() {
        return Err(gone());
    }
    let inspect = match rt.docker.inspect_container(&sandbox.id, None).await {
        Ok(inspect) => inspect,
        Err(e) if errors::is_not_found(&e) => return Err(gone()),
        Err(e) => return Err(errors::backend(&format!("sandbox {}", sandbox.id), e)),
    };
    if inspect.state.as_ref().and_then(|s| s.running) != Some(true) {
        return Err(RuntimeError::NotFound(format!(
            "running sandbox {} of pod {} (it stopped)",
            sandbox.id, sandbox.pod_uid
        )));
    }
    let sandbox_labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
    let labels = labels::container_labels(&sandbox_labels, spec, attempt);
    let get = |key: &str| sandbox_labels.get(key).cloned().unwrap_or_default();
    let name = labels::container_name(
        &get(labels::POD_NAMESPACE),
        &get(labels::POD_NAME),
        &sandbox.pod_uid,
        &spec.name,
        attempt,
    );
    let body = spec::container_body(spec, &sandbox.id, labels)?;
    images::ensure(
        &rt.docker,
        &spec.image,
        rt.config.pull_images,
        rt.config.pull_timeout,
    )
    .await?;

    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let id = match rt
        .docker
        .create_container(Some(options.clone()), body.clone())
        .await
    {
        Ok(created) => created.id,
        Err(e) if errors::is_conflict(&e) => {
            if let Ok(existing) = rt.docker.inspect_container(&name, None).await
                && existing.state.as_ref().and_then(|s| s.running) == Some(true)
                && let Some(id) = existing.id
            {
                return Ok(ContainerId(id));
            }
            remove(&rt.docker, &name).await?;
            rt.docker
                .create_container(Some(options), body)
                .await
                .map_err(|e| create_error(spec, &name, e))?
                .id
        }
        Err(e) => return Err(create_error(spec, &name, e)),
    };
    if let Err(e) = rt.docker.start_container(&id, None).await {
        // A container that never ran has nothing to show: do not leave it behind.
        remove(&rt.docker, &id).await?;
        let message = e.to_string();
        let first = spec::first_word(spec);
        return Err(
            errors::command_not_found(&message, first.as_deref()).unwrap_or_else(|| {
                match errors::status(&e) {
                    Some(400) => {
                        RuntimeError::InvalidConfig(format!("container {}: {message}", spec.name))
                    }
                    _ => {
                        RuntimeError::Backend(format!("docker: start container {name}: {message}"))
                    }
                }
            }),
        );
    }
    Ok(ContainerId(id))
}

fn create_error(spec: &ContainerSpec, name: &str, e: bollard::errors::Error) -> RuntimeError {
    match errors::status(&e) {
        Some(400) => RuntimeError::InvalidConfig(format!("container {}: {e}", spec.name)),
        Some(404) => RuntimeError::ImageNotFound {
            image: spec.image.clone(),
            detail: format!("{e}; {}", errors::IMPORT_HINT),
        },
        _ => errors::backend(&format!("create container {name}"), e),
    }
}

/// Stops a container: its stop signal, then SIGKILL once `grace` has passed.
pub async fn stop(docker: &Docker, id: &str, grace: Duration) -> Result<(), RuntimeError> {
    // Docker takes whole seconds; round up so the container gets at least its grace.
    let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
    let t = i32::try_from(secs).unwrap_or(i32::MAX);
    // Docker answers once the container is down: allow the grace plus the kill.
    let patient = docker.clone().with_timeout(Duration::from_secs(secs + 30));
    let options = StopContainerOptionsBuilder::new().t(t).build();
    let stopped = tokio::time::timeout(
        Duration::from_secs(secs + 35),
        patient.stop_container(id, Some(options)),
    )
    .await;
    match stopped {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if errors::is_not_found(&e) => {
            Err(RuntimeError::NotFound(format!("container {id}")))
        }
        other => {
            tracing::warn!(container = id, result = ?other, "docker stop did not finish; killing");
            let kill = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
            match docker.kill_container(id, Some(kill)).await {
                Ok(()) => Ok(()),
                // 409: it is not running any more, which is what was asked.
                Err(e) if errors::is_conflict(&e) => Ok(()),
                Err(e) => Err(errors::backend(&format!("kill container {id}"), e)),
            }
        }
    }
}

/// Removes a container whatever its state; one already gone (or being removed) is fine.
pub async fn remove(docker: &Docker, id: &str) -> Result<(), RuntimeError> {
    match docker.remove_container(id, Some(force_remove())).await {
        Ok(()) => Ok(()),
        Err(e) if errors::is_not_found(&e) || errors::is_conflict(&e) => Ok(()),
        Err(e) => Err(errors::backend(&format!("remove container {id}"), e)),
    }
}
