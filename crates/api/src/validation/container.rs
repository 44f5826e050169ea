//! One container of a pod spec: name, image, ports, environment, resources, probes and mounts
//! (`validateContainers`, `validateInitContainers`).

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar};

use super::errors::{check_port_number, duplicate, forbidden, invalid_str, not_supported, quote};
use super::name::{dns1123_label, port_name};
use super::probe::{ProbeKind, validate_lifecycle, validate_probe};
use super::resources;
use crate::error::FieldError;

/// Whether the containers checked are `containers` or `initContainers`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// A regular container.
    App,
    /// An init container (a sidecar when its `restartPolicy` is `Always`).
    Init,
}

/// What the containers of one pod share while they are checked.
pub(super) struct PodContext<'a> {
    /// Names of the pod's volumes, for `volumeMounts`.
    pub(super) volumes: &'a HashSet<String>,
    /// Container names seen so far: they must be unique across all containers of the pod.
    pub(super) names: HashSet<String>,
}

/// Validates one container at `path` (`spec.containers[0]`).
pub(super) fn validate(
    c: &Container,
    role: Role,
    path: &str,
    ctx: &mut PodContext<'_>,
    errs: &mut Vec<FieldError>,
) {
    validate_name(&c.name, path, ctx, errs);
    match c.image.as_deref() {
        None | Some("") => errs.push(FieldError::required(
            format!("{path}.image"),
            "the container image to run, such as nginx:1.27",
        )),
        Some(image) if image.trim() != image => errs.push(invalid_str(
            format!("{path}.image"),
            image,
            "must not have leading or trailing whitespace",
        )),
        Some(_) => {}
    }
    one_of(
        c.image_pull_policy.as_deref(),
        &format!("{path}.imagePullPolicy"),
        &["Always", "IfNotPresent", "Never"],
        errs,
    );
    one_of(
        c.termination_message_policy.as_deref(),
        &format!("{path}.terminationMessagePolicy"),
        &["FallbackToLogsOnError", "File"],
        errs,
    );
    validate_ports(c.ports.as_deref().unwrap_or(&[]), path, errs);
    for (i, env) in c.env.iter().flatten().enumerate() {
        validate_env(env, &format!("{path}.env[{i}]"), errs);
    }
    if let Some(res) = &c.resources {
        resources::validate(res, &format!("{path}.resources"), errs);
    }
    validate_probes(c, role, path, errs);
    if let Some(lifecycle) = &c.lifecycle {
        validate_lifecycle(lifecycle, &format!("{path}.lifecycle"), errs);
    }
    validate_mounts(c, path, ctx, errs);
}

fn validate_name(name: &str, path: &str, ctx: &mut PodContext<'_>, errs: &mut Vec<FieldError>) {
    let field = format!("{path}.name");
    if name.is_empty() {
        errs.push(FieldError::required(
            field,
            "a DNS label that names the container in the pod",
        ));
        return;
    }
    for msg in dns1123_label(name) {
        errs.push(invalid_str(&field, name, msg));
    }
    if !ctx.names.insert(name.to_string()) {
        errs.push(duplicate(field, quote(name)));
    }
}

fn validate_probes(c: &Container, role: Role, path: &str, errs: &mut Vec<FieldError>) {
    let sidecar = c.restart_policy.as_deref() == Some("Always");
    if role == Role::Init
        && let Some(policy) = c.restart_policy.as_deref().filter(|p| *p != "Always")
    {
        errs.push(not_supported(
            format!("{path}.restartPolicy"),
            policy,
            &["Always"],
        ));
    }
    let probes = [
        ("livenessProbe", ProbeKind::Liveness, &c.liveness_probe),
        ("readinessProbe", ProbeKind::Readiness, &c.readiness_probe),
        ("startupProbe", ProbeKind::Startup, &c.startup_probe),
    ];
    for (field, kind, probe) in probes {
        let Some(probe) = probe else { continue };
        let p = format!("{path}.{field}");
        if role == Role::Init && !sidecar {
            errs.push(forbidden(
                p,
                "may not be set for init containers without restartPolicy=Always",
            ));
            continue;
        }
        validate_probe(probe, kind, &p, errs);
    }
}

/// Ports: numbers in range, supported protocols, and names that are IANA service names, unique
/// within the container.
fn validate_ports(ports: &[ContainerPort], path: &str, errs: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = format!("{path}.ports[{i}]");
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            for msg in port_name(name) {
                errs.push(invalid_str(format!("{p}.name"), name, msg));
            }
            if !names.insert(name) {
                errs.push(duplicate(format!("{p}.name"), quote(name)));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(
                format!("{p}.containerPort"),
                "the port the container listens on, 1 to 65535",
            ));
        } else {
            check_port_number(
                &format!("{p}.containerPort"),
                port.container_port.into(),
                errs,
            );
        }
        if let Some(host) = port.host_port.filter(|h| *h != 0) {
            check_port_number(&format!("{p}.hostPort"), host.into(), errs);
        }
        validate_protocol(port.protocol.as_deref(), &format!("{p}.protocol"), errs);
    }
}

/// `TCP`, `UDP` or `SCTP` when given (defaulting supplies `TCP`).
pub(super) fn validate_protocol(protocol: Option<&str>, field: &str, errs: &mut Vec<FieldError>) {
    one_of(protocol, field, &["SCTP", "TCP", "UDP"], errs);
}

/// A value from a fixed set, when given.
pub(super) fn one_of(
    value: Option<&str>,
    field: &str,
    supported: &[&str],
    errs: &mut Vec<FieldError>,
) {
    if let Some(v) = value
        && !supported.contains(&v)
    {
        errs.push(not_supported(field, v, supported));
    }
}

/// Field paths a `fieldRef` may read (the downward API).
const FIELD_REF_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

fn validate_env(env: &EnvVar, path: &str, errs: &mut Vec<FieldError>) {
    let field = format!("{path}.name");
    if env.name.is_empty() {
        errs.push(FieldError::required(field, "the variable's name"));
    } else if !env
        .name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
    {
        // Kubernetes' relaxed rule (RelaxedEnvironmentVariableValidation, GA in 1.34).
        errs.push(invalid_str(
            field,
            &env.name,
            "a valid environment variable name must consist only of printable ASCII characters \
             other than '='",
        ));
    }
    let Some(from) = &env.value_from else {
        return;
    };
    let from_path = format!("{path}.valueFrom");
    if env.value.as_deref().is_some_and(|v| !v.is_empty()) {
        errs.push(invalid_str(
            &from_path,
            "",
            "may not be specified when `value` is not empty",
        ));
    }
    let sources = [
        from.field_ref.is_some(),
        from.resource_field_ref.is_some(),
        from.config_map_key_ref.is_some(),
        from.secret_key_ref.is_some(),
        from.file_key_ref.is_some(),
    ];
    match sources.iter().filter(|s| **s).count() {
        0 => errs.push(invalid_str(
            &from_path,
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, \
             `secretKeyRef` or `fileKeyRef`",
        )),
        1 => {}
        _ => errs.push(invalid_str(
            &from_path,
            "",
            "may not have more than one field specified at a time",
        )),
    }
    if let Some(r) = &from.field_ref {
        // `metadata.labels['key']` and `metadata.annotations['key']` read one entry.
        let base = r.field_path.split('[').next().unwrap_or("");
        if !FIELD_REF_PATHS.contains(&base) {
            errs.push(not_supported(
                format!("{from_path}.fieldRef.fieldPath"),
                &r.field_path,
                FIELD_REF_PATHS,
            ));
        }
    }
    for (field, key, name) in [
        (
            "configMapKeyRef",
            from.config_map_key_ref.as_ref().map(|r| &r.key),
            from.config_map_key_ref.as_ref().map(|r| &r.name),
        ),
        (
            "secretKeyRef",
            from.secret_key_ref.as_ref().map(|r| &r.key),
            from.secret_key_ref.as_ref().map(|r| &r.name),
        ),
    ] {
        if key.is_some_and(String::is_empty) {
            errs.push(FieldError::required(
                format!("{from_path}.{field}.key"),
                "the key to read",
            ));
        }
        if name.is_some_and(String::is_empty) {
            errs.push(FieldError::required(
                format!("{from_path}.{field}.name"),
                "the object to read",
            ));
        }
    }
}

fn validate_mounts(c: &Container, path: &str, ctx: &PodContext<'_>, errs: &mut Vec<FieldError>) {
    let mut paths = HashSet::new();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let p = format!("{path}.volumeMounts[{i}]");
        if m.name.is_empty() {
            errs.push(FieldError::required(
                format!("{p}.name"),
                "the name of a volume in spec.volumes",
            ));
        } else if !ctx.volumes.contains(&m.name) {
            errs.push(invalid_str(
                format!("{p}.name"),
                &m.name,
                "not found: must be the name of a volume in the pod's volumes",
            ));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(
                format!("{p}.mountPath"),
                "the path in the container to mount at",
            ));
        } else if !paths.insert(m.mount_path.as_str()) {
            errs.push(invalid_str(
                format!("{p}.mountPath"),
                &m.mount_path,
                "must be unique",
            ));
        }
    }
}
