//! Probes and lifecycle hooks: exactly one handler, valid ports, schemes and headers, and
//! non-negative timings (`validateProbe`, `validateHandler`, `validateLifecycle`).

use k8s_openapi::api::core::v1::{HTTPGetAction, Lifecycle, LifecycleHandler, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::errors::{
    check_port_number, forbidden, invalid_str, non_negative, not_supported, regex_error,
};
use super::name::port_name;
use crate::error::FieldError;

/// Which probe is checked: the rules differ slightly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProbeKind {
    /// `livenessProbe`.
    Liveness,
    /// `readinessProbe`.
    Readiness,
    /// `startupProbe`.
    Startup,
}

/// Validates a probe at `path` (`spec.containers[0].livenessProbe`).
pub(super) fn validate_probe(
    probe: &Probe,
    kind: ProbeKind,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let handlers = [
        ("exec", probe.exec.is_some()),
        ("httpGet", probe.http_get.is_some()),
        ("tcpSocket", probe.tcp_socket.is_some()),
        ("grpc", probe.grpc.is_some()),
    ];
    one_handler(&handlers, path, errs);
    if let Some(exec) = &probe.exec
        && exec.command.as_ref().is_none_or(Vec::is_empty)
    {
        errs.push(FieldError::required(
            format!("{path}.exec.command"),
            "the command to run",
        ));
    }
    if let Some(http) = &probe.http_get {
        validate_http_get(http, &format!("{path}.httpGet"), errs);
    }
    if let Some(tcp) = &probe.tcp_socket {
        validate_port(&tcp.port, &format!("{path}.tcpSocket.port"), errs);
    }
    if let Some(grpc) = &probe.grpc {
        check_port_number(&format!("{path}.grpc.port"), grpc.port.into(), errs);
    }
    for (field, value) in [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        non_negative(&format!("{path}.{field}"), value.map(i64::from), errs);
    }
    if kind != ProbeKind::Readiness
        && let Some(v) = probe.success_threshold.filter(|v| *v != 1)
    {
        errs.push(FieldError::invalid(
            format!("{path}.successThreshold"),
            v,
            "must be 1",
        ));
    }
    if let Some(v) = probe.termination_grace_period_seconds {
        if kind == ProbeKind::Readiness {
            errs.push(FieldError::invalid(
                format!("{path}.terminationGracePeriodSeconds"),
                v,
                "must not be set for readinessProbes",
            ));
        } else if v <= 0 {
            errs.push(FieldError::invalid(
                format!("{path}.terminationGracePeriodSeconds"),
                v,
                "must be greater than 0",
            ));
        }
    }
}

/// Validates `postStart` and `preStop` at `path` (`spec.containers[0].lifecycle`).
pub(super) fn validate_lifecycle(lifecycle: &Lifecycle, path: &str, errs: &mut Vec<FieldError>) {
    for (name, handler) in [
        ("postStart", &lifecycle.post_start),
        ("preStop", &lifecycle.pre_stop),
    ] {
        if let Some(h) = handler {
            validate_hook(h, &format!("{path}.{name}"), errs);
        }
    }
}

fn validate_hook(h: &LifecycleHandler, path: &str, errs: &mut Vec<FieldError>) {
    let handlers = [
        ("exec", h.exec.is_some()),
        ("httpGet", h.http_get.is_some()),
        ("tcpSocket", h.tcp_socket.is_some()),
        ("sleep", h.sleep.is_some()),
    ];
    one_handler(&handlers, path, errs);
    if let Some(http) = &h.http_get {
        validate_http_get(http, &format!("{path}.httpGet"), errs);
    }
    if let Some(tcp) = &h.tcp_socket {
        validate_port(&tcp.port, &format!("{path}.tcpSocket.port"), errs);
    }
    if let Some(sleep) = &h.sleep {
        non_negative(&format!("{path}.sleep.seconds"), Some(sleep.seconds), errs);
    }
}

/// Exactly one handler: none is `Required`, a second is `Forbidden` at its own path.
fn one_handler(handlers: &[(&str, bool)], path: &str, errs: &mut Vec<FieldError>) {
    let set: Vec<&str> = handlers
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    if set.is_empty() {
        let names: Vec<&str> = handlers.iter().map(|(n, _)| *n).collect();
        errs.push(FieldError::required(
            path,
            format!("must specify a handler type: one of {}", names.join(", ")),
        ));
    }
    for extra in set.iter().skip(1) {
        errs.push(forbidden(
            format!("{path}.{extra}"),
            "may not specify more than 1 handler type",
        ));
    }
}

fn validate_http_get(http: &HTTPGetAction, path: &str, errs: &mut Vec<FieldError>) {
    validate_port(&http.port, &format!("{path}.port"), errs);
    if let Some(scheme) = &http.scheme
        && scheme != "HTTP"
        && scheme != "HTTPS"
    {
        errs.push(not_supported(
            format!("{path}.scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for (i, header) in http.http_headers.iter().flatten().enumerate() {
        let valid = !header.name.is_empty()
            && header
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            errs.push(invalid_str(
                format!("{path}.httpHeaders[{i}].name"),
                &header.name,
                regex_error(
                    "a valid HTTP header must consist of alphanumeric characters or '-'",
                    "[-A-Za-z0-9]+",
                    &["X-Header-Name"],
                ),
            ));
        }
    }
}

/// A port given as a number (1..65535) or as the name of a container port.
pub(super) fn validate_port(port: &IntOrString, path: &str, errs: &mut Vec<FieldError>) {
    match port {
        IntOrString::Int(n) => check_port_number(path, (*n).into(), errs),
        IntOrString::String(s) => {
            for msg in port_name(s) {
                errs.push(invalid_str(path, s, msg));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(kind: ProbeKind, probe: serde_json::Value) -> Vec<String> {
        let probe: Probe = serde_json::from_value(probe).unwrap();
        let mut errs = Vec::new();
        validate_probe(&probe, kind, "spec.containers[0].livenessProbe", &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn valid_probes_pass() {
        assert!(
            messages(
                ProbeKind::Liveness,
                json!({"httpGet": {"path": "/", "port": "http",
            "httpHeaders": [{"name": "X-Probe", "value": "1"}]}, "periodSeconds": 5})
            )
            .is_empty()
        );
        assert!(
            messages(
                ProbeKind::Readiness,
                json!({"tcpSocket": {"port": 8080},
            "successThreshold": 2})
            )
            .is_empty()
        );
        assert!(messages(ProbeKind::Startup, json!({"exec": {"command": ["true"]}})).is_empty());
    }

    #[test]
    fn handlers_ports_and_timings_are_checked() {
        assert_eq!(
            messages(ProbeKind::Liveness, json!({"periodSeconds": -1})),
            [
                "spec.containers[0].livenessProbe: Required value: must specify a handler type: \
                 one of exec, httpGet, tcpSocket, grpc",
                "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be \
                 greater than or equal to 0"
            ]
        );
        assert_eq!(
            messages(
                ProbeKind::Liveness,
                json!({"exec": {"command": ["x"]},
                "tcpSocket": {"port": 0}, "successThreshold": 3})
            ),
            [
                "spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more \
                 than 1 handler type",
                "spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 0: must be \
                 between 1 and 65535, inclusive",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 3: must be 1"
            ]
        );
        let m = messages(
            ProbeKind::Readiness,
            json!({"httpGet": {"port": "HTTP_PORT",
            "scheme": "FTP", "httpHeaders": [{"name": "X Bad", "value": ""}]}}),
        );
        assert_eq!(m.len(), 4, "{m:#?}");
        assert!(m[2].starts_with(
            "spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: \"FTP\": \
             supported values: \"HTTP\", \"HTTPS\""
        ));
        assert!(
            m[3].contains("a valid HTTP header must consist of"),
            "{}",
            m[3]
        );
    }
}
