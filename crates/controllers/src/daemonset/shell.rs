//! The async half of the DaemonSet controller.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use serde_json::json;

use super::decide::{self, REVISION_LABEL, daemon_tolerations};
use crate::error::{ControllerError, is_not_found};
use crate::events;
use crate::expectations::Expectations;
use crate::pod::{controller_of, is_active, owner_reference, selector_string};

const RESYNC: Duration = Duration::from_secs(60);

struct Ctx {
    client: kube::Client,
    /// Keyed by DaemonSet uid; the names are node names.
    expectations: Expectations,
}

/// Runs the DaemonSet controller until its watches end.
pub async fn run(client: kube::Client) -> Result<(), ControllerError> {
    let sets: Api<DaemonSet> = Api::all(client.clone());
    let controller = Controller::new(sets, watcher::Config::default());
    let store = controller.store();
    controller
        // Ownership is in the metadata: the pod watch decodes nothing else.
        .owns(
            Api::<PartialObjectMeta<Pod>>::all(client.clone()),
            watcher::Config::default(),
        )
        .watches(
            Api::<Node>::all(client.clone()),
            watcher::Config::default(),
            move |_node: Node| {
                store
                    .state()
                    .iter()
                    .map(|ds| ObjectRef::from_obj(&**ds))
                    .collect::<Vec<_>>()
            },
        )
        .run(
            reconcile,
            error_policy,
            Arc::new(Ctx {
                client,
                expectations: Expectations::default(),
            }),
        )
        .for_each(|_| futures::future::ready(()))
        .await;
    Err(ControllerError::Stopped {
        name: "daemonset",
        detail: "watch streams ended".into(),
    })
}

fn error_policy(ds: Arc<DaemonSet>, e: &ControllerError, _: Arc<Ctx>) -> Action {
    tracing::warn!(daemonset = ?ds.metadata.name, error = %e, "daemonset reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(ds: Arc<DaemonSet>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    let ns = ds.metadata.namespace.clone().unwrap_or_default();
    let name = ds.metadata.name.clone().unwrap_or_default();
    let sets: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ns);
    let ds = match sets.get(&name).await {
        Ok(ds) => ds,
        Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
        Err(e) => {
            return Err(ControllerError::api(
                format!("get daemonset {ns}/{name}"),
                e,
            ));
        }
    };
    let uid = ds.metadata.uid.clone().unwrap_or_default();
    let nodes = Api::<Node>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| ControllerError::api("list nodes", e))?
        .items;
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let pods = pods_api
        .list(&ListParams::default().labels(&selector_string(&ds.spec.selector)))
        .await
        .map_err(|e| ControllerError::api(format!("list pods in {ns}"), e))?
        .items;
    let observed: HashSet<String> = pods
        .iter()
        .filter(|p| is_active(p) && controller_of(&p.metadata).is_some_and(|r| r.uid == uid))
        .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
        .collect();
    let now = tokio::time::Instant::now();
    let pending = ctx.expectations.observe(&uid, &observed, now).created;
    let plan = decide::decide(&ds, &nodes, &pods, &pending, Timestamp::now());

    for node in &plan.create_on {
        let pod = daemon_pod(&ds, node, &plan.hash);
        let created = pods_api
            .create(&PostParams::default(), &pod)
            .await
            .map_err(|e| {
                ControllerError::api(format!("create pod for daemonset {ns}/{name} on {node}"), e)
            })?;
        ctx.expectations.created(&uid, node, now);
        let pod_name = created.metadata.name.unwrap_or_default();
        events::record(
            &ctx.client,
            "daemonset-controller",
            events::reference(&ds),
            "Normal",
            "SuccessfulCreate",
            format!("Created pod: {pod_name}"),
        )
        .await;
    }
    for pod_name in &plan.delete {
        match pods_api.delete(pod_name, &DeleteParams::default()).await {
            Ok(_) => {
                events::record(
                    &ctx.client,
                    "daemonset-controller",
                    events::reference(&ds),
                    "Normal",
                    "SuccessfulDelete",
                    format!("Deleted pod: {pod_name}"),
                )
                .await;
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("delete pod {ns}/{pod_name}"),
                    e,
                ));
            }
        }
    }
    if ds.status.as_ref() != Some(&plan.status) {
        let patch = json!({"status": plan.status});
        match sets
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(
                    format!("update status of daemonset {ns}/{name}"),
                    e,
                ));
            }
        }
    }
    let busy = !plan.create_on.is_empty() || !plan.delete.is_empty();
    Ok(Action::requeue(if busy {
        Duration::from_secs(5)
    } else {
        RESYNC
    }))
}

/// The daemon pod for `node`: the template, bound to the node, with the daemon tolerations and
/// the template hash label.
fn daemon_pod(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let template = ds.spec.template.clone();
    let mut meta = template.metadata.unwrap_or_default();
    meta.name = None;
    meta.generate_name = Some(format!("{}-", ds.metadata.name.as_deref().unwrap_or("ds")));
    meta.namespace = ds.metadata.namespace.clone();
    meta.labels
        .get_or_insert_with(Default::default)
        .insert(REVISION_LABEL.into(), hash.into());
    meta.owner_references = Some(vec![owner_reference("apps/v1", "DaemonSet", &ds.metadata)]);
    let mut spec = template.spec.unwrap_or_default();
    spec.node_name = Some(node.into());
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for t in daemon_tolerations() {
        if !tolerations
            .iter()
            .any(|x| x.key == t.key && x.effect == t.effect)
        {
            tolerations.push(t);
        }
    }
    Pod {
        metadata: meta,
        spec: Some(spec),
        status: None,
    }
}
