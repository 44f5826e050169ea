//! LatencyAutoscalers (fog.brume.io/v1) through the API: create, the Table kubectl prints, the
//! status subresource, 422 on bad input, and the admission rule that one Deployment takes one
//! autoscaler — a LatencyAutoscaler or a HorizontalPodAutoscaler, never both.

use http::{Method, StatusCode};
use serde_json::{Value, json};

mod common;
use common::{TOKEN, call, call_as, get, post, server};

const LAS: &str = "/apis/fog.brume.io/v1/namespaces/default/latencyautoscalers";
const HPAS: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

fn la(name: &str, target: &str) -> Value {
    json!({"apiVersion": "fog.brume.io/v1", "kind": "LatencyAutoscaler",
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "objective": {"percentile": 90, "latencyMs": 30}, "replicaCapacity": 50,
            "minReplicas": 1, "maxReplicas": 5}})
}

fn hpa(name: &str, target: &str) -> Value {
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1, "maxReplicas": 4, "metrics": [{"type": "Resource", "resource":
                {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}})
}

#[tokio::test]
async fn an_autoscaler_is_stored_shown_and_given_a_status() {
    let app = server().await;
    let (code, created) = post(&app, LAS, la("web", "web")).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let (code, table) = call_as(
        &app,
        TOKEN,
        Method::GET,
        LAS,
        "application/json",
        TABLE,
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{table}");
    let row = &table["rows"][0]["cells"];
    assert_eq!(row[1], "Deployment/web");
    assert_eq!(row[2], "p90 < 30ms");
    assert_eq!(row[6], "<unknown>");

    let mut status = created.clone();
    status["status"] = json!({"currentReplicas": 1, "desiredReplicas": 2,
        "predictedAttainment": 95.0, "reason": "ObjectiveMet"});
    let (code, updated) = call(
        &app,
        Method::PUT,
        &format!("{LAS}/web/status"),
        "application/json",
        status,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    let (_, got) = get(&app, &format!("{LAS}/web")).await;
    assert_eq!(got["status"]["desiredReplicas"], 2);
    assert_eq!(
        got["metadata"]["generation"], 1,
        "a status write is not a spec change"
    );
}

#[tokio::test]
async fn bad_objectives_are_refused_with_the_field() {
    let app = server().await;
    let mut bad = la("web", "web");
    bad["spec"]["objective"]["percentile"] = json!(190);
    bad["spec"]["scaleTargetRef"]["kind"] = json!("StatefulSet");
    let (code, status) = post(&app, LAS, bad).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("spec.objective.percentile"), "{message}");
    assert!(
        message.contains("must be \\\"Deployment\\\"")
            || message.contains("must be \"Deployment\""),
        "{message}"
    );
    let (code, _) = get(&app, &format!("{LAS}/web")).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "nothing partial is stored");
}

#[tokio::test]
async fn one_deployment_takes_one_autoscaler() {
    let app = server().await;
    let (code, body) = post(&app, LAS, la("web", "web")).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");

    // An HPA on the same Deployment is refused, naming the LatencyAutoscaler.
    let (code, status) = post(&app, HPAS, hpa("web-cpu", "web")).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("Deployment \"web\" is already sized by LatencyAutoscaler \"web\""),
        "{message}"
    );
    assert_eq!(
        status["details"]["causes"][0]["field"],
        "spec.scaleTargetRef.name"
    );
    let (code, _) = get(&app, &format!("{HPAS}/web-cpu")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // On another Deployment it is fine; pointing it at `web` afterwards is refused too.
    let (code, created) = post(&app, HPAS, hpa("api-cpu", "api")).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let mut moved = created.clone();
    moved["spec"]["scaleTargetRef"]["name"] = json!("web");
    let (code, status) = call(
        &app,
        Method::PUT,
        &format!("{HPAS}/api-cpu"),
        "application/json",
        moved,
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");

    // And the other way round: a second LatencyAutoscaler on `api` names the HPA.
    let (code, status) = post(&app, LAS, la("api", "api")).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("already sized by HorizontalPodAutoscaler \"api-cpu\""),
        "{status}"
    );

    // Updating an autoscaler itself is not a conflict with itself.
    let (_, current) = get(&app, &format!("{LAS}/web")).await;
    let mut bigger = current.clone();
    bigger["spec"]["maxReplicas"] = json!(7);
    let (code, body) = call(
        &app,
        Method::PUT,
        &format!("{LAS}/web"),
        "application/json",
        bigger,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
}
