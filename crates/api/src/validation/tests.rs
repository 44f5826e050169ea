//! End-to-end checks of the public entry points over every kind.

use serde_json::json;

use super::*;
use crate::resource::by_kind;

fn info(api_version: &str, kind: &str) -> &'static ResourceInfo {
    by_kind(api_version, kind).unwrap()
}

fn messages(r: Result<(), Vec<FieldError>>) -> Vec<String> {
    r.err()
        .unwrap_or_default()
        .iter()
        .map(FieldError::message)
        .collect()
}

#[test]
fn realistic_objects_of_every_kind_are_valid() {
    let objects = [
        (
            "v1",
            "Namespace",
            json!({"metadata": {"name": "edge-paris"}}),
        ),
        (
            "v1",
            "Node",
            json!({"metadata": {"name": "edge-1.paris", "labels": {"topology.kubernetes.io/zone": "paris-1"},
            "annotations": {"fog.brume.io/coordinates": "{\"vector\":[1.5,2],\"height\":0.1,\"error\":0.2}"}},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi"}}}),
        ),
        (
            "v1",
            "Pod",
            json!({"metadata": {"name": "web-7d4b9-x2x5z", "namespace": "default",
            "generateName": "web-7d4b9-", "labels": {"app": "web", "pod-template-hash": "7d4b9"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9",
                                 "uid": "d9607e19-f88f-11e6-a518-42010a800195", "controller": true}]},
            "spec": {"containers": [{"name": "web", "image": "nginx"}], "nodeName": "edge-1.paris"}}),
        ),
        (
            "v1",
            "Service",
            json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        ),
        (
            "v1",
            "ConfigMap",
            json!({"metadata": {"name": "web-config", "namespace": "default"},
            "data": {"nginx.conf": "events {}"}}),
        ),
        (
            "v1",
            "Secret",
            json!({"metadata": {"name": "db", "namespace": "default"},
            "type": "Opaque", "stringData": {"password": "hunter2"}}),
        ),
        (
            "v1",
            "Event",
            json!({"metadata": {"name": "web.17a8", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Pulled", "message": "pulled", "type": "Normal"}),
        ),
        (
            "v1",
            "Endpoints",
            json!({"metadata": {"name": "web", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "127.0.0.2"}], "ports": [{"port": 31000}]}]}),
        ),
        (
            "apps/v1",
            "Deployment",
            json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}),
        ),
        (
            "apps/v1",
            "ReplicaSet",
            json!({"metadata": {"name": "web-7d4b9", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}),
        ),
        (
            "apps/v1",
            "DaemonSet",
            json!({"metadata": {"name": "proxy", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"app": "proxy"}},
                     "template": {"metadata": {"labels": {"app": "proxy"}},
                                  "spec": {"containers": [{"name": "proxy", "image": "brume/proxy"}]}}}}),
        ),
        (
            "discovery.k8s.io/v1",
            "EndpointSlice",
            json!({"metadata": {"name": "web-x1", "namespace": "default"},
            "addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.3"]}], "ports": [{"port": 31000}]}),
        ),
        (
            "coordination.k8s.io/v1",
            "Lease",
            json!({"metadata": {"name": "edge-1", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "edge-1", "leaseDurationSeconds": 10}}),
        ),
        (
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 5}}),
        ),
        (
            "fog.brume.io/v1",
            "TrafficReport",
            json!({"metadata": {"name": "web.node-3", "namespace": "default",
                "labels": {"fog.brume.io/service": "web", "fog.brume.io/gateway": "node-3"}},
            "spec": {"service": "web", "gateway": "node-3", "requestsPerSecond": 12.5,
                     "connectionsPerSecond": 0.0, "requestsTotal": 1234, "connectionsTotal": 0,
                     "observedTime": "2026-12-03T07:00:00Z"}}),
        ),
        (
            "fog.brume.io/v1",
            "LatencyAutoscaler",
            json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "objective": {"percentile": 90, "latencyMs": 30}, "replicaCapacity": 50,
                     "minReplicas": 1, "maxReplicas": 5}}),
        ),
    ];
    for (api_version, kind, obj) in objects {
        let info = info(api_version, kind);
        let r = validate_create(info, &obj);
        assert!(r.is_ok(), "{kind}: {:#?}", messages(r));
        let r = validate_update(info, &obj, &obj);
        assert!(r.is_ok(), "{kind} update: {:#?}", messages(r));
        // Defaulted, the object stays valid and every field it gained is known to its kind.
        let mut defaulted = obj.clone();
        crate::defaults::apply_defaults(info, &mut defaulted);
        let r = validate_create(info, &defaulted);
        assert!(r.is_ok(), "{kind} defaulted: {:#?}", messages(r));
        let strict = crate::decode::check_fields(
            info,
            defaulted.clone(),
            crate::decode::FieldValidation::Strict,
        );
        assert_eq!(strict.map(|d| d.object), Ok(defaulted), "{kind}");
    }
}

#[test]
fn all_errors_are_collected() {
    let obj = json!({"metadata": {"name": "Bad_Name", "namespace": "default", "labels": {"-x": "y"}},
        "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx",
                                  "resources": {"requests": {"cpu": "abc"}}}]}}}});
    let m = messages(validate_create(info("apps/v1", "Deployment"), &obj));
    let fields: Vec<&str> = m.iter().map(|s| s.split(": ").next().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "metadata.name",
            "metadata.labels",
            "spec.replicas",
            "spec.template.spec.containers[0].resources.requests[cpu]"
        ],
        "{m:#?}"
    );
    assert_eq!(
        m[2],
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
}

#[test]
fn updates_check_identity_and_kind_rules() {
    let old = json!({"metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}});
    let mut new = old.clone();
    new["metadata"]["name"] = json!("web2");
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    assert_eq!(
        messages(validate_update(info("v1", "Pod"), &new, &old)),
        ["metadata.name: Invalid value: \"web2\": field is immutable"]
    );
    new["metadata"]["name"] = json!("web");
    assert!(validate_update(info("v1", "Pod"), &new, &old).is_ok());
    new["spec"]["containers"][0]["name"] = json!("app");
    let m = messages(validate_update(info("v1", "Pod"), &new, &old));
    assert_eq!(m.len(), 1);
    assert!(m[0].starts_with("spec: Forbidden: pod updates may not change fields other than"));
}

#[test]
fn objects_with_wrong_types_report_the_path() {
    let m = messages(validate_create(
        info("v1", "Pod"),
        &json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": "web"}}),
    ));
    assert_eq!(m.len(), 1);
    assert!(
        m[0].starts_with("spec.containers: Invalid value: invalid type: string"),
        "{m:?}"
    );
}
