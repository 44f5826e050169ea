//! Endpoints (`ValidateEndpoints`): addresses and ports of each subset. Loopback addresses are
//! accepted, since Brume's emulated nodes use them (see [`super::network`]).

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, Endpoints};
use serde_json::Value;

use super::container::validate_protocol;
use super::errors::{check_port_number, duplicate, invalid_str, quote};
use super::name::{dns1123_label, dns1123_subdomain};
use super::network::check_ip;
use super::typed;
use crate::error::FieldError;

/// Validates new or updated Endpoints.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(ep) = typed::<Endpoints>(obj, "", errs) else {
        return;
    };
    for (i, subset) in ep.subsets.iter().flatten().enumerate() {
        let p = format!("subsets[{i}]");
        for (field, addresses) in [
            ("addresses", &subset.addresses),
            ("notReadyAddresses", &subset.not_ready_addresses),
        ] {
            for (j, a) in addresses.iter().flatten().enumerate() {
                validate_address(a, &format!("{p}.{field}[{j}]"), errs);
            }
        }
        validate_ports(subset.ports.as_deref().unwrap_or(&[]), &p, errs);
    }
}

fn validate_address(a: &EndpointAddress, path: &str, errs: &mut Vec<FieldError>) {
    check_ip(&format!("{path}.ip"), &a.ip, errs);
    if let Some(h) = a.hostname.as_deref().filter(|h| !h.is_empty()) {
        for msg in dns1123_label(h) {
            errs.push(invalid_str(format!("{path}.hostname"), h, msg));
        }
    }
    if let Some(n) = a.node_name.as_deref().filter(|n| !n.is_empty()) {
        for msg in dns1123_subdomain(n) {
            errs.push(invalid_str(format!("{path}.nodeName"), n, msg));
        }
    }
}

/// Ports of a subset (or an EndpointSlice): names are required and unique when there are
/// several, numbers in range, protocols supported.
fn validate_ports(ports: &[EndpointPort], path: &str, errs: &mut Vec<FieldError>) {
    let mut names = std::collections::HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = format!("{path}.ports[{i}]");
        let name = port.name.as_deref().unwrap_or("");
        if name.is_empty() {
            if ports.len() > 1 {
                errs.push(FieldError::required(
                    format!("{p}.name"),
                    "each port must be named when there are several",
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
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn addresses_and_ports() {
        let mut errs = Vec::new();
        validate(
            &json!({"metadata": {"name": "web"}, "subsets": [{
                "addresses": [{"ip": "127.0.0.2", "nodeName": "edge-1"}, {"ip": "10.0.0.7"}],
                "notReadyAddresses": [{"ip": "::1"}],
                "ports": [{"port": 30123}]}]}),
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
        validate(
            &json!({"subsets": [{"addresses": [{"ip": "localhost"}],
                                 "ports": [{"port": 0, "name": "a"}, {"port": 81}]}]}),
            &mut errs,
        );
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "subsets[0].addresses[0].ip",
                "subsets[0].ports[0].port",
                "subsets[0].ports[1].name"
            ]
        );
    }
}
