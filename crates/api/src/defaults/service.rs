//! Service defaults (`SetDefaults_Service`), plus the single-stack IP family settings that the
//! Kubernetes service registry fills in.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::{each, object_at, set_default};

/// Defaults of a Service: `ClusterIP`, no affinity, TCP ports targeting the same port, cluster
/// traffic policies.
pub(super) fn service(obj: &mut Map<String, Value>) {
    // Kubernetes always returns `status.loadBalancer`, empty until a load balancer exists.
    if let Some(status) = object_at(obj, "status") {
        set_default(status, "loadBalancer", json!({}));
    }
    let Some(spec) = object_at(obj, "spec") else {
        return;
    };
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if spec.get("sessionAffinity") == Some(&json!("ClientIP")) {
        let client_ip =
            object_at(spec, "sessionAffinityConfig").and_then(|c| object_at(c, "clientIP"));
        if let Some(client_ip) = client_ip {
            // Three hours (DefaultClientIPServiceAffinitySeconds).
            set_default(client_ip, "timeoutSeconds", json!(10800));
        }
    }
    for port in each(spec, "ports") {
        set_default(port, "protocol", json!("TCP"));
        let unset = matches!(port.get("targetPort"), None | Some(Value::Null))
            || port.get("targetPort") == Some(&json!(0))
            || port.get("targetPort") == Some(&json!(""));
        if unset && let Some(p) = port.get("port").cloned() {
            port.insert("targetPort".to_string(), p);
        }
    }
    if ty == "ExternalName" {
        return;
    }
    if ty == "NodePort" || ty == "LoadBalancer" {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    let v6 = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_ipv6());
    set_default(
        spec,
        "ipFamilies",
        json!([if v6 { "IPv6" } else { "IPv4" }]),
    );
}
