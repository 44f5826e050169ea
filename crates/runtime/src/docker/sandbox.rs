//! Pod sandboxes: the container that holds a pod's network namespace and published ports.

use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures::{StreamExt, TryStreamExt};

use super::listing::{self, Found};
use super::{DockerRuntime, errors, images, labels, spec, state};
use crate::{ContainerState, RuntimeError, Sandbox, SandboxListing, SandboxSpec};

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
        rt.ports.release(&spec.pod_uid);
    }
    let image = rt.config.sandbox_image.clone();
    images::ensure(
        &rt.docker,
        &image,
        rt.config.pull_images,
        rt.config.pull_timeout,
    )
    .await
    .map_err(|e| match e {
        RuntimeError::ImageNotFound { image, detail } => RuntimeError::ImageNotFound {
            detail: format!(
                "{image} is the pod sandbox image (DockerConfig::sandbox_image); \
                     tests/images/build.sh builds brume/pause:1 without a registry; {detail}"
            ),
            image,
        },
        other => other,
    })?;
    let host_ports = rt.ports.allocate(&spec.pod_uid, &spec.ports)?;
    let created = create_and_start(rt, spec, &image, &host_ports).await;
    if created.is_err() {
        rt.ports.release(&spec.pod_uid);
    }
    created
}

async fn create_and_start(
    rt: &DockerRuntime,
    spec: &SandboxSpec,
    image: &str,
    host_ports: &[u16],
) -> Result<Sandbox, RuntimeError> {
    let name = labels::container_name(
        &spec.namespace,
        &spec.name,
        &spec.pod_uid,
        labels::SANDBOX_NAME,
        0,
    );
    let node = rt.config.node_name.as_deref();
    let body = spec::sandbox_body(
        spec,
        image,
        host_ports,
        labels::sandbox_labels(spec, host_ports, node),
    )?;
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
            rt.docker
                .create_container(Some(options), body)
                .await
                .map_err(|e| create_error(&name, e))?
                .id
        }
        Err(e) => return Err(create_error(&name, e)),
    };
    if let Err(e) = rt.docker.start_container(&id, None).await {
        remove_one(rt, &id).await?;
        let message = e.to_string();
        if errors::is_port_in_use(&message) {
            // The agent retries; the allocator moves on to other ports by then.
            return Err(RuntimeError::Backend(format!(
                "a host port of pod {}/{} was taken on {} before Docker could bind it: {message}",
                spec.namespace, spec.name, spec.host_ip
            )));
        }
        return Err(RuntimeError::Backend(format!(
            "docker: start sandbox {name}: {message}"
        )));
    }
    Ok(Sandbox {
        pod_uid: spec.pod_uid.clone(),
        id,
        pod_ip: spec.host_ip,
        host_ports: host_ports.to_vec(),
    })
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
        rt.ports.release(pod_uid);
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
