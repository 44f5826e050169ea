//! The reads both fog controllers (latency autoscaler, re-placement) make before deciding: a
//! namespace's Services and TrafficReports, and the nodes. The decisions on them are pure, in
//! [`crate::fog_inputs`].

use brume_api::TrafficReport;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;

use crate::error::ControllerError;

/// What the fog controllers read for one Deployment's namespace.
pub struct FogObjects {
    /// The namespace's Services.
    pub services: Vec<Service>,
    /// The namespace's TrafficReports.
    pub reports: Vec<TrafficReport>,
    /// Every node.
    pub nodes: Vec<Node>,
}

/// Lists the Services and TrafficReports of `ns`, and the nodes.
pub async fn read(client: &kube::Client, ns: &str) -> Result<FogObjects, ControllerError> {
    let lp = ListParams::default();
    let services = Api::<Service>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .map_err(|e| ControllerError::api(format!("list services in {ns}"), e))?
        .items;
    let reports = Api::<TrafficReport>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .map_err(|e| ControllerError::api(format!("list trafficreports in {ns}"), e))?
        .items;
    let nodes = Api::<Node>::all(client.clone())
        .list(&lp)
        .await
        .map_err(|e| ControllerError::api("list nodes", e))?
        .items;
    Ok(FogObjects {
        services,
        reports,
        nodes,
    })
}

/// The labels of a Deployment's pod template: what its Services select.
pub fn template_labels(d: &Deployment) -> BTreeMap<String, String> {
    d.spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}
