use serde_json::json;

use super::*;

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

fn messages(spec: Value) -> Vec<String> {
    let mut errs = Vec::new();
    validate(&pod(spec), &mut errs);
    errs.iter().map(FieldError::message).collect()
}

fn fields(spec: Value) -> Vec<String> {
    let mut errs = Vec::new();
    validate(&pod(spec), &mut errs);
    errs.into_iter().map(|e| e.field).collect()
}

/// A pod with probes, resources, env, volumes and a sidecar, as users write them.
fn realistic() -> Value {
    json!({
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
        "nodeSelector": {"kubernetes.io/arch": "arm64"},
        "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                         "effect": "NoExecute", "tolerationSeconds": 30},
                        {"key": "dedicated", "operator": "Equal", "value": "edge", "effect": "NoSchedule"}],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "web"}}],
        "initContainers": [
            {"name": "migrate", "image": "app:1.2", "command": ["/migrate"]},
            {"name": "proxy", "image": "envoy:1.30", "restartPolicy": "Always",
             "readinessProbe": {"tcpSocket": {"port": 9901}}}
        ],
        "containers": [{
            "name": "app", "image": "registry.local:5000/app:1.2", "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9090}],
            "env": [{"name": "MODE", "value": "prod"},
                    {"name": "my.setting-1", "value": "x"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "ZONE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['zone']"}}},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                          "limits": {"cpu": "1", "memory": "512Mi"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                              "initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 3},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}},
            "startupProbe": {"exec": {"command": ["cat", "/tmp/started"]}, "failureThreshold": 30},
            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"},
                             {"name": "conf", "mountPath": "/etc/app", "readOnly": true}]
        }]
    })
}

#[test]
fn realistic_pod_is_valid() {
    assert!(
        messages(realistic()).is_empty(),
        "{:#?}",
        messages(realistic())
    );
}

#[test]
fn containers_are_required() {
    assert_eq!(
        messages(json!({"containers": []})),
        ["spec.containers: Required value: a pod needs at least one container"]
    );
    assert_eq!(
        messages(json!({})),
        ["spec.containers: Required value: a pod needs at least one container"]
    );
}

#[test]
fn container_names_images_and_duplicates() {
    assert_eq!(
        messages(json!({"containers": [
            {"name": "web", "image": "nginx"},
            {"name": "web", "image": " nginx"},
            {"name": "Side_Car"},
            {"image": "x"}
        ], "initContainers": [{"name": "web", "image": "busybox"}]})),
        [
            "spec.containers[1].name: Duplicate value: \"web\": must be unique",
            "spec.containers[1].image: Invalid value: \" nginx\": must not have leading or trailing whitespace",
            "spec.containers[2].name: Invalid value: \"Side_Car\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "spec.containers[2].image: Required value: the container image to run, such as nginx:1.27",
            "spec.containers[3].name: Required value: a DNS label that names the container in the pod",
            "spec.initContainers[0].name: Duplicate value: \"web\": must be unique"
        ]
    );
}

#[test]
fn ports_are_checked() {
    assert_eq!(
        messages(
            json!({"containers": [{"name": "web", "image": "nginx", "ports": [
                {"containerPort": 70000, "protocol": "HTTP", "name": "http"},
                {"containerPort": 0, "hostPort": -1, "name": "http"},
                {"containerPort": 81, "name": "web_port"}
            ]}]})
        ),
        [
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            "spec.containers[0].ports[1].name: Duplicate value: \"http\": must be unique",
            "spec.containers[0].ports[1].containerPort: Required value: the port the container listens on, 1 to 65535",
            "spec.containers[0].ports[1].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[2].name: Invalid value: \"web_port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
        ]
    );
}

#[test]
fn env_and_resources_are_checked() {
    let m = messages(json!({"containers": [{"name": "web", "image": "nginx",
        "env": [{"name": ""}, {"name": "A=B"},
                {"name": "X", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}},
                {"name": "Y", "valueFrom": {}},
                {"name": "Z", "valueFrom": {"configMapKeyRef": {"name": "c", "key": ""},
                                            "secretKeyRef": {"name": "", "key": "k"}}}],
        "resources": {"requests": {"cpu": "abc"}, "limits": {"memory": "-1"}}}]}));
    let fields: Vec<&str> = m.iter().map(|s| s.split(": ").next().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "spec.containers[0].env[0].name",
            "spec.containers[0].env[1].name",
            "spec.containers[0].env[2].valueFrom",
            "spec.containers[0].env[2].valueFrom.fieldRef.fieldPath",
            "spec.containers[0].env[3].valueFrom",
            "spec.containers[0].env[4].valueFrom",
            "spec.containers[0].env[4].valueFrom.configMapKeyRef.key",
            "spec.containers[0].env[4].valueFrom.secretKeyRef.name",
            "spec.containers[0].resources.limits[memory]",
            "spec.containers[0].resources.requests[cpu]"
        ],
        "{m:#?}"
    );
    assert_eq!(
        m[9],
        "spec.containers[0].resources.requests[cpu]: Invalid value: \"abc\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
}

#[test]
fn pod_level_fields() {
    let mut spec = realistic();
    spec["restartPolicy"] = json!("Sometimes");
    spec["dnsPolicy"] = json!("None");
    spec["terminationGracePeriodSeconds"] = json!(-5);
    spec["activeDeadlineSeconds"] = json!(0);
    spec["nodeName"] = json!("Edge_1");
    spec["nodeSelector"] = json!({"zone": "a b"});
    assert_eq!(
        fields(spec),
        [
            "spec.restartPolicy",
            "spec.dnsConfig",
            "spec.terminationGracePeriodSeconds",
            "spec.activeDeadlineSeconds",
            "spec.nodeSelector",
            "spec.nodeName"
        ]
    );
    let mut spec = realistic();
    spec["restartPolicy"] = json!("Sometimes");
    assert_eq!(
        messages(spec),
        [
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        ]
    );
}

#[test]
fn volumes_and_mounts() {
    assert_eq!(
        fields(
            json!({"volumes": [{"name": "a", "emptyDir": {}, "hostPath": {"path": "/x"}},
                                  {"name": "a", "secret": {"secretName": "s"}},
                                  {"name": "b"}],
                      "containers": [{"name": "web", "image": "nginx", "volumeMounts": [
                          {"name": "missing", "mountPath": "/m"}, {"name": "a", "mountPath": "/m"}]}]})
        ),
        [
            "spec.volumes[0].hostPath",
            "spec.volumes[1].name",
            "spec.volumes[2]",
            "spec.containers[0].volumeMounts[0].name",
            "spec.containers[0].volumeMounts[1].mountPath"
        ]
    );
}

#[test]
fn tolerations() {
    assert_eq!(
        messages(
            json!({"containers": [{"name": "web", "image": "nginx"}], "tolerations": [
                {"operator": "Equal", "value": "x"},
                {"key": "k", "operator": "Exists", "value": "v"},
                {"key": "k", "operator": "Maybe"},
                {"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}
            ]})
        ),
        [
            "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
            "spec.tolerations[2].operator: Unsupported value: \"Maybe\": supported values: \"Equal\", \"Exists\"",
            "spec.tolerations[3].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"
        ]
    );
}

#[test]
fn init_container_probes_need_a_sidecar() {
    assert_eq!(
        messages(json!({"containers": [{"name": "web", "image": "nginx"}],
            "initContainers": [{"name": "init", "image": "busybox", "restartPolicy": "OnFailure",
                                "livenessProbe": {"exec": {"command": ["true"]}}}]})),
        [
            "spec.initContainers[0].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
            "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"
        ]
    );
}
