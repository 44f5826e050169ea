//! Rows of the objects that route traffic: Services, Endpoints and EndpointSlices.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Column;
use super::format::{
    AGE, NAME, NONE, age, col, first_few, host_port, int, items, labels, name, some_text, text,
    wide,
};

/// Service columns.
pub(super) const SERVICE: &[Column] = &[
    NAME,
    col(
        "Type",
        "string",
        "How the service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName.",
    ),
    col(
        "Cluster-IP",
        "string",
        "The virtual IP address of the service.",
    ),
    col(
        "External-IP",
        "string",
        "The addresses outside the cluster the service is reachable at.",
    ),
    col(
        "Port(s)",
        "string",
        "The ports the service exposes, with their node ports and protocols.",
    ),
    AGE,
    wide(
        "Selector",
        "string",
        "The labels of the pods the service routes traffic to.",
    ),
];

/// The cells of one service.
pub(super) fn service(svc: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // ClusterIP is the type the server defaults a service to.
    let kind = some_text(svc, "/spec/type").unwrap_or("ClusterIP");
    let cluster_ip = items(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .or_else(|| some_text(svc, "/spec/clusterIP"))
        .unwrap_or(NONE);
    let ports: Vec<String> = items(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = some_text(p, "/protocol").unwrap_or("TCP");
            match int(p, "/nodePort") {
                node_port if node_port > 0 => {
                    format!("{}:{node_port}/{protocol}", int(p, "/port"))
                }
                _ => format!("{}/{protocol}", int(p, "/port")),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        NONE.to_string()
    } else {
        ports.join(",")
    };
    vec![
        name(svc),
        json!(kind),
        json!(cluster_ip),
        json!(external_ip(svc, kind)),
        json!(ports),
        age(svc, now),
        json!(labels(svc.pointer("/spec/selector"))),
    ]
}

/// The External-IP cell. The server prints tables wide, so load-balancer addresses are never
/// cut short.
fn external_ip(svc: &Value, kind: &str) -> String {
    let external: Vec<&str> = items(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match kind {
        "ClusterIP" | "NodePort" if external.is_empty() => NONE.to_string(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let mut balancers: Vec<&str> = items(svc, "/status/loadBalancer/ingress")
                .iter()
                .filter_map(|i| some_text(i, "/ip").or_else(|| some_text(i, "/hostname")))
                .collect();
            balancers.sort_unstable();
            balancers.dedup();
            balancers.extend(external);
            if balancers.is_empty() {
                "<pending>".to_string()
            } else {
                balancers.join(",")
            }
        }
        "ExternalName" => text(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// Endpoints columns.
pub(super) const ENDPOINTS: &[Column] = &[
    NAME,
    col(
        "Endpoints",
        "string",
        "The first few ready and not-ready addresses with their ports.",
    ),
    AGE,
];

/// The cells of one Endpoints object.
pub(super) fn endpoints(ep: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![name(ep), json!(endpoint_list(ep)), age(ep, now)]
}

/// "10.0.0.1:80,10.0.0.2:80 + 3 more...": every address of every subset, once per port of
/// that subset (bare addresses for a headless subset without ports).
fn endpoint_list(ep: &Value) -> String {
    let subsets = items(ep, "/subsets");
    if subsets.is_empty() {
        return NONE.to_string();
    }
    let mut all = Vec::new();
    for subset in subsets {
        let addresses: Vec<&str> = items(subset, "/addresses")
            .iter()
            .map(|a| text(a, "/ip"))
            .collect();
        let ports = items(subset, "/ports");
        if ports.is_empty() {
            all.extend(addresses.iter().map(|ip| ip.to_string()));
        }
        for port in ports {
            let port = int(port, "/port");
            all.extend(addresses.iter().map(|ip| host_port(ip, port)));
        }
    }
    if all.is_empty() {
        return String::new();
    }
    first_few(&all, 3)
}

/// EndpointSlice columns.
pub(super) const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    col(
        "AddressType",
        "string",
        "The type of the slice's addresses: IPv4, IPv6 or FQDN.",
    ),
    col(
        "Ports",
        "string",
        "The first few ports the endpoints serve.",
    ),
    col("Endpoints", "string", "The first few endpoint addresses."),
    AGE,
];

/// The cells of one endpoint slice.
pub(super) fn endpoint_slice(slice: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ports: Vec<String> = items(slice, "/ports")
        .iter()
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(port) => port.to_string(),
            None => some_text(p, "/name").unwrap_or("*").to_string(),
        })
        .collect();
    let addresses: Vec<String> = items(slice, "/endpoints")
        .iter()
        .flat_map(|e| items(e, "/addresses"))
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    vec![
        name(slice),
        json!(text(slice, "/addressType")),
        json!(first_few(&ports, 3)),
        json!(first_few(&addresses, 3)),
        age(slice, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testing::{kind, now};
    use super::*;
    use crate::table::row;

    fn svc(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default",
            "creationTimestamp": "2025-06-01T09:00:00Z"}, "spec": spec, "status": status})
    }

    #[test]
    fn node_port_service() {
        let s = svc(
            json!({"type": "NodePort", "clusterIP": "10.96.14.2", "clusterIPs": ["10.96.14.2"],
                "selector": {"app": "web", "tier": "fe"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080,
                    "protocol": "TCP"}, {"name": "https", "port": 443, "protocol": "TCP"}]}),
            json!({}),
        );
        assert_eq!(
            row(kind("Service"), &s, now()),
            [
                "web",
                "NodePort",
                "10.96.14.2",
                "<none>",
                "80:30080/TCP,443/TCP",
                "3h",
                "app=web,tier=fe"
            ]
        );
    }

    #[test]
    fn headless_and_external_name_services() {
        let headless = svc(
            json!({"clusterIP": "None", "clusterIPs": ["None"], "ports": []}),
            json!({}),
        );
        let cells = row(kind("Service"), &headless, now());
        assert_eq!(cells[1..5], ["ClusterIP", "None", "<none>", "<none>"]);
        assert_eq!(cells[6], "<none>");

        let external = svc(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
        );
        let cells = row(kind("Service"), &external, now());
        assert_eq!(
            cells[1..5],
            ["ExternalName", "<none>", "db.example.com", "<none>"]
        );
    }

    #[test]
    fn load_balancer_service_is_pending_until_it_has_an_address() {
        let spec = json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.5"],
            "ports": [{"port": 53, "nodePort": 31053, "protocol": "UDP"}]});
        let pending = svc(spec.clone(), json!({}));
        let cells = row(kind("Service"), &pending, now());
        assert_eq!(cells[3..5], ["<pending>", "53:31053/UDP"]);

        let mut spec = spec;
        spec["externalIPs"] = json!(["192.0.2.10"]);
        let ready = svc(
            spec,
            json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"},
                {"ip": "198.51.100.7"}, {"ip": "198.51.100.7"}]}}),
        );
        let cells = row(kind("Service"), &ready, now());
        assert_eq!(cells[3], "198.51.100.7,lb.example.com,192.0.2.10");
    }

    #[test]
    fn endpoints_list_the_first_three_then_count_the_rest() {
        let ep = json!({"metadata": {"name": "web", "creationTimestamp": "2025-06-01T09:00:00Z"},
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}],
                "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}]});
        assert_eq!(
            row(kind("Endpoints"), &ep, now()),
            [
                "web",
                "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...",
                "3h"
            ]
        );
        let headless = json!({"metadata": {"name": "db"},
            "subsets": [{"addresses": [{"ip": "10.0.0.9"}]}]});
        assert_eq!(row(kind("Endpoints"), &headless, now())[1], "10.0.0.9");
        let empty = json!({"metadata": {"name": "none"}});
        assert_eq!(row(kind("Endpoints"), &empty, now())[1], "<none>");
    }

    #[test]
    fn endpoint_slice_lists_ports_and_addresses() {
        let slice = json!({
            "metadata": {"name": "web-x7k2p", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics"}],
            "endpoints": [
                {"addresses": ["10.0.0.1"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": false}},
                {"addresses": ["10.0.0.4"], "conditions": {"ready": true}}]
        });
        assert_eq!(
            row(kind("EndpointSlice"), &slice, now()),
            [
                "web-x7k2p",
                "IPv4",
                "80,metrics",
                "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
                "60m"
            ]
        );
        let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv6", "ports": [{}]});
        assert_eq!(
            row(kind("EndpointSlice"), &empty, now())[2..4],
            ["*", "<unset>"]
        );
    }
}
