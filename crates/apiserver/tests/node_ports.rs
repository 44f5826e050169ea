//! Node ports through the API: allocated on create, kept on update, refused when another
//! Service holds them, released when a Service is deleted or stops being a NodePort.

use http::{Method, StatusCode};
use serde_json::{Value, json};

mod common;
use common::{call, get, post, server};

const SVCS: &str = "/api/v1/namespaces/default/services";

fn service(name: &str, ports: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"type": "NodePort", "selector": {"app": name}, "ports": ports}})
}

fn node_ports(svc: &Value) -> Vec<i64> {
    svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["nodePort"].as_i64())
        .collect()
}

#[tokio::test]
async fn node_ports_are_allocated_kept_and_never_shared() {
    let app = server().await;
    let (code, web) = post(
        &app,
        SVCS,
        service(
            "web",
            json!([{"name": "http", "port": 80}, {"name": "https", "port": 443}]),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{web}");
    let allocated = node_ports(&web);
    assert_eq!(allocated.len(), 2);
    assert!(allocated.iter().all(|p| (30000..=32767).contains(p)));
    assert_ne!(allocated[0], allocated[1]);

    // Another Service asking for a held port is refused, and nothing is stored.
    let (code, status) = post(
        &app,
        SVCS,
        service("other", json!([{"port": 80, "nodePort": allocated[0]}])),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(
        status["message"],
        format!(
            "Service \"other\" is invalid: spec.ports[0].nodePort: Invalid value: {}: provided port is already allocated",
            allocated[0]
        )
    );
    assert_eq!(
        get(&app, &format!("{SVCS}/other")).await.0,
        StatusCode::NOT_FOUND
    );

    // An update that leaves nodePort out keeps the allocated ones.
    let (code, updated) = call(
        &app,
        Method::PATCH,
        &format!("{SVCS}/web"),
        "application/merge-patch+json",
        json!({"spec": {"ports": [{"name": "http", "port": 8080}, {"name": "https", "port": 443}]}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{updated}");
    assert_eq!(node_ports(&updated), allocated);

    // Turning it into a ClusterIP Service releases them, and another Service may take one.
    let (code, cluster) = call(
        &app,
        Method::PATCH,
        &format!("{SVCS}/web"),
        "application/merge-patch+json",
        json!({"spec": {"type": "ClusterIP"}}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{cluster}");
    assert!(node_ports(&cluster).is_empty(), "{cluster}");
    let (code, other) = post(
        &app,
        SVCS,
        service("other", json!([{"port": 80, "nodePort": allocated[0]}])),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{other}");
    assert_eq!(node_ports(&other), [allocated[0]]);
}

#[tokio::test]
async fn concurrent_creates_never_get_the_same_port() {
    let app = server().await;
    let creates = (0..16).map(|i| {
        let app = app.clone();
        async move {
            post(
                &app,
                SVCS,
                service(
                    &format!("s{i}"),
                    json!([{"name": "a", "port": 80}, {"name": "b", "port": 81}]),
                ),
            )
            .await
        }
    });
    let mut seen = std::collections::BTreeSet::new();
    for (code, svc) in futures::future::join_all(creates).await {
        assert_eq!(code, StatusCode::CREATED, "{svc}");
        for p in node_ports(&svc) {
            assert!(seen.insert(p), "node port {p} given twice");
        }
    }
    assert_eq!(seen.len(), 32);
}
