//! EndpointSlices, discovery.k8s.io/v1 (`ValidateEndpointSlice`): the address type, each
//! endpoint's addresses and the ports. Loopback addresses are accepted (see [`super::network`]).

use std::net::{Ipv4Addr, Ipv6Addr};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

use super::container::{one_of, validate_protocol};
use super::errors::{check_port_number, duplicate, immutable, invalid_str, quote};
use super::name::{dns1123_label, dns1123_subdomain};
use super::{typed, typed_quiet};
use crate::error::FieldError;

/// Kubernetes' bounds on a slice.
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;
const MAX_ENDPOINTS: usize = 1000;

/// Validates a new or updated EndpointSlice.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(slice) = typed::<EndpointSlice>(obj, "", errs) else {
        return;
    };
    let ty = slice.address_type.as_str();
    if ty.is_empty() {
        errs.push(FieldError::required(
            "addressType",
            "one of IPv4, IPv6 or FQDN",
        ));
    } else {
        one_of(Some(ty), "addressType", &["FQDN", "IPv4", "IPv6"], errs);
    }
    let endpoints = slice.endpoints.as_deref().unwrap_or(&[]);
    if endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::new(
            crate::error::FieldErrorKind::TooLong,
            "endpoints",
            None,
            format!("must have at most {MAX_ENDPOINTS} items"),
        ));
    }
    for (i, e) in endpoints.iter().enumerate() {
        let p = format!("endpoints[{i}]");
        if e.addresses.is_empty() || e.addresses.len() > MAX_ADDRESSES {
            errs.push(FieldError::required(
                format!("{p}.addresses"),
                format!("must contain at least 1 and at most {MAX_ADDRESSES} addresses"),
            ));
        }
        for (j, a) in e.addresses.iter().enumerate() {
            let valid = match ty {
                "IPv4" => a.parse::<Ipv4Addr>().is_ok(),
                "IPv6" => a.parse::<Ipv6Addr>().is_ok(),
                "FQDN" => dns1123_subdomain(a).is_empty(),
                _ => true,
            };
            if !valid {
                errs.push(invalid_str(
                    format!("{p}.addresses[{j}]"),
                    a,
                    format!("must be a valid {ty} address"),
                ));
            }
        }
        if let Some(h) = e.hostname.as_deref() {
            for msg in dns1123_label(h) {
                errs.push(invalid_str(format!("{p}.hostname"), h, msg));
            }
        }
        if let Some(n) = e.node_name.as_deref() {
            for msg in dns1123_subdomain(n) {
                errs.push(invalid_str(format!("{p}.nodeName"), n, msg));
            }
        }
    }
    let ports = slice.ports.as_deref().unwrap_or(&[]);
    if ports.len() > MAX_PORTS {
        errs.push(FieldError::new(
            crate::error::FieldErrorKind::TooLong,
            "ports",
            None,
            format!("must have at most {MAX_PORTS} items"),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = format!("ports[{i}]");
        let name = port.name.as_deref().unwrap_or("");
        if !name.is_empty() {
            for msg in dns1123_label(name) {
                errs.push(invalid_str(format!("{p}.name"), name, msg));
            }
        }
        if !names.insert(name) {
            errs.push(duplicate(format!("{p}.name"), quote(name)));
        }
        if let Some(n) = port.port {
            check_port_number(&format!("{p}.port"), n.into(), errs);
        }
        validate_protocol(port.protocol.as_deref(), &format!("{p}.protocol"), errs);
    }
}

/// Checks an update against the stored slice: the address type is fixed.
pub(super) fn validate_update(obj: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    let (Some(new), Some(old)) = (
        typed_quiet::<EndpointSlice>(obj),
        typed_quiet::<EndpointSlice>(old),
    ) else {
        return;
    };
    if new.address_type != old.address_type {
        errs.push(immutable("addressType", quote(&new.address_type)));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn slice(address_type: &str, endpoints: Value, ports: Value) -> Value {
        json!({"metadata": {"name": "web-abc12"}, "addressType": address_type,
               "endpoints": endpoints, "ports": ports})
    }

    #[test]
    fn slices() {
        let mut errs = Vec::new();
        validate(
            &slice(
                "IPv4",
                json!([{"addresses": ["127.0.0.3"], "conditions": {"ready": true},
                                   "nodeName": "edge-2"}]),
                json!([{"name": "http", "port": 31000, "protocol": "TCP"}]),
            ),
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
        validate(
            &slice(
                "IPv4",
                json!([{"addresses": ["::1"]}, {"addresses": []}]),
                json!([{"name": "", "port": 70000}, {"port": 80}]),
            ),
            &mut errs,
        );
        let m: Vec<String> = errs.iter().map(FieldError::message).collect();
        assert_eq!(
            m,
            [
                "endpoints[0].addresses[0]: Invalid value: \"::1\": must be a valid IPv4 address",
                "endpoints[1].addresses: Required value: must contain at least 1 and at most 100 addresses",
                "ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "ports[1].name: Duplicate value: \"\": must be unique"
            ]
        );
        let mut errs = Vec::new();
        validate_update(
            &slice("IPv6", json!([]), json!([])),
            &slice("IPv4", json!([]), json!([])),
            &mut errs,
        );
        assert_eq!(
            errs[0].message(),
            "addressType: Invalid value: \"IPv6\": field is immutable"
        );
    }
}
