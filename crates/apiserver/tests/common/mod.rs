//! What the in-process integration tests share: a router on a memory store, and requests to it
//! over HTTP semantics without a socket.
#![allow(dead_code)] // each test binary uses its own part

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use base64::Engine;
use brume_apiserver::{AppState, Config};
use brume_store::{MemoryStore, Store};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const TOKEN: &str = "test-token";

pub async fn server() -> Router {
    let state = Arc::new(AppState::new(
        Arc::new(MemoryStore::new()) as Arc<dyn Store>,
        Config::new(TOKEN),
    ));
    brume_apiserver::start(state.clone()).await.unwrap();
    brume_apiserver::router(state)
}

pub async fn call(
    app: &Router,
    method: Method,
    path: &str,
    ct: &str,
    body: Value,
) -> (StatusCode, Value) {
    call_as(app, TOKEN, method, path, ct, "application/json", body).await
}

/// A request with its own bearer token and `Accept`.
pub async fn call_as(
    app: &Router,
    token: &str,
    method: Method,
    path: &str,
    ct: &str,
    accept: &str,
    body: Value,
) -> (StatusCode, Value) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", ct)
        .header("accept", accept)
        .body(Body::from(bytes))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

pub async fn post(app: &Router, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, Method::POST, path, "application/json", body).await
}

pub async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    call(app, Method::GET, path, "application/json", Value::Null).await
}

/// Gives `node` a credential, as joining does (a `fog.brume.io/node-token` Secret), and waits
/// until the server knows it; returns the token.
pub async fn node_credential(app: &Router, node: &str) -> String {
    let token = format!("token-of-{node}");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (code, secret) = post(
        app,
        "/api/v1/namespaces/kube-system/secrets",
        serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("brume-node-{node}")},
            "type": "fog.brume.io/node-token",
            "data": {"node-name": b64(node),
                "token-sha256": b64(&brume_apiserver::pki::sha256_hex(token.as_bytes()))}}),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{secret}");
    for _ in 0..200 {
        let (code, _) = call_as(
            app,
            &token,
            Method::GET,
            "/api/v1/nodes",
            "application/json",
            "application/json",
            Value::Null,
        )
        .await;
        if code != StatusCode::UNAUTHORIZED {
            assert_eq!(code, StatusCode::OK);
            return token;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the credential of {node} was never accepted");
}
