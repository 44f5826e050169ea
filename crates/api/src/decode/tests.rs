use serde_json::json;

use super::*;
use crate::resource::by_kind;

fn deployment() -> &'static ResourceInfo {
    by_kind("apps/v1", "Deployment").unwrap()
}

fn kind(api_version: &str, kind: &str) -> &'static ResourceInfo {
    by_kind(api_version, kind).unwrap()
}

const YAML: Option<&str> = Some("application/yaml");
const JSON: Option<&str> = Some("application/json");

/// An nginx Deployment as kubectl users write it (the Kubernetes docs' example plus the usual
/// extras), in YAML.
const NGINX_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  namespace: default
  labels:
    app: nginx
    app.kubernetes.io/name: nginx
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"apps/v1","kind":"Deployment"}
  creationTimestamp: null
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        imagePullPolicy: IfNotPresent
        ports:
        - containerPort: 80
          name: http
          protocol: TCP
        env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
          limits:
            cpu: 1
            memory: 128Mi
        readinessProbe:
          httpGet:
            path: /
            port: http
          periodSeconds: 5
        volumeMounts:
        - name: config
          mountPath: /etc/nginx/conf.d
      volumes:
      - name: config
        configMap:
          name: nginx-config
          defaultMode: 0644
      - name: cache
        emptyDir: {}
      nodeSelector: {}
      tolerations: []
      securityContext: {}
status: {}
"#;

#[test]
fn realistic_deployment_passes_strict_unchanged() {
    let decoded = decode(
        NGINX_DEPLOYMENT.as_bytes(),
        YAML,
        deployment(),
        FieldValidation::Strict,
    )
    .unwrap();
    assert!(decoded.warnings.is_empty(), "{:?}", decoded.warnings);
    let o = &decoded.object;
    // The user's spelling is kept, not the typed struct's.
    assert_eq!(
        o["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        json!(1)
    );
    assert_eq!(o["metadata"]["creationTimestamp"], Value::Null);
    assert_eq!(o["status"], json!({}));
    assert_eq!(o["spec"]["template"]["spec"]["nodeSelector"], json!({}));
    // YAML 1.1 octal, as Kubernetes reads it.
    assert_eq!(
        o["spec"]["template"]["spec"]["volumes"][0]["configMap"]["defaultMode"],
        json!(420)
    );
    assert_eq!(
        o["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
        json!("25%")
    );
    let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec", "status"]);
}

#[test]
fn realistic_service_and_pod_pass_strict() {
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
                {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}
            ],
            "sessionAffinity": "None",
            "trafficDistribution": "PreferClose"
        },
        "status": {"loadBalancer": {}}
    });
    let body = serde_json::to_vec(&service).unwrap();
    let d = decode(&body, JSON, kind("v1", "Service"), FieldValidation::Strict).unwrap();
    assert!(d.warnings.is_empty());
    assert_eq!(d.object, service);

    let pod = r#"{
      "apiVersion": "v1", "kind": "Pod",
      "metadata": {"name": "probe", "generateName": "probe-", "ownerReferences": []},
      "spec": {
        "restartPolicy": "OnFailure",
        "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}],
        "containers": [{
          "name": "app", "image": "registry.local:5000/app@sha256:abc",
          "args": ["--port=8080"],
          "ports": [{"containerPort": 8080, "name": "http"}],
          "resources": {"requests": {"cpu": "250m", "memory": 134217728}, "limits": {"memory": "1Gi"}},
          "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP",
                            "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                            "initialDelaySeconds": 3, "timeoutSeconds": 1, "failureThreshold": 3},
          "readinessProbe": {"tcpSocket": {"port": "http"}},
          "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}},
          "securityContext": {"runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}}
        }],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
          "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}
      }
    }"#;
    let d = decode(
        pod.as_bytes(),
        None,
        kind("v1", "Pod"),
        FieldValidation::Strict,
    )
    .unwrap();
    assert!(d.warnings.is_empty());
    assert_eq!(d.object, serde_json::from_str::<Value>(pod).unwrap());
}

#[test]
fn unknown_fields_follow_the_mode() {
    let body = br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
        "spec":{"replica":2,"selector":{"matchLabels":{"app":"web"}},
          "template":{"metadata":{"labels":{"app":"web"}},
            "spec":{"containers":[{"name":"web","image":"nginx","imagee":"typo"}]}}},
        "extra":{"nested":1}}"#;
    let err = decode(body, JSON, deployment(), FieldValidation::Strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: \
         unknown field \"spec.replica\", unknown field \
         \"spec.template.spec.containers[0].imagee\", unknown field \"extra\""
    );
    assert_eq!(err.status_code(), 400);

    let warned = decode(body, JSON, deployment(), FieldValidation::Warn).unwrap();
    assert_eq!(
        warned.warnings,
        [
            "unknown field \"spec.replica\"",
            "unknown field \"spec.template.spec.containers[0].imagee\"",
            "unknown field \"extra\""
        ]
    );
    let ignored = decode(body, JSON, deployment(), FieldValidation::Ignore).unwrap();
    assert!(ignored.warnings.is_empty());
    // Pruned in every mode, and nothing else touched.
    for o in [&warned.object, &ignored.object] {
        assert!(o.get("extra").is_none());
        assert!(o["spec"].get("replica").is_none());
        assert_eq!(
            o["spec"]["template"]["spec"]["containers"][0],
            json!({"name": "web", "image": "nginx"})
        );
    }
}

#[test]
fn check_fields_reports_unknown_fields_of_a_parsed_object() {
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                     "data": {"a": "1"}, "dta": {"b": "2"}});
    let info = kind("v1", "ConfigMap");
    let err = check_fields(info, obj.clone(), FieldValidation::Strict).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("strict decoding error: unknown field \"dta\""),
        "{err}"
    );
    let ok = check_fields(info, obj, FieldValidation::Warn).unwrap();
    assert_eq!(ok.warnings, ["unknown field \"dta\""]);
    assert_eq!(ok.object["data"], json!({"a": "1"}));
}

#[test]
fn wrong_types_are_rejected_in_every_mode_with_their_path() {
    let body = br#"{"metadata":{"name":"web"},"spec":{"replicas":"three"}}"#;
    for mode in [
        FieldValidation::Strict,
        FieldValidation::Warn,
        FieldValidation::Ignore,
    ] {
        let err = decode(body, None, deployment(), mode).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "Deployment in version \"v1\" cannot be handled as a Deployment: spec.replicas: "
            ),
            "{msg}"
        );
        assert!(msg.contains("invalid type: string \"three\""), "{msg}");
    }
}

#[test]
fn duplicate_fields_follow_the_mode_in_json_and_yaml() {
    let json_body = br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
        "spec":{"replicas":1,"replicas":2,"selector":{}}}"#;
    let yaml_body = b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  replicas: 2\n  selector: {}\n";
    for (body, ct) in [(&json_body[..], JSON), (&yaml_body[..], YAML)] {
        let err = decode(body, ct, deployment(), FieldValidation::Strict).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("strict decoding error: duplicate field \"spec.replicas\""),
            "{err}"
        );
        let warned = decode(body, ct, deployment(), FieldValidation::Warn).unwrap();
        assert_eq!(warned.warnings, ["duplicate field \"spec.replicas\""]);
        // The last value wins, as in Kubernetes.
        assert_eq!(warned.object["spec"]["replicas"], 2);
        let ignored = decode(body, ct, deployment(), FieldValidation::Ignore).unwrap();
        assert!(ignored.warnings.is_empty());
        assert_eq!(ignored.object["spec"]["replicas"], 2);
    }
}

#[test]
fn duplicates_inside_lists_name_the_element() {
    let body = br#"{"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","name":"c","image":"y"}]}}"#;
    let d = decode(body, None, kind("v1", "Pod"), FieldValidation::Warn).unwrap();
    assert_eq!(d.warnings, ["duplicate field \"spec.containers[1].name\""]);
}

#[test]
fn parse_body_keeps_the_last_duplicate_silently() {
    let v = parse_body(br#"{"a":1,"a":2}"#, None).unwrap();
    assert_eq!(v, json!({"a": 2}));
}

#[test]
fn malformed_json_reports_line_and_column() {
    let body = b"{\n  \"metadata\": {\n    \"name\": \"web\"\n    \"labels\": {}\n  }\n}";
    let err = parse_body(body, JSON).unwrap_err();
    assert_eq!(
        err.to_string(),
        "error decoding JSON at line 4, column 5: expected `,` or `}`"
    );
    let err = parse_body(b"{\"a\": 1} trailing", None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("error decoding JSON at line 1, column 10: "),
        "{err}"
    );
}

#[test]
fn malformed_yaml_reports_line_and_column() {
    let body = b"metadata:\n  name: web\n   labels: [a\n";
    let err = parse_body(body, YAML).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("error decoding YAML at line "), "{msg}");
    let DecodeError::Syntax { line, column, .. } = err else {
        panic!("{err:?}");
    };
    assert!(line >= 3 && column >= 1, "{msg}");

    let err = parse_body(b"a: b\n\tc: [\n", YAML).unwrap_err();
    assert!(
        matches!(err, DecodeError::Syntax { line: 1.., .. }),
        "{err}"
    );
}

#[test]
fn bodies_must_be_single_objects() {
    assert_eq!(parse_body(b"  ", None).unwrap_err(), DecodeError::EmptyBody);
    assert_eq!(
        parse_body(b"[1]", None).unwrap_err().to_string(),
        "the request body must be a JSON or YAML object, not array"
    );
    assert!(matches!(
        parse_body(b"- a\n", YAML).unwrap_err(),
        DecodeError::NotAnObject { found: "array" }
    ));
    assert!(parse_body(b"a: 1\n---\nb: 2\n", YAML).is_err());
    assert_eq!(parse_body(b"---\na: 1\n", YAML).unwrap(), json!({"a": 1}));
}

#[test]
fn content_types_choose_the_parser() {
    let yaml = b"a: 1\n";
    assert!(parse_body(yaml, Some("application/yaml; charset=utf-8")).is_ok());
    assert!(parse_body(yaml, Some("application/apply-patch+yaml")).is_ok());
    assert!(parse_body(yaml, JSON).is_err());
    assert!(parse_body(b"{}", Some("application/merge-patch+json")).is_ok());
    let err = parse_body(b"{}", Some("application/cbor")).unwrap_err();
    assert_eq!(err.status_code(), 415);
    assert!(err.to_string().contains("application/json"), "{err}");
    // Protobuf is read (see protobuf::tests); JSON sent under its name is not.
    let err = parse_body(b"{}", Some("application/vnd.kubernetes.protobuf")).unwrap_err();
    assert!(matches!(err, DecodeError::Protobuf { .. }), "{err}");
}

#[test]
fn yaml_keys_that_are_not_strings_become_strings() {
    let v = parse_body(b"data:\n  1: one\n  true: yes\n", YAML).unwrap();
    assert_eq!(v, json!({"data": {"1": "one", "true": true}}));
}

#[test]
fn api_version_and_kind_are_checked_and_filled_in() {
    let info = deployment();
    let d = decode(
        br#"{"metadata":{"name":"web"}}"#,
        None,
        info,
        FieldValidation::Strict,
    )
    .unwrap();
    let keys: Vec<&String> = d.object.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata"]);
    assert_eq!(d.object["apiVersion"], "apps/v1");
    assert_eq!(d.object["kind"], "Deployment");

    let err = decode(
        br#"{"apiVersion":"v1","kind":"Deployment"}"#,
        None,
        info,
        FieldValidation::Warn,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the API version in the data (v1) does not match the expected API version (apps/v1)"
    );
    let err = decode(
        br#"{"apiVersion":"apps/v1","kind":"ReplicaSet"}"#,
        None,
        info,
        FieldValidation::Warn,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the kind in the data (ReplicaSet) does not match the expected kind (Deployment)"
    );
    let err = decode(br#"{"kind":7}"#, None, info, FieldValidation::Warn).unwrap_err();
    assert!(
        err.to_string().contains("kind: invalid type: number"),
        "{err}"
    );
}

#[test]
fn field_validation_parses_the_three_modes() {
    assert_eq!(
        FieldValidation::parse("Strict").unwrap(),
        FieldValidation::Strict
    );
    assert_eq!(
        FieldValidation::parse("Warn").unwrap(),
        FieldValidation::Warn
    );
    assert_eq!(
        FieldValidation::parse("Ignore").unwrap(),
        FieldValidation::Ignore
    );
    assert_eq!(FieldValidation::parse("").unwrap(), FieldValidation::Warn);
    assert_eq!(FieldValidation::default(), FieldValidation::Warn);
    let err = FieldValidation::parse("strict").unwrap_err();
    assert_eq!(
        err.to_string(),
        "fieldValidation: Unsupported value: \"strict\": supported values: \"Ignore\", \"Strict\", \"Warn\""
    );
}

#[test]
fn empty_and_null_values_are_never_unknown() {
    // Every kind, with the empty and null spellings kubectl and client libraries send.
    for info in crate::resource::KINDS {
        let mut obj = json!({
            "apiVersion": info.api_version(), "kind": info.kind,
            "metadata": {"name": "x", "creationTimestamp": null, "labels": {}, "annotations": null,
                         "finalizers": [], "managedFields": []}
        });
        if info.has_subresource("status") {
            obj["status"] = json!({});
        }
        let d = check_fields(info, obj.clone(), FieldValidation::Strict);
        let d = d.unwrap_or_else(|e| panic!("{}: {e}", info.kind));
        assert_eq!(d.object, obj, "{}", info.kind);
    }
}

#[test]
fn unknown_keys_under_an_unknown_key_are_reported_once() {
    let obj = json!({"metadata": {"name": "x"}, "spec": {"bogus": {"deeper": {"x": 1}}}});
    let d = check_fields(kind("v1", "Namespace"), obj, FieldValidation::Warn).unwrap();
    assert_eq!(d.warnings, ["unknown field \"spec.bogus\""]);
}

#[test]
fn objects_as_the_server_returns_them_pass_strict() {
    // What `kubectl get -o json` prints and `kubectl replace` sends back.
    let returned = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "default", "uid": "6a2c1f0e-1111-2222-3333-444455556666",
            "resourceVersion": "1234", "generation": 2,
            "creationTimestamp": "2025-06-01T10:00:00Z",
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                "apiVersion": "apps/v1", "time": "2025-06-01T10:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"k:{\"name\":\"web\"}": {".": {}}}}}}}]
        },
        "spec": {
            "replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx", "resources": {},
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "imagePullPolicy": "Always"}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                    "securityContext": {}, "schedulerName": "default-scheduler"}
            }
        },
        "status": {
            "observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
            "availableReplicas": 2,
            "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2025-06-01T10:00:05Z",
                            "lastTransitionTime": "2025-06-01T10:00:05Z", "reason": "MinimumReplicasAvailable",
                            "message": "Deployment has minimum availability."}]
        }
    });
    let d = check_fields(deployment(), returned.clone(), FieldValidation::Strict).unwrap();
    assert_eq!(d.object, returned);

    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default"},
        "spec": {"containers": [{"name": "web", "image": "nginx"}], "nodeName": "edge-1"},
        "status": {"phase": "Running", "podIP": "127.0.0.2", "podIPs": [{"ip": "127.0.0.2"}],
            "hostIP": "127.0.0.2", "startTime": "2025-06-01T10:00:00Z", "qosClass": "BestEffort",
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null,
                            "lastTransitionTime": "2025-06-01T10:00:03Z"}],
            "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0, "image": "nginx",
                "imageID": "docker://sha256:abc", "containerID": "docker://abc", "started": true,
                "state": {"running": {"startedAt": "2025-06-01T10:00:02Z"}}, "lastState": {}}]}
    });
    let d = check_fields(kind("v1", "Pod"), pod.clone(), FieldValidation::Strict).unwrap();
    assert_eq!(d.object, pod);
}
