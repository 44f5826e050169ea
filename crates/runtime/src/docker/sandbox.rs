//! Pod sandboxes: the container that holds a pod's network namespace and published ports.

use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures::{StreamExt, TryStreamExt};

use super::listing::{self, Found};
use super::{DockerRuntime, errors, images, labels, spec, state};
use crate::{ContainerState, RuntimeError, Sandbox, SandboxListing, SandboxSpec};

/// How many times a sandbox is re-created when an allocated host port turns out to be taken
/// between the check and Docker's bind.
const PORT_RETRIES: usize = 3;

/// Creates the pod's sandbox, or returns the running one it already has.
pub async fn create(rt: &DockerRuntime, spec: &SandboxSpec) -> Result<Sandbox, RuntimeError> {
    for existing in list(rt, Some(&spec.pod_uid)).await? {
        if existing.sandbox.id.is_empty() {
            continue;
        }
        if is_running(rt, &existing.sandbox.id).await? {
            return Ok(existing.sandbox);
        }
        // Its network namespace is gone (engine or host restarted): start over.
        remove_one(rt, &existing.sandbox.id).await?;
        rt.ports.release(existing.sandbox.host_ports);
    }
    let image = rt.config.sandbox_image.clone();
    images::ensure(&rt.docker, &image, rt.config.pull_timeout).await?;
    let name = labels::container_name(
        &spec.namespace,
        &spec.name,
        &spec.pod_uid,
        labels::SANDBOX_NAME,
        0,
    );
    let mut last_error = None;
    for _ in 0..PORT_RETRIES {
        let host_ports = rt.ports.allocate(spec.host_ip, &spec.ports)?;
        let node = rt.config.node_name.as_deref();
        let body = spec::sandbox_body(
            spec,
            &image,
            &host_ports,
            labels::sandbox_labels(spec, &host_ports, node),
        );
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                rt.ports.release(host_ports);
                return Err(e);
            }
        };
        let options = CreateContainerOptionsBuilder::new().name(&name).build();
        let id = match rt
            .docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Ok(created) => created.id,
            Err(e) if errors::is_conflict(&e) => {
                // A leftover with this name (a crash mid-create): replace it.
                remove_one(rt, &name).await?;
                match rt.docker.create_container(Some(options), body).await {
                    Ok(created) => created.id,
                    Err(e) => {
                        rt.ports.release(host_ports);
                        return Err(errors::backend(&format!("create sandbox {name}"), e));
                    }
                }
            }
            Err(e) => {
                rt.ports.release(host_ports);
                return Err(create_error(&name, e));
            }
        };
        match rt.docker.start_container(&id, None).await {
            Ok(()) => {
                return Ok(Sandbox {
                    pod_uid: spec.pod_uid.clone(),
                    id,
                    pod_ip: spec.host_ip,
                    host_ports,
                });
            }
            Err(e) => {
                remove_one(rt, &id).await?;
                rt.ports.release(host_ports.iter().copied());
                let message = e.to_string();
                let allocated = spec.ports.iter().any(|p| p.host_port.is_none());
                if errors::is_port_in_use(&message) && allocated {
                    // Keep the port that someone else holds out of the next round.
                    rt.ports.reserve(taken_port(&message, &host_ports));
                    last_error = Some(message);
                    continue;
                }
                if errors::is_port_in_use(&message) {
                    return Err(RuntimeError::InvalidConfig(format!(
                        "a hostPort of pod {}/{} is already in use on {}: {message}",
                        spec.namespace, spec.name, spec.host_ip
                    )));
                }
                return Err(RuntimeError::Backend(format!(
                    "docker: start sandbox {name}: {message}"
                )));
            }
        }
    }
    Err(RuntimeError::Backend(format!(
        "docker: start sandbox {name}: host ports kept colliding: {}",
        last_error.unwrap_or_default()
    )))
}

/// The port named in a bind failure (`…:40007: bind: address already in use`), among ours.
fn taken_port(message: &str, ours: &[u16]) -> Vec<u16> {
    ours.iter()
        .copied()
        .filter(|p| message.contains(&format!(":{p}:")))
        .collect()
}

fn create_error(name: &str, e: bollard::errors::Error) -> RuntimeError {
    match errors::status(&e) {
        Some(400) => RuntimeError::InvalidConfig(format!("sandbox {name}: {e}")),
        _ => errors::backend(&format!("create sandbox {name}"), e),
    }
}

/// Removes every container of a pod, app containers first, then the sandbox.
pub async fn remove(rt: &DockerRuntime, pod_uid: &str) -> Result<(), RuntimeError> {
    for listing in list(rt, Some(pod_uid)).await? {
        for container in &listing.containers {
            remove_one(rt, &container.id.0).await?;
        }
        if !listing.sandbox.id.is_empty() {
            remove_one(rt, &listing.sandbox.id).await?;
        }
        rt.ports.release(listing.sandbox.host_ports);
    }
    Ok(())
}

/// Force-removes one container (and its anonymous volumes); a container already gone is fine.
pub async fn remove_one(rt: &DockerRuntime, id: &str) -> Result<(), RuntimeError> {
    super::container::remove(&rt.docker, id).await
}

async fn is_running(rt: &DockerRuntime, id: &str) -> Result<bool, RuntimeError> {
    match rt.docker.inspect_container(id, None).await {
        Ok(inspect) => Ok(matches!(
            inspect.state.as_ref().map(state::from_docker),
            Some(ContainerState::Running { .. })
        )),
        Err(e) if errors::is_not_found(&e) => Ok(false),
        Err(e) => Err(errors::backend(&format!("sandbox {id}"), e)),
    }
}

/// Every sandbox and container of this runtime (of one pod when `pod_uid` is given).
pub async fn list(
    rt: &DockerRuntime,
    pod_uid: Option<&str>,
) -> Result<Vec<SandboxListing>, RuntimeError> {
    let filters = labels::filter(rt.config.node_name.as_deref(), pod_uid);
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let summaries = rt
        .docker
        .list_containers(Some(options))
        .await
        .map_err(|e| errors::backend("list containers", e))?;
    let found: Vec<Option<Found>> = futures::stream::iter(summaries)
        .map(|summary| async move {
            let (Some(id), Some(labels)) = (summary.id, summary.labels) else {
                return Ok(None);
            };
            let Some(parsed) = labels::parse(&labels) else {
                return Ok(None);
            };
            match rt.docker.inspect_container(&id, None).await {
                Ok(inspect) => Ok(Some(Found {
                    id,
                    labels: parsed,
                    state: inspect
                        .state
                        .as_ref()
                        .map(state::from_docker)
                        .unwrap_or(ContainerState::Created),
                })),
                // Removed between the list and the inspect.
                Err(e) if errors::is_not_found(&e) => Ok(None),
                Err(e) => Err(errors::backend(&format!("container {id}"), e)),
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    Ok(listing::group(
        found.into_iter().flatten().collect(),
        rt.host_ip,
    ))
}

/// Options that remove a container whatever its state, with its anonymous volumes.
pub fn force_remove() -> bollard::query_parameters::RemoveContainerOptions {
    RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_port_is_read_from_the_bind_error() {
        let message = "driver failed programming external connectivity on endpoint x: Error starting userland proxy: listen tcp4 127.0.0.1:40007: bind: address already in use";
        assert_eq!(taken_port(message, &[40006, 40007]), vec![40007]);
        assert!(taken_port("other", &[40007]).is_empty());
    }
}
