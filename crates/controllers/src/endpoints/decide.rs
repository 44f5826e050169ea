//! The endpoints decision: the EndpointSlices and the legacy Endpoints object a Service should
//! have, from the Service and the pods of its namespace (Kubernetes
//! `pkg/controller/endpointslice` and `pkg/controller/endpoint`).
//!
//! Endpoints are grouped by their port set, as Kubernetes does. A pod's port set differs from its
//! neighbours' when a named `targetPort` resolves differently, or when the agent published host
//! ports for it (DESIGN §6: endpoints are `nodeAddress:hostPort`): the annotation
//! [`HOST_PORTS`] maps `"<containerPort>/<protocol>"` to the host port, and the host port becomes
//! the endpoint's port.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, ObjectReference, Pod,
    Service, ServicePort,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::pod::{self, owner_reference};

/// The pod annotation where the agent publishes allocated host ports, as JSON
/// `{"<containerPort>/<protocol>": <hostPort>}`.
pub const HOST_PORTS: &str = "fog.brume.io/host-ports";
/// The label naming a slice's Service.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages a slice.
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value for [`MANAGED_BY`].
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";

/// Everything a Service's endpoints should look like.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// The EndpointSlices, one per port set and address type, with deterministic names.
    pub slices: Vec<EndpointSlice>,
    /// The legacy Endpoints object, named after the Service.
    pub endpoints: Endpoints,
}

/// One pod's endpoint before grouping.
struct PodEndpoint {
    ports: Vec<EndpointPort>,
    address_type: &'static str,
    endpoint: Endpoint,
}

/// The endpoints `svc` should have given the pods of its namespace, or `None` when the Service
/// has no selector (its endpoints are then the user's to manage).
pub fn desired(svc: &Service, pods: &[Pod]) -> Option<Desired> {
    let spec = svc.spec.as_ref()?;
    let selector = spec.selector.as_ref().filter(|s| !s.is_empty())?;
    let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
    let service_ports = spec.ports.clone().unwrap_or_default();
    let mut matching: Vec<&Pod> = pods
        .iter()
        .filter(|p| {
            let labels = p.metadata.labels.as_ref();
            selector
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .filter(|p| !matches!(pod::phase(p), Some("Succeeded" | "Failed")))
        .filter(|p| ip_of(p).is_some())
        .collect();
    matching.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let endpoints: Vec<PodEndpoint> = matching
        .iter()
        .map(|p| pod_endpoint(p, &service_ports, publish_not_ready))
        .collect();

    // Group by (address type, port set).
    let mut groups: BTreeMap<(String, String), (Vec<EndpointPort>, Vec<Endpoint>)> =
        BTreeMap::new();
    for e in endpoints {
        let key = (
            e.address_type.to_string(),
            serde_json::to_string(&e.ports).unwrap_or_default(),
        );
        groups
            .entry(key)
            .or_insert_with(|| (e.ports.clone(), Vec::new()))
            .1
            .push(e.endpoint);
    }
    let svc_name = svc.metadata.name.clone().unwrap_or_default();
    let owner = owner_reference("v1", "Service", &svc.metadata);
    let labels: BTreeMap<String, String> = [
        (SERVICE_NAME.to_string(), svc_name.clone()),
        (MANAGED_BY.to_string(), CONTROLLER_NAME.to_string()),
    ]
    .into();
    let mut slices: Vec<EndpointSlice> = groups
        .iter()
        .map(|((address_type, key), (ports, eps))| EndpointSlice {
            metadata: ObjectMeta {
                name: Some(slice_name(&svc_name, address_type, key)),
                namespace: svc.metadata.namespace.clone(),
                labels: Some(labels.clone()),
                owner_references: Some(vec![owner.clone()]),
                ..Default::default()
            },
            address_type: address_type.clone(),
            endpoints: Some(eps.clone()),
            ports: Some(ports.clone()),
        })
        .collect();
    if slices.is_empty() {
        // Kubernetes keeps one placeholder slice so consumers see the Service has no endpoints.
        slices.push(EndpointSlice {
            metadata: ObjectMeta {
                name: Some(slice_name(&svc_name, "IPv4", "")),
                namespace: svc.metadata.namespace.clone(),
                labels: Some(labels),
                owner_references: Some(vec![owner]),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: Some(Vec::new()),
            ports: Some(Vec::new()),
        });
    }

    let subsets: Vec<EndpointSubset> = groups
        .values()
        .filter_map(|(ports, eps)| subset(ports, eps))
        .collect();
    let endpoints = Endpoints {
        metadata: ObjectMeta {
            name: Some(svc_name),
            namespace: svc.metadata.namespace.clone(),
            labels: svc.metadata.labels.clone(),
            // Kubernetes deletes Endpoints when it sees the Service go; here the API server's
            // garbage collector does, through this reference.
            owner_references: Some(vec![owner_reference("v1", "Service", &svc.metadata)]),
            ..Default::default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    };
    Some(Desired { slices, endpoints })
}

/// Whether any endpoint of `slices` may receive traffic (a nil `ready` means ready).
fn any_ready(slices: &[EndpointSlice]) -> bool {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .any(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
}

/// Whether the Service has just been left without a ready endpoint, so that a Warning event
/// says why its node ports refuse connections: its first slices have none, or the stored
/// slices had one and the desired ones have none. Once said, it is not repeated on every
/// resync.
pub fn lost_all_ready(existing: &[EndpointSlice], want: &[EndpointSlice]) -> bool {
    !any_ready(want) && (existing.is_empty() || any_ready(existing))
}

/// `<service>-<hash of address type and port set>`: stable, so reconciling twice updates the
/// same slices.
fn slice_name(svc: &str, address_type: &str, key: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in address_type.bytes().chain(key.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = h
        .to_string()
        .bytes()
        .take(5)
        .map(|b| char::from(SAFE[usize::from(b) % SAFE.len()]))
        .collect();
    let base: String = svc.chars().take(63 - 6).collect();
    format!("{base}-{suffix}")
}

fn ip_of(p: &Pod) -> Option<&str> {
    p.status
        .as_ref()?
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
}

fn pod_endpoint(p: &Pod, service_ports: &[ServicePort], publish_not_ready: bool) -> PodEndpoint {
    let ip = ip_of(p).unwrap_or_default().to_string();
    let terminating = p.metadata.deletion_timestamp.is_some();
    let ready = pod::is_ready(p);
    let host_ports: BTreeMap<String, i32> = p
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(HOST_PORTS))
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    let mut ports: Vec<EndpointPort> = service_ports
        .iter()
        .filter_map(|sp| {
            let protocol = sp.protocol.clone().unwrap_or_else(|| "TCP".into());
            let container_port = resolve(p, sp, &protocol)?;
            let port = host_ports
                .get(&format!("{container_port}/{protocol}"))
                .copied()
                .unwrap_or(container_port);
            Some(EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(port),
                protocol: Some(protocol),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect();
    ports.sort_by(|a, b| a.name.cmp(&b.name));
    PodEndpoint {
        ports,
        address_type: if ip.contains(':') { "IPv6" } else { "IPv4" },
        endpoint: Endpoint {
            addresses: vec![ip],
            conditions: Some(EndpointConditions {
                ready: Some((ready || publish_not_ready) && !terminating),
                serving: Some(ready || publish_not_ready),
                terminating: Some(terminating),
            }),
            node_name: p.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".into()),
                name: p.metadata.name.clone(),
                namespace: p.metadata.namespace.clone(),
                uid: p.metadata.uid.clone(),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

/// The container port a Service port targets on this pod (Kubernetes `podutil.FindPort`): a
/// number is taken as is, a name is looked up among the containers' ports of that protocol.
fn resolve(p: &Pod, sp: &ServicePort, protocol: &str) -> Option<i32> {
    match sp.target_port.as_ref() {
        None => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            p.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|cp| {
                    cp.name.as_deref() == Some(name.as_str())
                        && cp.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|cp| cp.container_port)
        }
    }
}

/// The legacy subset for one port set: ready endpoints in `addresses`, not-ready ones that are
/// not terminating in `notReadyAddresses` (terminating pods are left out, as Kubernetes does).
fn subset(ports: &[EndpointPort], eps: &[Endpoint]) -> Option<EndpointSubset> {
    let address = |e: &Endpoint| EndpointAddress {
        ip: e.addresses[0].clone(),
        node_name: e.node_name.clone(),
        target_ref: e.target_ref.clone(),
        hostname: None,
    };
    let cond = |e: &Endpoint| e.conditions.clone().unwrap_or_default();
    let ready: Vec<EndpointAddress> = eps
        .iter()
        .filter(|e| cond(e).ready == Some(true))
        .map(address)
        .collect();
    let not_ready: Vec<EndpointAddress> = eps
        .iter()
        .filter(|e| cond(e).ready != Some(true) && cond(e).terminating != Some(true))
        .map(address)
        .collect();
    if ready.is_empty() && not_ready.is_empty() {
        return None;
    }
    Some(EndpointSubset {
        addresses: (!ready.is_empty()).then_some(ready),
        not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
        ports: Some(
            ports
                .iter()
                .map(|p| CorePort {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    port: p.port.unwrap_or_default(),
                    protocol: p.protocol.clone(),
                    app_protocol: p.app_protocol.clone(),
                })
                .collect(),
        ),
    })
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
