//! What the node's proxy should serve, decided from Services, EndpointSlices and Nodes
//! (DESIGN §7 and §8). Pure: the shell in [`crate::services`] gathers the objects and applies
//! the result to the proxy.
//!
//! - Every port of a Service that has a `nodePort` (types NodePort and LoadBalancer; the API
//!   server allocates them) gets a listener on the node's address at that port. Brume has no
//!   virtual IPs, so a ClusterIP-only Service has no listener; its endpoints still appear in
//!   the table, so they are visible to tools that read it.
//! - The endpoints of a Service port are those of the Service's EndpointSlices whose port has
//!   the same name, as kube-proxy matches them.
//! - Each endpoint carries the estimated RTT from this node to the endpoint's node, from the
//!   nodes' coordinates, GPS or labels (`brume_fog::estimate_rtt_ms`); an endpoint on this very
//!   node is 0 ms away, and an unknown distance stays `None`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use brume_fog::{NodeLocation, named_rtt_ms};
use brume_proxy::policy::select::from_service;
use brume_proxy::{
    Endpoint, ListenMode, ListenerSpec, Protocol, ServiceFields, ServicePort, ServicePortKey,
};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// What the proxy of one node serves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routes {
    /// Every Service port with its endpoints and routing.
    pub ports: Vec<(ServicePortKey, ServicePort)>,
    /// The node-port listeners.
    pub listeners: Vec<ListenerSpec>,
}

/// Where the nodes are, by name, and which one is this node.
#[derive(Debug, Clone, Default)]
pub struct NodeMap {
    /// This node's name.
    pub me: String,
    locations: HashMap<String, NodeLocation>,
}

impl NodeMap {
    /// The locations of `nodes`, seen from the node named `me`. A bad location annotation is
    /// left out of that node's location (its labels still count).
    pub fn new(me: impl Into<String>, nodes: &[impl Borrow<Node>]) -> Self {
        let locations = nodes
            .iter()
            .filter_map(|n| {
                let n = n.borrow();
                let name = n.metadata.name.clone()?;
                let (location, _problems) = NodeLocation::from_metadata(
                    n.metadata.annotations.as_ref(),
                    n.metadata.labels.as_ref(),
                );
                Some((name, location))
            })
            .collect();
        Self {
            me: me.into(),
            locations,
        }
    }

    /// The zone label of a node.
    pub fn zone(&self, node: &str) -> Option<String> {
        self.locations.get(node).and_then(|l| l.zone.clone())
    }

    /// The RTT from this node to `node` in milliseconds: 0 for this node itself, the RTT either
    /// measured to the other, else the estimate of their locations, `None` when nothing tells.
    pub fn distance_ms(&self, node: &str) -> Option<f64> {
        named_rtt_ms(
            &self.me,
            self.locations.get(&self.me),
            node,
            self.locations.get(node),
        )
    }
}

fn protocol(name: Option<&str>) -> Protocol {
    match name {
        Some("UDP") => Protocol::Udp,
        Some("SCTP") => Protocol::Sctp,
        _ => Protocol::Tcp,
    }
}

/// The endpoints of the Service port named `port_name` in `slices` (already those of the
/// Service), with their distance from this node.
fn endpoints(slices: &[&EndpointSlice], port_name: &str, nodes: &NodeMap) -> Vec<Endpoint> {
    let mut out = Vec::new();
    for slice in slices {
        let Some(port) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref().unwrap_or("") == port_name)
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for e in slice.endpoints.iter().flatten() {
            let node = e.node_name.clone().unwrap_or_default();
            let c = e.conditions.as_ref();
            // Kubernetes: a nil `ready` means ready, a nil `serving` follows `ready`.
            let ready = c.and_then(|c| c.ready).unwrap_or(true);
            let serving = c.and_then(|c| c.serving).unwrap_or(ready);
            let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
            for address in &e.addresses {
                let Ok(ip) = address.parse::<IpAddr>() else {
                    continue;
                };
                out.push(Endpoint {
                    address: SocketAddr::new(ip, port),
                    zone: e.zone.clone().or_else(|| nodes.zone(&node)),
                    distance_ms: nodes.distance_ms(&node),
                    node: node.clone(),
                    ready,
                    serving,
                    terminating,
                });
            }
        }
    }
    out.sort_by_key(|e| e.address);
    out.dedup_by_key(|e| e.address);
    out
}

/// Decides what the proxy of this node serves, listening at `address`.
pub fn routes(
    services: &[impl Borrow<Service>],
    slices: &[impl Borrow<EndpointSlice>],
    nodes: &NodeMap,
    address: IpAddr,
) -> Routes {
    let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
    for slice in slices {
        let slice = slice.borrow();
        let meta = &slice.metadata;
        if let (Some(ns), Some(svc)) = (
            meta.namespace.as_deref(),
            meta.labels.as_ref().and_then(|l| l.get(SERVICE_NAME_LABEL)),
        ) {
            by_service
                .entry((ns, svc.as_str()))
                .or_default()
                .push(slice);
        }
    }
    let mut out = Routes::default();
    for svc in services {
        let svc = svc.borrow();
        let (Some(ns), Some(name), Some(spec)) = (
            svc.metadata.namespace.as_deref(),
            svc.metadata.name.as_deref(),
            svc.spec.as_ref(),
        ) else {
            continue;
        };
        let routing = from_service(&ServiceFields {
            annotations: svc.metadata.annotations.as_ref(),
            session_affinity: spec.session_affinity.as_deref(),
            traffic_distribution: spec.traffic_distribution.as_deref(),
        });
        let slices = by_service
            .get(&(ns, name))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for sp in spec.ports.iter().flatten() {
            let Ok(port) = u16::try_from(sp.port) else {
                continue;
            };
            let port_name = sp.name.clone().unwrap_or_default();
            let key = ServicePortKey {
                namespace: ns.to_string(),
                service: name.to_string(),
                port_name: port_name.clone(),
                port,
                protocol: protocol(sp.protocol.as_deref()),
            };
            if let Some(node_port) = sp.node_port.and_then(|p| u16::try_from(p).ok()) {
                out.listeners.push(ListenerSpec {
                    bind: SocketAddr::new(address, node_port),
                    service: key.clone(),
                    mode: ListenMode::for_app_protocol(sp.app_protocol.as_deref()),
                });
            }
            let port = ServicePort {
                app_protocol: sp.app_protocol.clone(),
                endpoints: endpoints(slices, &port_name, nodes),
                routing,
            };
            out.ports.push((key, port));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(name: &str, extra: serde_json::Value) -> Service {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "NodePort", "ports": [
                {"name": "http", "port": 80, "nodePort": 30080, "appProtocol": "http"},
                {"name": "raw", "port": 9000, "nodePort": 30090}
            ]}
        });
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), &b) {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v.clone()),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }

    fn slice(service: &str, endpoints: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{service}-abc"), "namespace": "default",
                         "labels": {SERVICE_NAME_LABEL: service}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 31001, "protocol": "TCP"},
                      {"name": "raw", "port": 31002, "protocol": "TCP"}],
            "endpoints": endpoints,
        }))
        .unwrap()
    }

    fn node(name: &str, coordinate: Option<[f64; 2]>) -> Node {
        let mut annotations = serde_json::Map::new();
        if let Some([x, y]) = coordinate {
            annotations.insert(
                brume_fog::COORDINATES_ANNOTATION.into(),
                json!(format!(
                    r#"{{"vector":[{x},{y}],"height":0.0,"error":0.2}}"#
                )),
            );
        }
        serde_json::from_value(
            json!({"metadata": {"name": name, "annotations": annotations,
            "labels": {"topology.kubernetes.io/zone": format!("zone-{name}")}}}),
        )
        .unwrap()
    }

    fn endpoint_json(ip: &str, node: &str, ready: bool, terminating: bool) -> serde_json::Value {
        json!({"addresses": [ip], "nodeName": node,
               "conditions": {"ready": ready, "serving": true, "terminating": terminating}})
    }

    #[test]
    fn node_ports_become_listeners_on_the_node_address_with_their_mode() {
        let nodes = NodeMap::new("n1", &[] as &[Node]);
        let r = routes(
            &[service("web", json!({}))],
            &[] as &[EndpointSlice],
            &nodes,
            [127, 0, 0, 2].into(),
        );
        let listeners: Vec<_> = r
            .listeners
            .iter()
            .map(|l| (l.bind.to_string(), l.service.port, l.mode))
            .collect();
        assert_eq!(
            listeners,
            vec![
                ("127.0.0.2:30080".to_string(), 80, ListenMode::Http),
                ("127.0.0.2:30090".to_string(), 9000, ListenMode::Tcp),
            ]
        );
        assert!(r.ports.iter().all(|(_, p)| p.endpoints.is_empty()));
    }

    #[test]
    fn cluster_ip_services_get_no_listener() {
        let svc = serde_json::from_value::<Service>(json!({
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {"ports": [{"port": 5432}]}
        }))
        .unwrap();
        let r = routes(
            &[svc],
            &[] as &[EndpointSlice],
            &NodeMap::new("n1", &[] as &[Node]),
            [127, 0, 0, 2].into(),
        );
        assert!(r.listeners.is_empty());
        assert_eq!(r.ports.len(), 1);
    }

    #[test]
    fn endpoints_match_ports_by_name_and_carry_conditions_and_distance() {
        let nodes = NodeMap::new(
            "n1",
            &[
                node("n1", Some([0.0, 0.0])),
                node("n2", Some([30.0, 40.0])),
                node("n3", None),
            ],
        );
        let eps = json!([
            endpoint_json("127.0.0.2", "n1", true, false),
            endpoint_json("127.0.0.3", "n2", true, false),
            endpoint_json("127.0.0.4", "n3", false, true),
        ]);
        let r = routes(
            &[service("web", json!({}))],
            &[slice("web", eps), slice("other", json!([]))],
            &nodes,
            [127, 0, 0, 2].into(),
        );
        let (key, http) = &r.ports[0];
        assert_eq!(key.port_name, "http");
        let seen: Vec<_> = http
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.address.to_string(),
                    e.accepts_new(),
                    e.distance_ms,
                    e.zone.clone(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    "127.0.0.2:31001".into(),
                    true,
                    Some(0.0),
                    Some("zone-n1".into())
                ),
                (
                    "127.0.0.3:31001".into(),
                    true,
                    Some(50.0),
                    Some("zone-n2".into())
                ),
                // No coordinate: unknown, never zero.
                (
                    "127.0.0.4:31001".into(),
                    false,
                    None,
                    Some("zone-n3".into())
                ),
            ]
        );
        assert_eq!(r.ports[1].1.endpoints[0].address.port(), 31002);
    }

    #[test]
    fn a_measured_rtt_comes_before_the_coordinates() {
        let mut me = node("n1", Some([0.0, 0.0]));
        me.metadata.annotations.get_or_insert_default().insert(
            brume_fog::MEASURED_RTT_ANNOTATION.into(),
            r#"{"n3": 7.5}"#.into(),
        );
        let nodes = NodeMap::new(
            "n1",
            &[me, node("n2", Some([30.0, 40.0])), node("n3", None)],
        );
        assert_eq!(nodes.distance_ms("n1"), Some(0.0));
        assert_eq!(nodes.distance_ms("n2"), Some(50.0), "the coordinates");
        assert_eq!(
            nodes.distance_ms("n3"),
            Some(7.5),
            "no coordinate, but measured"
        );
    }

    #[test]
    fn routing_follows_the_service_fields() {
        let svc = service(
            "web",
            json!({"metadata": {"annotations": {"fog.brume.io/routing": "proximity",
                                                "fog.brume.io/proximity-alpha": "1"}}}),
        );
        let r = routes(
            &[svc],
            &[] as &[EndpointSlice],
            &NodeMap::new("n1", &[] as &[Node]),
            [127, 0, 0, 2].into(),
        );
        match &r.ports[0].1.routing.policy {
            brume_proxy::PolicyKind::Proximity(p) => assert_eq!(p.alpha, 1.0),
            other => panic!("expected proximity, got {other:?}"),
        }
    }
}
