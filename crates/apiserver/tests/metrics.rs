//! The resource metrics (metrics.k8s.io/v1beta1) through the API: the discovery kubectl top
//! looks for, PodMetrics listed by the pod's labels (the HPA controller's query), Table output,
//! 422 on bad samples, removal with their Pod, and what a node's credential may write: its own
//! NodeMetrics and the PodMetrics of pods bound to it, nothing else.

use std::time::Duration;

use axum::Router;
use http::{Method, StatusCode};
use serde_json::{Value, json};

mod common;
use common::{TOKEN, call_as, get, node_credential, post, server};

const PODS: &str = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods";
const NODES: &str = "/apis/metrics.k8s.io/v1beta1/nodes";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// A pod bound to `node`, labelled `app=<app>`.
async fn pod(app: &Router, name: &str, node: &str, label: &str) -> Value {
    let (code, pod) = post(
        app,
        "/api/v1/namespaces/default/pods",
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": label}},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "x"}]}}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{pod}");
    pod
}

fn pod_metrics(pod: &Value, cpu: &str) -> Value {
    let meta = &pod["metadata"];
    json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
        "metadata": {"name": meta["name"], "namespace": "default", "labels": meta["labels"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod",
                "name": meta["name"], "uid": meta["uid"]}]},
        "timestamp": "2026-12-03T07:00:00Z", "window": "15s",
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": "52428800"}}]})
}

fn node_metrics(node: &str) -> Value {
    json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "NodeMetrics",
        "metadata": {"name": node}, "timestamp": "2026-12-03T07:00:00Z", "window": "15s",
        "usage": {"cpu": "1500m", "memory": "2Gi"}})
}

fn names(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn metrics_are_discovered_listed_by_pod_labels_and_go_with_their_pod() {
    let app = server().await;
    // kubectl top needs the group in /apis with v1beta1, and both resources in its document.
    let (_, groups) = get(&app, "/apis").await;
    let group = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "metrics.k8s.io")
        .unwrap_or_else(|| panic!("{groups}"));
    assert_eq!(group["versions"][0]["version"], "v1beta1");
    let (code, doc) = get(&app, "/apis/metrics.k8s.io/v1beta1").await;
    assert_eq!(code, StatusCode::OK);
    let resources: Vec<(&Value, &Value, &Value)> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (&r["name"], &r["kind"], &r["namespaced"]))
        .collect();
    assert_eq!(
        resources,
        [
            (&json!("pods"), &json!("PodMetrics"), &json!(true)),
            (&json!("nodes"), &json!("NodeMetrics"), &json!(false))
        ]
    );

    let web = pod(&app, "web-1", "n1", "web").await;
    let db = pod(&app, "db-1", "n1", "db").await;
    for (p, cpu) in [(&web, "250000000n"), (&db, "5m")] {
        let (code, created) = post(&app, PODS, pod_metrics(p, cpu)).await;
        assert_eq!(code, StatusCode::CREATED, "{created}");
    }
    let (code, list) = get(&app, &format!("{PODS}?labelSelector=app%3Dweb")).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(names(&list), ["web-1"]);
    assert_eq!(list["kind"], "PodMetricsList");
    assert_eq!(list["items"][0]["window"], "15s");
    assert_eq!(
        list["items"][0]["containers"][0]["usage"]["cpu"],
        "250000000n"
    );
    let (code, created) = post(&app, NODES, node_metrics("n1")).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let (code, table) = call_as(
        &app,
        TOKEN,
        Method::GET,
        PODS,
        "application/json",
        TABLE,
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{table}");
    let rows: Vec<&Value> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["cells"])
        .collect();
    assert_eq!(
        rows,
        [
            &json!(["db-1", "5m", "50Mi", "15s"]),
            &json!(["web-1", "250m", "50Mi", "15s"])
        ]
    );

    // Deleting the pod takes its metrics with it (the garbage collector, by owner uid); a
    // bound pod is deleted gracefully, so the agent's final delete is played here.
    for body in [Value::Null, json!({"gracePeriodSeconds": 0})] {
        let (code, _) = call_as(
            &app,
            TOKEN,
            Method::DELETE,
            "/api/v1/namespaces/default/pods/web-1",
            "application/json",
            "application/json",
            body,
        )
        .await;
        assert!(code.is_success() || code == StatusCode::NOT_FOUND, "{code}");
    }
    for _ in 0..500 {
        let (_, list) = get(&app, PODS).await;
        if names(&list) == ["db-1"] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the metrics of web-1 outlived it");
}

#[tokio::test]
async fn bad_samples_are_refused_with_the_field_and_what_is_valid() {
    let app = server().await;
    let web = pod(&app, "web-1", "n1", "web").await;
    let (code, status) = post(&app, PODS, pod_metrics(&web, "-5m")).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(
        status["message"],
        "PodMetrics \"web-1\" is invalid: containers[0].usage[cpu]: Invalid value: \"-5m\": \
         must be greater than or equal to 0"
    );
    let mut no_time = node_metrics("n1");
    no_time.as_object_mut().unwrap().remove("timestamp");
    let (code, status) = post(&app, NODES, no_time).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "timestamp");
    let mut bad_window = node_metrics("n1");
    bad_window["window"] = json!("15 seconds");
    let (code, status) = post(&app, NODES, bad_window).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("window: \"15 seconds\" is not a duration such as \"15s\""),
        "{status}"
    );
    assert_eq!(get(&app, NODES).await.1["items"], json!([]));
}

#[tokio::test]
async fn a_node_writes_only_its_own_metrics_and_those_of_its_pods() {
    let app = server().await;
    let mine = pod(&app, "mine", "n1", "web").await;
    let theirs = pod(&app, "theirs", "n2", "web").await;
    let n1 = node_credential(&app, "n1").await;
    let as_n1 = |method: Method, path: String, ct: &'static str, body: Value| {
        let (app, n1) = (app.clone(), n1.clone());
        async move { call_as(&app, &n1, method, &path, ct, "application/json", body).await }
    };

    let (code, body) = as_n1(
        Method::POST,
        NODES.into(),
        "application/json",
        node_metrics("n1"),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, body) = as_n1(
        Method::PATCH,
        format!("{NODES}/n1"),
        "application/merge-patch+json",
        json!({"usage": {"cpu": "2"}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, status) = as_n1(
        Method::POST,
        NODES.into(),
        "application/json",
        node_metrics("n2"),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "nodes is forbidden: User \"system:node:n1\" cannot create resource \"nodes\" in API \
         group \"metrics.k8s.io\" at the cluster scope: node \"n1\" may only write its own \
         NodeMetrics, named \"n1\""
    );

    let (code, body) = as_n1(
        Method::POST,
        PODS.into(),
        "application/json",
        pod_metrics(&mine, "1m"),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, body) = as_n1(
        Method::PUT,
        format!("{PODS}/mine"),
        "application/json",
        pod_metrics(&mine, "2m"),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    // A pod bound elsewhere, or no pod at all: refused, saying why.
    let (code, status) = as_n1(
        Method::POST,
        PODS.into(),
        "application/json",
        pod_metrics(&theirs, "1m"),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .ends_with("no pod \"theirs\" bound to this node exists in this namespace; a node may only write the metrics of its own pods"),
        "{status}"
    );
    let mut ghost = pod_metrics(&mine, "1m");
    ghost["metadata"]["name"] = json!("ghost");
    let (code, status) = as_n1(Method::POST, PODS.into(), "application/json", ghost).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    // The admin's metrics of n2's pod stay out of n1's reach.
    let (code, _) = post(&app, PODS, pod_metrics(&theirs, "7m")).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, _) = as_n1(
        Method::DELETE,
        format!("{PODS}/theirs"),
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, list) = as_n1(Method::GET, PODS.into(), "application/json", Value::Null).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(names(&list), ["mine", "theirs"]);
}
