//! The async half of the endpoints controller: read the Service, its pods and its slices, write
//! the difference.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use super::decide::{self, CONTROLLER_NAME, MANAGED_BY, SERVICE_NAME};
use crate::error::{ControllerError, is_conflict, is_not_found};

const RESYNC: Duration = Duration::from_secs(60);

struct Ctx {
    client: kube::Client,
}

/// Runs the endpoints controller until its watches end.
pub async fn run(client: kube::Client) -> Result<(), ControllerError> {
    let services: Api<Service> = Api::all(client.clone());
    // Only a pod's labels say which Services it belongs to: the watch decodes metadata alone,
    // which costs a fraction of a whole pod on every pod event.
    let pods: Api<PartialObjectMeta<Pod>> = Api::all(client.clone());
    let slices: Api<EndpointSlice> = Api::all(client.clone());
    let controller = Controller::new(services, watcher::Config::default());
    let store = controller.store();
    controller
        .watches(
            pods,
            watcher::Config::default(),
            move |pod: PartialObjectMeta<Pod>| {
                // Every Service of the pod's namespace whose selector matches it.
                let labels = pod.metadata.labels.clone().unwrap_or_default();
                store
                    .state()
                    .into_iter()
                    .filter(|svc| svc.metadata.namespace == pod.metadata.namespace)
                    .filter(|svc| {
                        svc.spec
                            .as_ref()
                            .and_then(|s| s.selector.as_ref())
                            .is_some_and(|sel| {
                                !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
                            })
                    })
                    .map(|svc| ObjectRef::from_obj(&*svc))
                    .collect::<Vec<_>>()
            },
        )
        .owns(
            slices,
            watcher::Config::default().labels(&format!("{MANAGED_BY}={CONTROLLER_NAME}")),
        )
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| futures::future::ready(()))
        .await;
    Err(ControllerError::Stopped {
        name: "endpointslice",
        detail: "watch streams ended".into(),
    })
}

fn error_policy(svc: Arc<Service>, e: &ControllerError, _: Arc<Ctx>) -> Action {
    tracing::warn!(service = ?svc.metadata.name, error = %e, "endpoints reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    let ns = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    let svc = match services.get(&name).await {
        Ok(s) => s,
        Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
        Err(e) => return Err(ControllerError::api(format!("get service {ns}/{name}"), e)),
    };
    if svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = selector_text(&svc);
    if selector.is_empty() {
        return Ok(Action::await_change());
    }
    let pods = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| ControllerError::api(format!("list pods in {ns}"), e))?
        .items;
    let Some(want) = decide::desired(&svc, &pods) else {
        return Ok(Action::await_change());
    };

    let mut raced = false;
    let slices: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = format!("{SERVICE_NAME}={name},{MANAGED_BY}={CONTROLLER_NAME}");
    let existing = slices
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| ControllerError::api(format!("list endpointslices of {ns}/{name}"), e))?
        .items;
    for slice in &want.slices {
        let slice_name = slice.metadata.name.clone().unwrap_or_default();
        match existing
            .iter()
            .find(|s| s.metadata.name == slice.metadata.name)
        {
            Some(current) if same_slice(current, slice) => {}
            Some(current) => {
                let mut update = slice.clone();
                update.metadata.resource_version = current.metadata.resource_version.clone();
                write(
                    slices
                        .replace(&slice_name, &PostParams::default(), &update)
                        .await,
                    &format!("update endpointslice {ns}/{slice_name}"),
                    &mut raced,
                )?;
            }
            None => write(
                slices.create(&PostParams::default(), slice).await,
                &format!("create endpointslice {ns}/{slice_name}"),
                &mut raced,
            )?,
        }
    }
    for stale in existing.iter().filter(|s| {
        !want
            .slices
            .iter()
            .any(|w| w.metadata.name == s.metadata.name)
    }) {
        let stale_name = stale.metadata.name.clone().unwrap_or_default();
        match slices.delete(&stale_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("delete endpointslice {ns}/{stale_name}"),
                    e,
                ));
            }
        }
    }

    if decide::lost_all_ready(&existing, &want.slices) {
        crate::events::record(
            &ctx.client,
            CONTROLLER_NAME,
            crate::events::reference(&svc),
            "Warning",
            "NoEndpoints",
            format!(
                "no ready pod matches the selector {}: connections to this Service's node \
                 ports are refused until one is ready",
                selector_text(&svc)
            ),
        )
        .await;
    }

    let endpoints: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
    match endpoints
        .get_opt(&name)
        .await
        .map_err(|e| ControllerError::api(format!("get endpoints {ns}/{name}"), e))?
    {
        Some(current)
            if current.subsets.clone().unwrap_or_default()
                == want.endpoints.subsets.clone().unwrap_or_default()
                && current.metadata.owner_references
                    == want.endpoints.metadata.owner_references => {}
        Some(current) => {
            let mut update = want.endpoints.clone();
            update.metadata.resource_version = current.metadata.resource_version.clone();
            write(
                endpoints
                    .replace(&name, &PostParams::default(), &update)
                    .await,
                &format!("update endpoints {ns}/{name}"),
                &mut raced,
            )?;
        }
        None => write(
            endpoints
                .create(&PostParams::default(), &want.endpoints)
                .await,
            &format!("create endpoints {ns}/{name}"),
            &mut raced,
        )?,
    }
    Ok(Action::requeue(if raced {
        Duration::from_secs(1)
    } else {
        RESYNC
    }))
}

/// The Service's selector as `k=v,k2=v2`.
fn selector_text(svc: &Service) -> String {
    let pairs: Vec<String> = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    pairs.join(",")
}

/// Whether a stored slice already says what the desired one says (absent lists equal empty ones).
fn same_slice(current: &EndpointSlice, want: &EndpointSlice) -> bool {
    current.address_type == want.address_type
        && current.endpoints.clone().unwrap_or_default()
            == want.endpoints.clone().unwrap_or_default()
        && current.ports.clone().unwrap_or_default() == want.ports.clone().unwrap_or_default()
        && current.metadata.labels == want.metadata.labels
}

/// A write's outcome: a conflict means someone wrote first; it is remembered so the reconcile
/// comes back soon with fresh reads.
fn write<T>(
    r: Result<T, kube::Error>,
    what: &str,
    raced: &mut bool,
) -> Result<(), ControllerError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_conflict(&e) || is_not_found(&e) => {
            *raced = true;
            Ok(())
        }
        Err(e) => Err(ControllerError::api(what, e)),
    }
}
