//! Services (`ValidateService`, `ValidateServiceUpdate`): type, ports, node ports, cluster IP,
//! session affinity and traffic policies.

use std::collections::HashSet;

use brume_fog::routing_spec::{POLICY_NAMES, RoutingError, RoutingSpec, ServiceFields};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::container::{one_of, validate_protocol};
use super::errors::{
    check_port_number, duplicate, forbidden, immutable, invalid_str, not_supported, quote,
};
use super::labels::validate_labels;
use super::name::{dns1123_label, dns1123_subdomain, port_name};
use super::network::check_ip;
use super::{typed, typed_quiet};
use crate::error::FieldError;

use crate::node_ports::NODE_PORT_RANGE as NODE_PORTS;
/// The longest `ClientIP` affinity, one day (`MaxClientIPServiceAffinitySeconds`).
const MAX_AFFINITY_SECONDS: i32 = 86400;

/// Validates a new or updated Service.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(svc) = typed::<Service>(obj, "", errs) else {
        return;
    };
    let spec = svc.spec.unwrap_or_default();
    let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
    one_of(
        spec.type_.as_deref(),
        "spec.type",
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        errs,
    );
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    let headless = cluster_ip == "None";
    if ty == "ExternalName" {
        validate_external_name(&spec, errs);
    } else if !cluster_ip.is_empty() && !headless {
        check_ip("spec.clusterIP", cluster_ip, errs);
    }
    let ports = spec.ports.as_deref().unwrap_or(&[]);
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required(
            "spec.ports",
            "a Service needs at least one port, unless it is headless (clusterIP: None) or of \
             type ExternalName",
        ));
    }
    validate_ports(ports, ty, errs);
    if let Some(selector) = &spec.selector {
        validate_labels(selector, "spec.selector", errs);
    }
    validate_affinity(&spec, errs);
    validate_routing_annotations(svc.metadata.annotations.as_ref(), errs);
    validate_policies(&spec, ty, errs);
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        check_ip(&format!("spec.externalIPs[{i}]"), ip, errs);
    }
}

fn validate_external_name(spec: &ServiceSpec, errs: &mut Vec<FieldError>) {
    match spec.external_name.as_deref().unwrap_or("") {
        "" => errs.push(FieldError::required(
            "spec.externalName",
            "the DNS name this Service is an alias for",
        )),
        name => {
            // A trailing dot marks a fully qualified name and is allowed.
            for msg in dns1123_subdomain(name.strip_suffix('.').unwrap_or(name)) {
                errs.push(invalid_str("spec.externalName", name, msg));
            }
        }
    }
    if spec.cluster_ip.as_deref().is_some_and(|ip| !ip.is_empty()) {
        errs.push(forbidden(
            "spec.clusterIP",
            "may not be set for ExternalName services",
        ));
    }
}

fn validate_ports(ports: &[ServicePort], ty: &str, errs: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    let mut node_ports = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = format!("spec.ports[{i}]");
        let name = port.name.as_deref().unwrap_or("");
        if name.is_empty() {
            if ports.len() > 1 {
                errs.push(FieldError::required(
                    format!("{p}.name"),
                    "each port must be named when a Service has more than one",
                ));
            }
        } else {
            for msg in dns1123_label(name) {
                errs.push(invalid_str(format!("{p}.name"), name, msg));
            }
            if !names.insert(name) {
                errs.push(duplicate(format!("{p}.name"), quote(name)));
            }
        }
        check_port_number(&format!("{p}.port"), port.port.into(), errs);
        validate_protocol(port.protocol.as_deref(), &format!("{p}.protocol"), errs);
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !keys.insert((port.port, protocol)) {
            errs.push(duplicate(
                p.clone(),
                format!(
                    "{{\"port\":{},\"protocol\":{}}}",
                    port.port,
                    quote(protocol)
                ),
            ));
        }
        match &port.target_port {
            Some(IntOrString::Int(n)) => {
                check_port_number(&format!("{p}.targetPort"), (*n).into(), errs)
            }
            Some(IntOrString::String(s)) => {
                for msg in port_name(s) {
                    errs.push(invalid_str(format!("{p}.targetPort"), s, msg));
                }
            }
            None => {}
        }
        if let Some(node_port) = port.node_port.filter(|n| *n != 0) {
            let field = format!("{p}.nodePort");
            if ty != "NodePort" && ty != "LoadBalancer" {
                errs.push(forbidden(
                    field,
                    format!("may not be used when `type` is '{ty}'"),
                ));
            } else if !NODE_PORTS.contains(&node_port) {
                errs.push(FieldError::invalid(
                    field,
                    node_port,
                    "provided port is not in the valid range. The range of valid ports is \
                     30000-32767",
                ));
            } else if !node_ports.insert((node_port, protocol)) {
                errs.push(duplicate(field, node_port.to_string()));
            }
        }
    }
}

fn validate_affinity(spec: &ServiceSpec, errs: &mut Vec<FieldError>) {
    one_of(
        spec.session_affinity.as_deref(),
        "spec.sessionAffinity",
        &["ClientIP", "None"],
        errs,
    );
    let config = spec.session_affinity_config.as_ref();
    if spec.session_affinity.as_deref() == Some("ClientIP") {
        let timeout = config
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds);
        if let Some(t) = timeout.filter(|t| !(1..=MAX_AFFINITY_SECONDS).contains(t)) {
            errs.push(FieldError::invalid(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                t,
                format!("must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"),
            ));
        }
    } else if config.is_some_and(|c| c.client_ip.is_some()) {
        errs.push(FieldError::invalid(
            "spec.sessionAffinityConfig",
            super::errors::json(&config),
            "must not be set when session affinity is None",
        ));
    }
}

fn validate_policies(spec: &ServiceSpec, ty: &str, errs: &mut Vec<FieldError>) {
    one_of(
        spec.external_traffic_policy.as_deref(),
        "spec.externalTrafficPolicy",
        &["Cluster", "Local"],
        errs,
    );
    if let Some(p) = spec.external_traffic_policy.as_deref()
        && ty != "NodePort"
        && ty != "LoadBalancer"
    {
        errs.push(invalid_str(
            "spec.externalTrafficPolicy",
            p,
            "may only be set for externally-accessible services",
        ));
    }
    one_of(
        spec.internal_traffic_policy.as_deref(),
        "spec.internalTrafficPolicy",
        &["Cluster", "Local"],
        errs,
    );
    one_of(
        spec.ip_family_policy.as_deref(),
        "spec.ipFamilyPolicy",
        &["PreferDualStack", "RequireDualStack", "SingleStack"],
        errs,
    );
    for (i, family) in spec.ip_families.iter().flatten().enumerate() {
        one_of(
            Some(family),
            &format!("spec.ipFamilies[{i}]"),
            &["IPv4", "IPv6"],
            errs,
        );
    }
    // `PreferClose` selects Brume's proximity routing (DESIGN §7).
    one_of(
        spec.traffic_distribution.as_deref(),
        "spec.trafficDistribution",
        &["PreferClose", "PreferSameNode", "PreferSameZone"],
        errs,
    );
}

/// Checks the `fog.brume.io/*` routing annotations (DESIGN §7) with the parser the proxies use,
/// so a typo is refused here rather than silently replaced by a default on every node.
fn validate_routing_annotations(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
    errs: &mut Vec<FieldError>,
) {
    let fields = ServiceFields {
        annotations,
        ..ServiceFields::default()
    };
    for e in RoutingSpec::parse_all(&fields).1 {
        match e {
            RoutingError::UnknownPolicy { annotation, value } => errs.push(not_supported(
                format!("metadata.annotations[{annotation}]"),
                &value,
                POLICY_NAMES,
            )),
            RoutingError::BadNumber {
                annotation,
                value,
                expected,
            } => errs.push(invalid_str(
                format!("metadata.annotations[{annotation}]"),
                &value,
                format!("must be {expected}"),
            )),
            // spec fields are checked above, against the Kubernetes enums.
            RoutingError::BadField { .. } => {}
        }
    }
}

/// Checks an update against the stored Service: an allocated cluster IP does not change, unless
/// the Service becomes or stops being an ExternalName.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (Some(new), Some(old)) = (typed_quiet::<Service>(obj), typed_quiet::<Service>(old)) else {
        return;
    };
    let (new, old) = (new.spec.unwrap_or_default(), old.spec.unwrap_or_default());
    let external = |s: &ServiceSpec| s.type_.as_deref() == Some("ExternalName");
    let ip = |s: &ServiceSpec| s.cluster_ip.clone().unwrap_or_default();
    let (new_ip, old_ip) = (ip(&new), ip(&old));
    // An update that leaves clusterIP out keeps the allocated one (the server copies it).
    if !external(&new)
        && !external(&old)
        && !new_ip.is_empty()
        && !old_ip.is_empty()
        && new_ip != old_ip
    {
        errs.push(immutable("spec.clusterIP", quote(&new_ip)));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn svc(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn messages(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&svc(spec), &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    fn annotated(annotations: Value) -> Vec<String> {
        let mut obj = svc(json!({"ports": [{"port": 80}]}));
        obj["metadata"]["annotations"] = annotations;
        let mut errs = Vec::new();
        validate(&obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn routing_annotations_name_the_valid_values() {
        assert!(
            annotated(json!({"fog.brume.io/routing": "proximity",
                "fog.brume.io/proximity-alpha": "0.8", "fog.brume.io/proximity-beta": "off"}))
            .is_empty()
        );
        assert_eq!(
            annotated(json!({"fog.brume.io/routing": "nearest",
                "fog.brume.io/proximity-alpha": "1.5"})),
            [
                "metadata.annotations[fog.brume.io/routing]: Unsupported value: \"nearest\": supported values: \"random\", \"round-robin\", \"least-request\", \"source-hash\", \"proximity\"",
                "metadata.annotations[fog.brume.io/proximity-alpha]: Invalid value: \"1.5\": must be a number in [0, 1]",
            ]
        );
    }

    #[test]
    fn realistic_services_pass() {
        assert!(
            messages(json!({"selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080}]}))
            .is_empty()
        );
        assert!(
            messages(json!({"type": "NodePort", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
                      {"name": "dns", "port": 53, "protocol": "UDP"},
                      {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
            "externalTrafficPolicy": "Local", "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
            "trafficDistribution": "PreferClose"}))
            .is_empty()
        );
        assert!(messages(json!({"clusterIP": "None", "selector": {"app": "db"}})).is_empty());
        assert!(
            messages(json!({"type": "ExternalName", "externalName": "db.example.com."})).is_empty()
        );
    }

    #[test]
    fn types_and_ports() {
        assert_eq!(
            messages(json!({"type": "Internal", "ports": []})),
            [
                "spec.type: Unsupported value: \"Internal\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
                "spec.ports: Required value: a Service needs at least one port, unless it is headless (clusterIP: None) or of type ExternalName"
            ]
        );
        assert_eq!(
            messages(
                json!({"ports": [{"port": 0, "targetPort": 70000, "protocol": "HTTP"},
                                      {"name": "Web", "port": 80, "targetPort": "web_port"}]})
            ),
            [
                "spec.ports[0].name: Required value: each port must be named when a Service has more than one",
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[1].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "spec.ports[1].targetPort: Invalid value: \"web_port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
            ]
        );
        assert_eq!(
            messages(json!({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 80}]})),
            [
                "spec.ports[1].name: Duplicate value: \"a\": must be unique",
                "spec.ports[1]: Duplicate value: {\"port\":80,\"protocol\":\"TCP\"}: must be unique"
            ]
        );
    }

    #[test]
    fn node_ports() {
        assert_eq!(
            messages(json!({"ports": [{"port": 80, "nodePort": 30080}]})),
            ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
        assert_eq!(
            messages(
                json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 8080},
                {"name": "b", "port": 81, "nodePort": 30001}, {"name": "c", "port": 82, "nodePort": 30001}]})
            ),
            [
                "spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767",
                "spec.ports[2].nodePort: Duplicate value: 30001: must be unique"
            ]
        );
    }

    #[test]
    fn cluster_ip_external_name_and_policies() {
        let m = messages(json!({"clusterIP": "10.0.0", "ports": [{"port": 80}],
            "sessionAffinity": "Sticky", "internalTrafficPolicy": "Local",
            "externalTrafficPolicy": "Local", "trafficDistribution": "Nearest"}));
        let fields: Vec<&str> = m.iter().map(|s| s.split(':').next().unwrap()).collect();
        assert_eq!(
            fields,
            [
                "spec.clusterIP",
                "spec.sessionAffinity",
                "spec.externalTrafficPolicy",
                "spec.trafficDistribution"
            ],
            "{m:#?}"
        );
        assert_eq!(
            messages(json!({"type": "ExternalName", "clusterIP": "10.0.0.1"})),
            [
                "spec.externalName: Required value: the DNS name this Service is an alias for",
                "spec.clusterIP: Forbidden: may not be set for ExternalName services"
            ]
        );
    }

    #[test]
    fn cluster_ip_is_immutable_once_set() {
        let old = svc(json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}));
        let mut errs = Vec::new();
        validate_update(
            &svc(json!({"clusterIP": "10.96.0.11", "ports": [{"port": 80}]})),
            &old,
            &mut errs,
        );
        assert_eq!(
            errs[0].message(),
            "spec.clusterIP: Invalid value: \"10.96.0.11\": field is immutable"
        );
        let mut errs = Vec::new();
        validate_update(&svc(json!({"ports": [{"port": 80}]})), &old, &mut errs);
        validate_update(
            &svc(json!({"type": "ExternalName", "externalName": "x.example"})),
            &old,
            &mut errs,
        );
        assert!(errs.is_empty());
    }
}
