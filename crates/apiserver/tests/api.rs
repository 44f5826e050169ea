//! In-process integration tests: the router on a memory store, driven over HTTP semantics
//! without a socket.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use brume_apiserver::{AppState, Config};
use brume_store::{MemoryStore, Store};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "test-token";

async fn server() -> Router {
    let state = Arc::new(AppState::new(
        Arc::new(MemoryStore::new()) as Arc<dyn Store>,
        Config::new(TOKEN),
    ));
    brume_apiserver::start(state.clone()).await.unwrap();
    brume_apiserver::router(state)
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    ct: &str,
    body: Value,
) -> (StatusCode, Value) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", ct)
        .body(Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

async fn post(app: &Router, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, Method::POST, path, "application/json", body).await
}

async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    call(app, Method::GET, path, "application/json", Value::Null).await
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn create_get_update_and_stale_update_conflicts() {
    let app = server().await;
    let (code, created) = post(&app, CMS, cm("one")).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let rv = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!created["metadata"]["uid"].as_str().unwrap().is_empty());

    let (code, again) = post(&app, CMS, cm("one")).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(again["reason"], "AlreadyExists");

    let mut updated = created.clone();
    updated["data"]["a"] = json!("2");
    let (code, after) = call(
        &app,
        Method::PUT,
        &format!("{CMS}/one"),
        "application/json",
        updated.clone(),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{after}");
    assert_ne!(after["metadata"]["resourceVersion"], json!(rv));

    // The same body again carries the old resourceVersion: 409 Conflict, nothing stored.
    updated["data"]["a"] = json!("3");
    let (code, status) = call(
        &app,
        Method::PUT,
        &format!("{CMS}/one"),
        "application/json",
        updated,
    )
    .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(status["reason"], "Conflict");
    let (_, now) = get(&app, &format!("{CMS}/one")).await;
    assert_eq!(now["data"]["a"], "2");
}

#[tokio::test]
async fn merge_and_json_patches_apply() {
    let app = server().await;
    post(&app, CMS, cm("p")).await;
    let (code, v) = call(
        &app,
        Method::PATCH,
        &format!("{CMS}/p"),
        "application/merge-patch+json",
        json!({"metadata": {"labels": {"x": "y"}}, "data": {"a": null, "b": "2"}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["metadata"]["labels"]["x"], "y");
    assert_eq!(v["data"], json!({"b": "2"}));
    let (code, v) = call(
        &app,
        Method::PATCH,
        &format!("{CMS}/p"),
        "application/json-patch+json",
        json!([{"op": "replace", "path": "/data/b", "value": "3"}]),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["b"], "3");
    let (code, _) = call(
        &app,
        Method::PATCH,
        &format!("{CMS}/p"),
        "text/plain",
        json!({}),
    )
    .await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn requests_without_the_token_are_refused() {
    let app = server().await;
    let req = Request::get(CMS).body(Body::empty()).unwrap();
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let req = Request::get(CMS)
        .header("authorization", "Bearer nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let req = Request::get("/version").body(Body::empty()).unwrap();
    assert_eq!(
        app.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn bodies_over_three_mebibytes_get_413_and_store_nothing() {
    let app = server().await;
    let mut big = cm("big");
    big["data"]["a"] = json!("x".repeat(3 * 1024 * 1024 + 10));
    let (code, status) = post(&app, CMS, big).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(status["kind"], "Status");
    assert_eq!(
        get(&app, &format!("{CMS}/big")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas() {
    let app = server().await;
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    });
    let (code, created) = post(&app, "/apis/apps/v1/namespaces/default/deployments", deploy).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let path = "/apis/apps/v1/namespaces/default/deployments/web/scale";
    let (code, scale) = get(&app, path).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=web");
    let (code, scale) = call(
        &app,
        Method::PATCH,
        path,
        "application/merge-patch+json",
        json!({"spec": {"replicas": 5}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{scale}");
    let (_, d) = get(&app, "/apis/apps/v1/namespaces/default/deployments/web").await;
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["metadata"]["generation"], 2);
    let (code, _) = call(
        &app,
        Method::PATCH,
        path,
        "application/merge-patch+json",
        json!({"spec": {"replicas": -1}}),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn wait_gone(app: &Router, path: &str) -> bool {
    for _ in 0..100 {
        if get(app, path).await.0 == StatusCode::NOT_FOUND {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn owned_by(name: &str, owner: &Value) -> Value {
    let mut c = cm(name);
    c["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "v1", "kind": "ConfigMap",
        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]);
    c
}

#[tokio::test]
async fn background_deletion_collects_dependents() {
    let app = server().await;
    let (_, owner) = post(&app, CMS, cm("owner")).await;
    post(&app, CMS, owned_by("child", &owner)).await;
    let (code, _) = call(
        &app,
        Method::DELETE,
        &format!("{CMS}/owner"),
        "application/json",
        json!({"propagationPolicy": "Background"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        wait_gone(&app, &format!("{CMS}/child")).await,
        "the dependent was not collected"
    );
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_without_the_reference() {
    let app = server().await;
    let (_, owner) = post(&app, CMS, cm("o-owner")).await;
    post(&app, CMS, owned_by("o-child", &owner)).await;
    call(
        &app,
        Method::DELETE,
        &format!("{CMS}/o-owner"),
        "application/json",
        json!({"propagationPolicy": "Orphan"}),
    )
    .await;
    assert!(wait_gone(&app, &format!("{CMS}/o-owner")).await);
    let (code, child) = get(&app, &format!("{CMS}/o-child")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        child["metadata"].get("ownerReferences").is_none(),
        "{child}"
    );
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents() {
    let app = server().await;
    let (_, owner) = post(&app, CMS, cm("f-owner")).await;
    let mut child = owned_by("f-child", &owner);
    child["metadata"]["finalizers"] = json!(["test/hold"]);
    post(&app, CMS, child).await;
    let (code, marked) = call(
        &app,
        Method::DELETE,
        &format!("{CMS}/f-owner"),
        "application/json",
        json!({"propagationPolicy": "Foreground"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        marked["metadata"]["deletionTimestamp"].is_string(),
        "{marked}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The dependent is held by its finalizer, so the owner must still be there.
    assert_eq!(get(&app, &format!("{CMS}/f-owner")).await.0, StatusCode::OK);
    let (_, c) = get(&app, &format!("{CMS}/f-child")).await;
    assert!(c["metadata"]["deletionTimestamp"].is_string());
    call(
        &app,
        Method::PATCH,
        &format!("{CMS}/f-child"),
        "application/merge-patch+json",
        json!({"metadata": {"finalizers": null}}),
    )
    .await;
    assert!(wait_gone(&app, &format!("{CMS}/f-child")).await);
    assert!(
        wait_gone(&app, &format!("{CMS}/f-owner")).await,
        "the owner stayed after its dependents went"
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_content() {
    let app = server().await;
    let (code, _) = post(
        &app,
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED);
    post(&app, "/api/v1/namespaces/tmp/configmaps", cm("inside")).await;
    let (code, ns) = call(
        &app,
        Method::DELETE,
        "/api/v1/namespaces/tmp",
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(wait_gone(&app, "/api/v1/namespaces/tmp").await);
    assert_eq!(
        get(&app, "/api/v1/namespaces/tmp/configmaps/inside")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Creating into a namespace that does not exist is a 404 naming it.
    let (code, status) = post(&app, "/api/v1/namespaces/tmp/configmaps", cm("late")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("namespaces \"tmp\" not found")
    );
}

#[tokio::test]
async fn watch_streams_changes_in_order() {
    let app = server().await;
    let (_, list) = get(&app, CMS).await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let req = Request::get(format!(
        "{CMS}?watch=true&resourceVersion={rv}&timeoutSeconds=5"
    ))
    .header("authorization", format!("Bearer {TOKEN}"))
    .body(Body::empty())
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    post(&app, CMS, cm("w")).await;
    call(
        &app,
        Method::PATCH,
        &format!("{CMS}/w"),
        "application/merge-patch+json",
        json!({"data": {"a": "2"}}),
    )
    .await;
    call(
        &app,
        Method::DELETE,
        &format!("{CMS}/w"),
        "application/json",
        Value::Null,
    )
    .await;
    let mut seen = Vec::new();
    let mut buf = Vec::new();
    while seen.len() < 3 {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let ev: Value = serde_json::from_slice(&line).unwrap();
            seen.push((
                ev["type"].as_str().unwrap().to_string(),
                ev["object"]["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .parse::<i64>()
                    .unwrap(),
            ));
        }
    }
    let types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "{seen:?}");
}

#[tokio::test]
async fn tables_are_served_when_asked_for() {
    let app = server().await;
    post(&app, CMS, cm("t")).await;
    let req = Request::get(CMS)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["kind"], "Table");
    assert_eq!(v["columnDefinitions"][0]["name"], "Name");
    assert_eq!(v["rows"][0]["cells"][0], "t");
    assert_eq!(v["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn watches_send_bookmarks_and_initial_events_when_asked() {
    let mut config = Config::new(TOKEN);
    config.bookmark_interval = Duration::from_millis(100);
    let state = Arc::new(AppState::new(
        Arc::new(MemoryStore::new()) as Arc<dyn Store>,
        config,
    ));
    brume_apiserver::start(state.clone()).await.unwrap();
    let app = brume_apiserver::router(state);
    post(&app, CMS, cm("existing")).await;
    let req = Request::get(format!(
        "{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=2"
    ))
    .header("authorization", format!("Bearer {TOKEN}"))
    .body(Body::empty())
    .unwrap();
    let bytes = app
        .clone()
        .oneshot(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let events: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "existing");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let periodic = events[2..]
        .iter()
        .filter(|e| e["type"] == "BOOKMARK")
        .count();
    assert!(
        periodic >= 5,
        "expected bookmarks about every 100 ms over 2 s, got {periodic}"
    );
}

#[tokio::test]
async fn list_pages_return_every_object_once() {
    let app = server().await;
    for i in 0..23 {
        post(&app, CMS, cm(&format!("page-{i:02}"))).await;
    }
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let (code, page) = get(&app, &format!("{CMS}?limit=5&continue={token}")).await;
        assert_eq!(code, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 5);
        names.extend(
            items
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string()),
        );
        match page["metadata"]["continue"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    let expected: Vec<String> = (0..23).map(|i| format!("page-{i:02}")).collect();
    assert_eq!(names, expected);
}
