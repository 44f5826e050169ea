//! Pod and pod-template defaults (`SetDefaults_PodSpec`, `SetDefaults_Container`,
//! `SetDefaults_Probe`, `SetDefaults_HTTPGetAction`, volume sources, `SetDefaults_Pod`).

use serde_json::{Map, Value, json};

use super::{each, existing, object_at, set_default};

/// Defaults of a Pod: its spec, requests copied from limits, and the `Pending` phase.
pub(super) fn pod(obj: &mut Map<String, Value>) {
    if let Some(spec) = object_at(obj, "spec") {
        spec_defaults(spec);
        // Only Pods, not templates: a container with limits but no requests requests its limits
        // (Kubernetes' SetDefaults_Pod), so the scheduler accounts for it.
        for key in ["containers", "initContainers"] {
            for c in each(spec, key) {
                requests_from_limits(c);
            }
        }
    }
    if let Some(status) = object_at(obj, "status") {
        set_default(status, "phase", json!("Pending"));
    }
}

/// Defaults of a pod spec, in a Pod or in a workload's template.
pub(super) fn spec_defaults(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "enableServiceLinks", json!(true));
    let host_network = spec.get("hostNetwork") == Some(&Value::Bool(true));
    for key in ["containers", "initContainers"] {
        for c in each(spec, key) {
            container(c, host_network);
        }
    }
    for v in each(spec, "volumes") {
        volume(v);
    }
}

fn container(c: &mut Map<String, Value>, host_network: bool) {
    let policy = match c.get("image").and_then(Value::as_str) {
        Some(image) if !pulls_latest(image) => "IfNotPresent",
        _ => "Always",
    };
    set_default(c, "imagePullPolicy", json!(policy));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    for port in each(c, "ports") {
        set_default(port, "protocol", json!("TCP"));
        // With the host's network the container port is the host port.
        if host_network && let Some(n) = port.get("containerPort").cloned() {
            set_default(port, "hostPort", n);
        }
    }
    for env in each(c, "env") {
        if let Some(field_ref) = existing(env, "valueFrom").and_then(|f| existing(f, "fieldRef")) {
            set_default(field_ref, "apiVersion", json!("v1"));
        }
    }
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing(c, key) {
            probe(p);
        }
    }
    if let Some(lifecycle) = existing(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(get) = existing(lifecycle, hook).and_then(|h| existing(h, "httpGet")) {
                http_get(get);
            }
        }
    }
}

/// True when Kubernetes pulls the image every time: its tag is `latest` or it has neither tag
/// nor digest (`SetDefaults_Container`).
fn pulls_latest(image: &str) -> bool {
    let (name, digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => !digest,
    }
}

fn probe(p: &mut Map<String, Value>) {
    set_default(p, "timeoutSeconds", json!(1));
    set_default(p, "periodSeconds", json!(10));
    set_default(p, "successThreshold", json!(1));
    set_default(p, "failureThreshold", json!(3));
    if let Some(get) = existing(p, "httpGet") {
        http_get(get);
    }
}

fn http_get(get: &mut Map<String, Value>) {
    set_default(get, "path", json!("/"));
    set_default(get, "scheme", json!("HTTP"));
}

/// Files projected from Secrets, ConfigMaps and the downward API are mode 0644 (decimal 420).
fn volume(v: &mut Map<String, Value>) {
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(source) = existing(v, key) {
            set_default(source, "defaultMode", json!(420));
            for item in each(source, "items") {
                if let Some(field_ref) = existing(item, "fieldRef") {
                    set_default(field_ref, "apiVersion", json!("v1"));
                }
            }
        }
    }
    if let Some(host_path) = existing(v, "hostPath") {
        set_default(host_path, "type", json!(""));
    }
}

fn requests_from_limits(c: &mut Map<String, Value>) {
    let Some(resources) = existing(c, "resources") else {
        return;
    };
    let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    if limits.is_empty() {
        return;
    }
    if let Some(requests) = object_at(resources, "requests") {
        for (name, quantity) in limits {
            set_default(requests, &name, quantity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_pulled_every_time() {
        for (image, always) in [
            ("nginx", true),
            ("nginx:latest", true),
            ("nginx:1.27", false),
            ("registry.local:5000/nginx", true),
            ("registry.local:5000/nginx:1.27", false),
            ("nginx@sha256:abcd", false),
            ("nginx:latest@sha256:abcd", true),
        ] {
            assert_eq!(pulls_latest(image), always, "{image}");
        }
    }
}
