use serde_json::json;

use super::*;
use crate::resource::{KINDS, by_kind};

fn defaulted(api_version: &str, kind: &str, mut obj: Value) -> Value {
    apply_defaults(by_kind(api_version, kind).unwrap(), &mut obj);
    obj
}

fn nginx_deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "nginx"}},
                 "template": {"metadata": {"labels": {"app": "nginx"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2",
                                  "ports": [{"containerPort": 80}],
                                  "readinessProbe": {"httpGet": {"port": 80}}}]}}}})
}

#[test]
fn deployments_get_kubernetes_defaults() {
    let d = defaulted("apps/v1", "Deployment", nginx_deployment());
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["securityContext"], json!({}));
    assert_eq!(pod["enableServiceLinks"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(
        c["readinessProbe"],
        json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
               "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    // Templates do not get the Pod-only defaults.
    assert!(spec["template"].get("status").is_none());
}

#[test]
fn given_values_are_kept() {
    let mut d = nginx_deployment();
    d["spec"]["replicas"] = json!(0);
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx");
    let d = defaulted("apps/v1", "Deployment", d);
    assert_eq!(d["spec"]["replicas"], 0);
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Never");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
}

#[test]
fn pods_request_their_limits_and_start_pending() {
    let p = defaulted(
        "v1",
        "Pod",
        json!({"metadata": {"name": "p"}, "spec": {
            "hostNetwork": true,
            "containers": [{"name": "a", "image": "app:latest", "ports": [{"containerPort": 8080}],
                            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m"}}}],
            "volumes": [{"name": "s", "secret": {"secretName": "s"}}, {"name": "h", "hostPath": {"path": "/x"}}]}}),
    );
    let c = &p["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "100m", "memory": "1Gi"})
    );
    assert_eq!(
        c["ports"][0],
        json!({"containerPort": 8080, "protocol": "TCP", "hostPort": 8080})
    );
    assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
    assert_eq!(p["spec"]["volumes"][0]["secret"]["defaultMode"], 420);
    assert_eq!(p["spec"]["volumes"][1]["hostPath"]["type"], "");
    assert_eq!(p["status"]["phase"], "Pending");
}

#[test]
fn services_target_their_port() {
    let s = defaulted(
        "v1",
        "Service",
        json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "sessionAffinity": "ClientIP",
            "ports": [{"port": 80}, {"port": 443, "targetPort": "https", "protocol": "TCP"}]}}),
    );
    let spec = &s["spec"];
    assert_eq!(
        spec["ports"][0],
        json!({"port": 80, "protocol": "TCP", "targetPort": 80})
    );
    assert_eq!(spec["ports"][1]["targetPort"], "https");
    assert_eq!(
        spec["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(s["status"], json!({"loadBalancer": {}}));
    let plain = defaulted("v1", "Service", json!({"spec": {"ports": [{"port": 80}]}}));
    assert_eq!(plain["spec"]["type"], "ClusterIP");
    assert_eq!(plain["spec"]["sessionAffinity"], "None");
    assert!(plain["spec"].get("externalTrafficPolicy").is_none());
    let external = defaulted(
        "v1",
        "Service",
        json!({"spec": {"type": "ExternalName", "externalName": "x.example"}}),
    );
    assert!(external["spec"].get("ipFamilies").is_none());
}

#[test]
fn small_kinds() {
    assert_eq!(
        defaulted("v1", "Namespace", json!({"metadata": {"name": "a"}}))["status"]["phase"],
        "Active"
    );
    let s = defaulted(
        "v1",
        "Secret",
        json!({"data": {"a": "eA==", "b": "eA=="}, "stringData": {"b": "hello"}}),
    );
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"], json!({"a": "eA==", "b": "aGVsbG8="}));
    assert!(s.get("stringData").is_none());
    let n = defaulted("v1", "Node", json!({"status": {"capacity": {"cpu": "4"}}}));
    assert_eq!(n["status"]["allocatable"], json!({"cpu": "4"}));
    let ds = defaulted("apps/v1", "DaemonSet", json!({"spec": {}}));
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    );
    assert_eq!(
        defaulted("apps/v1", "ReplicaSet", json!({}))["spec"]["replicas"],
        1
    );
    let h = defaulted(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        json!({"spec": {"maxReplicas": 3, "behavior": {"scaleDown": {"selectPolicy": "Min"}}}}),
    );
    assert_eq!(h["spec"]["minReplicas"], 1);
    assert_eq!(
        h["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        80
    );
    assert_eq!(h["spec"]["behavior"]["scaleDown"]["selectPolicy"], "Min");
    assert_eq!(
        h["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
        300
    );
    assert_eq!(h["spec"]["behavior"]["scaleUp"]["policies"][0]["value"], 4);
    let es = defaulted(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        json!({"ports": [{"port": 80}]}),
    );
    assert_eq!(
        es["ports"][0],
        json!({"port": 80, "name": "", "protocol": "TCP"})
    );
}

#[test]
fn defaulting_is_idempotent_and_keeps_objects_valid() {
    let samples = [
        nginx_deployment(),
        json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [{"name": "a", "image": "x",
            "resources": {"limits": {"cpu": "1"}}, "livenessProbe": {"tcpSocket": {"port": 1}},
            "lifecycle": {"preStop": {"httpGet": {"port": 80}}}}]}}),
        json!({"metadata": {"name": "s", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}, "stringData": {"k": "v"}}),
        json!({"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "1"}}, "spec": {"ports": [{"port": 1}]},
               "subsets": [{"ports": [{"port": 1}]}], "ports": [{"port": 1}]}),
        json!({}),
        json!({"spec": null, "status": null}),
    ];
    for info in KINDS {
        for sample in &samples {
            let mut once = sample.clone();
            apply_defaults(info, &mut once);
            let mut twice = once.clone();
            apply_defaults(info, &mut twice);
            assert_eq!(once, twice, "{}", info.kind);
        }
    }
    // A valid Deployment stays valid, and strictly decodable, once defaulted.
    let info = by_kind("apps/v1", "Deployment").unwrap();
    let d = defaulted("apps/v1", "Deployment", nginx_deployment());
    assert!(crate::validation::validate_create(info, &d).is_ok());
    let strict =
        crate::decode::check_fields(info, d.clone(), crate::decode::FieldValidation::Strict)
            .unwrap();
    assert_eq!(strict.object, d);
}

#[test]
fn values_of_unexpected_types_are_left_alone() {
    let mut weird = json!({"spec": "oops"});
    apply_defaults(by_kind("apps/v1", "Deployment").unwrap(), &mut weird);
    assert_eq!(weird, json!({"spec": "oops"}));
    let mut not_object = json!([1]);
    apply_defaults(by_kind("v1", "Pod").unwrap(), &mut not_object);
    assert_eq!(not_object, json!([1]));
}
