//! Registration and heartbeats against a real in-process API server.

use std::time::Duration;

use brume_agent::heartbeat::{self, HeartbeatConfig, LEASE_NAMESPACE};
use brume_agent::node::NodeIdentity;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Api;

#[tokio::test]
async fn an_agent_registers_and_keeps_its_lease_fresh() {
    let server = brume_testkit::TestServer::start().await;
    let client = server.client().await;
    let id = NodeIdentity {
        name: "edge-1".into(),
        address: "127.0.0.2".parse().unwrap(),
        labels: [("site".to_string(), "lyon".to_string())].into(),
        geo: None,
        handlers: vec!["process".into()],
        runtime_version: "process://test".into(),
        max_pods: 110,
    };
    heartbeat::register(&client, &id, &brume_agent::host::facts())
        .await
        .unwrap();
    // Registering again (an agent restart) updates instead of failing.
    heartbeat::register(&client, &id, &brume_agent::host::facts())
        .await
        .unwrap();
    let node = Api::<Node>::all(client.clone())
        .get("edge-1")
        .await
        .unwrap();
    let status = node.status.unwrap();
    assert!(status.capacity.unwrap().contains_key("cpu"));
    assert_eq!(status.conditions.unwrap()[0].type_, "Ready");
    assert_eq!(node.metadata.labels.unwrap()["site"], "lyon");

    let config = HeartbeatConfig {
        renew_every: Duration::from_millis(100),
        ..Default::default()
    };
    let task = tokio::spawn(heartbeat::run(client.clone(), "edge-1".into(), config));
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let first = leases
        .get("edge-1")
        .await
        .unwrap()
        .spec
        .unwrap()
        .renew_time
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = leases
        .get("edge-1")
        .await
        .unwrap()
        .spec
        .unwrap()
        .renew_time
        .unwrap();
    assert!(
        second.0 > first.0,
        "the lease was not renewed: {first:?} then {second:?}"
    );
    task.abort();
}
