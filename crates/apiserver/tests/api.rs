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

mod common;
use common::{TOKEN, call, get, post, server};

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
    let seen: Vec<(String, i64)> = read_events(&mut body, 3)
        .await
        .iter()
        .map(|ev| {
            let rv = ev["object"]["metadata"]["resourceVersion"]
                .as_str()
                .unwrap();
            (
                ev["type"].as_str().unwrap().to_string(),
                rv.parse().unwrap(),
            )
        })
        .collect();
    let types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    assert!(seen.windows(2).all(|w| w[0].1 < w[1].1), "{seen:?}");
}

/// Reads watch lines from `body` until `n` events arrived; panics on a stall or an ERROR event.
async fn read_events(body: &mut Body, n: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut buf = Vec::new();
    while seen.len() < n {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .unwrap_or_else(|_| panic!("the watch stalled after {} events", seen.len()))
            .unwrap_or_else(|| panic!("the watch ended after {} events", seen.len()))
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let ev: Value = serde_json::from_slice(&line).unwrap();
            assert_ne!(ev["type"], "ERROR", "the watch failed: {ev}");
            seen.push(ev);
        }
    }
    seen
}

/// A server whose store keeps `history` events and a live buffer of `buffer`, and the body of
/// a ConfigMap watch opened on it from the current revision (not read yet).
async fn watched_server(history: usize, buffer: usize) -> (Router, Body) {
    let store = MemoryStore::with_options(brume_store::WatchOptions { history, buffer });
    let state = Arc::new(AppState::new(
        Arc::new(store) as Arc<dyn Store>,
        Config::new(TOKEN),
    ));
    brume_apiserver::start(state.clone()).await.unwrap();
    let app = brume_apiserver::router(state);
    let (_, list) = get(&app, CMS).await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let req = Request::get(format!("{CMS}?watch=true&resourceVersion={rv}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    (app, resp.into_body())
}

#[tokio::test]
async fn a_watch_that_falls_behind_the_live_fan_out_resumes_from_the_history() {
    // A live buffer of 8 events and a history of 10,000: a client that stops reading while
    // hundreds of writes go by lags the fan-out, but the history still holds what it missed.
    let (app, mut body) = watched_server(10_000, 8).await;

    // Far more than the watch's own channel (256 lines) plus the live buffer, unread.
    let writes = 600;
    for i in 0..writes {
        let (code, _) = post(&app, CMS, cm(&format!("lag-{i}"))).await;
        assert_eq!(code, StatusCode::CREATED);
    }
    let seen = read_events(&mut body, writes).await;
    let names: Vec<&str> = seen
        .iter()
        .map(|ev| ev["object"]["metadata"]["name"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..writes).map(|i| format!("lag-{i}")).collect();
    assert_eq!(names, want, "every event once, in order, none missing");
    assert!(seen.iter().all(|ev| ev["type"] == "ADDED"));
}

#[tokio::test]
async fn a_watch_that_falls_behind_the_history_gets_410_gone() {
    let (app, body) = watched_server(50, 8).await;
    for i in 0..600 {
        post(&app, CMS, cm(&format!("gone-{i}"))).await;
    }
    let bytes = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .expect("the watch ends")
        .unwrap()
        .to_bytes();
    let last: Value = serde_json::from_slice(
        bytes
            .split(|b| *b == b'\n')
            .rfind(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["type"], "ERROR", "{last}");
    assert_eq!(last["object"]["code"], 410, "{last}");
}

fn pod_on(name: &str, node: Option<&str>) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "i"}]});
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pods_listed_by_node_follow_creates_bindings_and_deletes() {
    let app = server().await;
    const PODS: &str = "/api/v1/namespaces/default/pods";
    for (name, node) in [
        ("a", Some("n1")),
        ("b", Some("n2")),
        ("c", Some("n1")),
        ("d", None),
    ] {
        let (code, body) = post(&app, PODS, pod_on(name, node)).await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    let on =
        |node: &str, extra: &str| format!("{PODS}?fieldSelector=spec.nodeName%3D{node}{extra}");
    let (code, list) = get(&app, &on("n1", "")).await;
    assert_eq!(code, StatusCode::OK, "{list}");
    assert_eq!(names(&list), ["a", "c"]);
    assert!(list["metadata"]["resourceVersion"].as_str().is_some());
    // Across namespaces too, and combined with other selectors.
    let (_, all) = get(
        &app,
        "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1,metadata.name!%3Dc",
    )
    .await;
    assert_eq!(names(&all), ["a"]);

    // Binding moves an unbound pod onto the node; paging returns each pod once.
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "d"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}});
    let (code, body) = post(&app, &format!("{PODS}/d/binding"), binding).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (_, first) = get(&app, &on("n1", "&limit=2")).await;
    assert_eq!(names(&first), ["a", "c"]);
    let token = first["metadata"]["continue"]
        .as_str()
        .expect("a continue token")
        .to_string();
    let (_, second) = get(&app, &on("n1", &format!("&limit=2&continue={token}"))).await;
    assert_eq!(names(&second), ["d"]);
    assert!(second["metadata"].get("continue").is_none(), "{second}");

    // A bound pod is deleted gracefully unless the grace period is 0.
    let now = json!({"gracePeriodSeconds": 0});
    let (code, _) = call(
        &app,
        Method::DELETE,
        &format!("{PODS}/a"),
        "application/json",
        now,
    )
    .await;
    assert!(code.is_success());
    let (_, after) = get(&app, &on("n1", "")).await;
    assert_eq!(names(&after), ["c", "d"]);
    let (_, none) = get(&app, &on("n9", "")).await;
    assert_eq!(names(&none), Vec::<String>::new());
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
