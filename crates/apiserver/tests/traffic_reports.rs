//! TrafficReports (fog.brume.io/v1) through the API: discovery, create, list by label, Table
//! output, 422 on bad input, removal with their Service, and what a node's own credential may
//! write: its gateway's reports and its own Node's coordinates annotation, nothing else.

use std::time::Duration;

use axum::Router;
use http::{Method, StatusCode};
use serde_json::{Value, json};

mod common;
use common::{TOKEN, call_as, get, node_credential, post, server};

const REPORTS: &str = "/apis/fog.brume.io/v1/namespaces/default/trafficreports";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

fn report(service: &str, gateway: &str, rps: f64, owner: Option<&Value>) -> Value {
    let mut r = json!({
        "apiVersion": "fog.brume.io/v1", "kind": "TrafficReport",
        "metadata": {"name": format!("{service}.{gateway}"), "namespace": "default",
            "labels": {"fog.brume.io/service": service, "fog.brume.io/gateway": gateway}},
        "spec": {"service": service, "gateway": gateway, "requestsPerSecond": rps,
            "connectionsPerSecond": 0.31, "requestsTotal": 1234, "connectionsTotal": 7,
            "observedTime": "2026-12-03T07:00:00Z"}
    });
    if let Some(svc) = owner {
        r["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Service",
            "name": svc["metadata"]["name"], "uid": svc["metadata"]["uid"]}]);
    }
    r
}

async fn service(app: &Router, name: &str) -> Value {
    let (code, svc) = post(
        app,
        "/api/v1/namespaces/default/services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{svc}");
    svc
}

#[tokio::test]
async fn reports_are_served_listed_by_label_and_shown_as_a_table() {
    let app = server().await;
    let (code, list) = get(&app, "/apis/fog.brume.io/v1").await;
    assert_eq!(code, StatusCode::OK);
    let resources = list["resources"].as_array().unwrap();
    let tr = resources
        .iter()
        .find(|r| r["name"] == "trafficreports")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(tr["kind"], "TrafficReport");
    assert_eq!(tr["namespaced"], true);
    assert_eq!(tr["shortNames"], json!(["tr"]));
    let (_, groups) = get(&app, "/apis").await;
    assert!(
        groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "fog.brume.io"),
        "{groups}"
    );

    let web = service(&app, "web").await;
    for gateway in ["node-3", "node-4"] {
        let (code, created) = post(&app, REPORTS, report("web", gateway, 12.46, Some(&web))).await;
        assert_eq!(code, StatusCode::CREATED, "{created}");
    }
    let (code, stored) = get(&app, &format!("{REPORTS}/web.node-3")).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(stored["spec"]["requestsTotal"], 1234);
    assert_eq!(stored["spec"]["observedTime"], "2026-12-03T07:00:00Z");

    let (code, list) = get(
        &app,
        &format!("{REPORTS}?labelSelector=fog.brume.io%2Fgateway%3Dnode-3"),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web.node-3"]);

    let (code, table) = call_as(
        &app,
        TOKEN,
        Method::GET,
        REPORTS,
        "application/json",
        TABLE,
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{table}");
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["Name", "Service", "Gateway", "Req/s", "Conn/s", "Age"]
    );
    let first = table["rows"][0]["cells"].as_array().unwrap();
    assert_eq!(
        first[..5],
        ["web.node-3", "web", "node-3", "12.5", "0.3"].map(|c| json!(c))
    );

    // Deleting the Service takes its reports with it (the garbage collector, by owner uid).
    let (code, _) = call_as(
        &app,
        TOKEN,
        Method::DELETE,
        "/api/v1/namespaces/default/services/web",
        "application/json",
        "application/json",
        Value::Null,
    )
    .await;
    assert!(code.is_success(), "{code}");
    for _ in 0..500 {
        let (_, list) = get(&app, REPORTS).await;
        if list["items"].as_array().is_some_and(Vec::is_empty) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the reports outlived their Service");
}

#[tokio::test]
async fn bad_reports_are_refused_with_the_field_and_what_is_valid() {
    let app = server().await;
    let (code, status) = post(&app, REPORTS, report("web", "node-3", -1.0, None)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(
        status["message"],
        "TrafficReport \"web.node-3\" is invalid: spec.requestsPerSecond: Invalid value: \"-1\": must be a finite number >= 0"
    );
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.requestsPerSecond"
    );
    let mut no_gateway = report("web", "node-3", 1.0, None);
    no_gateway["spec"]["gateway"] = json!("");
    no_gateway["metadata"]["labels"] = json!({});
    let (code, status) = post(&app, REPORTS, no_gateway).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(
        status["message"],
        "TrafficReport \"web.node-3\" is invalid: spec.gateway: Required value: the name of the node whose proxy received the traffic"
    );
    // A wrong type is a 400 naming the field, as for every kind.
    let mut wrong = report("web", "node-3", 1.0, None);
    wrong["spec"]["requestsTotal"] = json!(-5);
    let (code, status) = post(&app, REPORTS, wrong).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("spec.requestsTotal"),
        "{status}"
    );
    assert_eq!(get(&app, REPORTS).await.1["items"], json!([]));
}

#[tokio::test]
async fn a_node_writes_only_its_gateways_reports_and_its_own_coordinates() {
    let app = server().await;
    for node in ["node-3", "node-4"] {
        let (code, n) = post(
            &app,
            "/api/v1/nodes",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}),
        )
        .await;
        assert_eq!(code, StatusCode::CREATED, "{n}");
    }
    let (code, other) = post(&app, REPORTS, report("web", "node-4", 3.0, None)).await;
    assert_eq!(code, StatusCode::CREATED, "{other}");
    let n3 = node_credential(&app, "node-3").await;
    let as_n3 = |method: Method, path: String, ct: &'static str, body: Value| {
        let (app, n3) = (app.clone(), n3.clone());
        async move { call_as(&app, &n3, method, &path, ct, "application/json", body).await }
    };

    // Its own gateway's report: create, update, patch and delete.
    let (code, mine) = as_n3(
        Method::POST,
        REPORTS.into(),
        "application/json",
        report("web", "node-3", 1.0, None),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{mine}");
    let mut updated = mine.clone();
    updated["spec"]["requestsPerSecond"] = json!(2.0);
    let (code, body) = as_n3(
        Method::PUT,
        format!("{REPORTS}/web.node-3"),
        "application/json",
        updated,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, body) = as_n3(
        Method::PATCH,
        format!("{REPORTS}/web.node-3"),
        "application/merge-patch+json",
        json!({"spec": {"requestsPerSecond": 4.5}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["spec"]["requestsPerSecond"], 4.5);
    // Moving its report to another gateway is a change of name, which validation refuses.
    let (code, body) = as_n3(
        Method::PATCH,
        format!("{REPORTS}/web.node-3"),
        "application/merge-patch+json",
        json!({"spec": {"gateway": "node-4"}}),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Another gateway's: neither create, nor patch, nor delete, and the 403 says why.
    let (code, status) = as_n3(
        Method::POST,
        REPORTS.into(),
        "application/json",
        report("api", "node-4", 1.0, None),
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{status}");
    assert_eq!(
        status["message"],
        "trafficreports is forbidden: User \"system:node:node-3\" cannot create resource \
         \"trafficreports\" in API group \"fog.brume.io\" in the namespace \"default\": node \
         \"node-3\" may only write the TrafficReports of its own gateway, named \
         <service>.node-3 with spec.gateway \"node-3\""
    );
    // Nor under its own name with another gateway in the spec.
    let mut disguised = report("api", "node-4", 1.0, None);
    disguised["metadata"]["name"] = json!("api.node-3");
    let (code, status) = as_n3(Method::POST, REPORTS.into(), "application/json", disguised).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    for (method, ct, body) in [
        (
            Method::PATCH,
            "application/merge-patch+json",
            json!({"spec": {"requestsPerSecond": 0.0}}),
        ),
        (Method::PUT, "application/json", other.clone()),
        (Method::DELETE, "application/json", Value::Null),
    ] {
        let (code, status) = as_n3(method.clone(), format!("{REPORTS}/web.node-4"), ct, body).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{method} {status}");
    }
    let (_, still) = get(&app, &format!("{REPORTS}/web.node-4")).await;
    assert_eq!(still["spec"]["requestsPerSecond"], 3.0);
    // It reads every gateway's reports, and what its proxy watches.
    for path in [
        REPORTS.to_string(),
        format!("{REPORTS}/web.node-4"),
        "/api/v1/services?watch=false".into(),
        "/apis/discovery.k8s.io/v1/endpointslices".into(),
        "/api/v1/nodes".into(),
    ] {
        let (code, body) = as_n3(Method::GET, path.clone(), "application/json", Value::Null).await;
        assert_eq!(code, StatusCode::OK, "{path}: {body}");
    }
    let (code, gone) = as_n3(
        Method::DELETE,
        format!("{REPORTS}/web.node-3"),
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{gone}");

    // Its coordinates go on its own Node as a merge patch, and show in the wide node table.
    let coordinates = json!({"metadata": {"annotations": {"fog.brume.io/coordinates":
        "{\"vector\":[1.5,-2.0],\"height\":0.4,\"error\":0.2}"}}});
    let (code, node) = as_n3(
        Method::PATCH,
        "/api/v1/nodes/node-3".into(),
        "application/merge-patch+json",
        coordinates.clone(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{node}");
    let (code, _) = as_n3(
        Method::PATCH,
        "/api/v1/nodes/node-4".into(),
        "application/merge-patch+json",
        coordinates,
    )
    .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, table) = call_as(
        &app,
        TOKEN,
        Method::GET,
        "/api/v1/nodes",
        "application/json",
        TABLE,
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{table}");
    let at = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == "Coord-Error")
        .unwrap();
    assert_eq!(table["columnDefinitions"][at]["priority"], 1);
    let errors: Vec<(&Value, &Value)> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (&r["cells"][0], &r["cells"][at]))
        .collect();
    assert_eq!(
        errors,
        [
            (&json!("node-3"), &json!("0.20")),
            (&json!("node-4"), &json!("<none>"))
        ]
    );
}
