//! Joining with a token, and what a node's own credential may and may not do, against a real
//! in-process API server over TLS (DESIGN §10).

use brume_agent::heartbeat::{self, LEASE_NAMESPACE};
use brume_agent::join::{self, JoinError, JoinToken};
use brume_agent::node::NodeIdentity;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn identity(name: &str) -> NodeIdentity {
    NodeIdentity {
        name: name.into(),
        address: "127.0.0.2".parse().unwrap(),
        labels: Default::default(),
        geo: None,
        handlers: vec!["process".into()],
        runtime_version: "process://test".into(),
        max_pods: 110,
    }
}

/// The HTTP code of a failed kube call.
fn code<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn joined(server: &brume_testkit::TestServer, node: &str) -> kube::Client {
    let token: JoinToken = server.join_token.parse().unwrap();
    let creds = join::join(&server.url(), &token, node, &["127.0.0.2".into()])
        .await
        .unwrap();
    assert_eq!(creds.ca_pem.trim(), server.ca_pem.trim());
    creds.client().await.unwrap()
}

#[tokio::test]
async fn a_joined_node_writes_only_what_is_its_own() {
    let server = brume_testkit::TestServer::start().await;
    let admin = server.client().await;
    let n1 = joined(&server, "edge-1").await;
    heartbeat::register(&n1, &identity("edge-1"), &brume_agent::host::facts())
        .await
        .unwrap();
    heartbeat::register(&admin, &identity("edge-2"), &brume_agent::host::facts())
        .await
        .unwrap();
    // Its own Node and Lease: yes.
    let nodes: Api<Node> = Api::all(n1.clone());
    let label = Patch::Merge(json!({"metadata": {"labels": {"checked": "yes"}}}));
    nodes
        .patch("edge-1", &PatchParams::default(), &label)
        .await
        .unwrap();
    heartbeat::renew_lease(&n1, "edge-1", std::time::Duration::from_secs(10))
        .await
        .unwrap();
    // Another node's: no, and the message says who and why.
    let (status, message) = code(nodes.patch("edge-2", &PatchParams::default(), &label).await);
    assert_eq!(status, 403);
    assert!(
        message.contains("User \"system:node:edge-1\" cannot patch resource \"nodes\""),
        "{message}"
    );
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(n1.clone(), LEASE_NAMESPACE);
    let (status, _) = code(
        leases
            .patch("edge-2", &PatchParams::default(), &label)
            .await,
    );
    assert_eq!(status, 403);
    // Reading the cluster is allowed.
    assert_eq!(
        nodes.list(&Default::default()).await.unwrap().items.len(),
        2
    );
    // Workloads are not a node's to write.
    let deploys: Api<Deployment> = Api::namespaced(n1.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
    .unwrap();
    assert_eq!(
        code(deploys.create(&PostParams::default(), &d).await).0,
        403
    );
}

#[tokio::test]
async fn a_node_writes_and_reads_secrets_only_for_pods_bound_to_it() {
    let server = brume_testkit::TestServer::start().await;
    let admin = server.client().await;
    let n1 = joined(&server, "edge-1").await;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), "default");
    for name in ["used", "unused"] {
        let s: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {"k": "v"}}))
                .unwrap();
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    for (name, node) in [("mine", "edge-1"), ("theirs", "edge-2")] {
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
            "nodeName": node,
            "volumes": [{"name": "s", "secret": {"secretName": if node == "edge-1" { "used" } else { "unused" }}}],
            "containers": [{"name": "c", "image": "i"}]}}))
        .unwrap();
        pods.create(&PostParams::default(), &p).await.unwrap();
    }
    let as_node: Api<Pod> = Api::namespaced(n1.clone(), "default");
    let status = Patch::Merge(json!({"status": {"phase": "Running"}}));
    as_node
        .patch_status("mine", &PatchParams::default(), &status)
        .await
        .unwrap();
    let (code_, message) = code(
        as_node
            .patch_status("theirs", &PatchParams::default(), &status)
            .await,
    );
    assert_eq!(code_, 403);
    assert!(message.contains("not bound to this node"), "{message}");
    assert_eq!(
        code(as_node.delete("theirs", &DeleteParams::default()).await).0,
        403
    );
    let node_secrets: Api<Secret> = Api::namespaced(n1.clone(), "default");
    assert!(node_secrets.get("used").await.is_ok());
    let (code_, message) = code(node_secrets.get("unused").await);
    assert_eq!(code_, 403);
    assert!(
        message.contains("no pod bound to this node uses"),
        "{message}"
    );
    assert_eq!(code(node_secrets.list(&Default::default()).await).0, 403);
    // The credentials in kube-system are out of reach.
    let system: Api<Secret> = Api::namespaced(n1, "kube-system");
    assert_eq!(code(system.list(&Default::default()).await).0, 403);
}

#[tokio::test]
async fn deleting_the_credential_secret_revokes_it_and_a_new_join_replaces_it() {
    let server = brume_testkit::TestServer::start().await;
    let admin = server.client().await;
    let first = joined(&server, "edge-1").await;
    let nodes: Api<Node> = Api::all(first.clone());
    nodes.list(&Default::default()).await.unwrap();
    // Joining again gives a new credential; the old one stops working.
    let second = joined(&server, "edge-1").await;
    assert_eq!(code(nodes.list(&Default::default()).await).0, 401);
    Api::<Node>::all(second.clone())
        .list(&Default::default())
        .await
        .unwrap();
    // Deleting the Secret revokes the credential (the watch delivers it).
    Api::<Secret>::namespaced(admin, "kube-system")
        .delete("brume-node-edge-1", &DeleteParams::default())
        .await
        .unwrap();
    let revoked = async {
        loop {
            match Api::<Node>::all(second.clone())
                .list(&Default::default())
                .await
            {
                Err(kube::Error::Api(s)) if s.code == 401 => return,
                _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), revoked)
        .await
        .expect("the deleted credential still works after 10 s");
}

#[tokio::test]
async fn a_join_token_is_refused_by_a_server_with_another_ca_and_only_joins() {
    let server = brume_testkit::TestServer::start().await;
    let other = brume_testkit::TestServer::start().await;
    let token: JoinToken = server.join_token.parse().unwrap();
    // Another server (another CA): the agent refuses before sending the secret.
    match join::join(&other.url(), &token, "edge-1", &["127.0.0.2".into()]).await {
        Err(JoinError::WrongCa { expected, .. }) => assert_eq!(expected, token.ca_sha256),
        Err(e) => panic!("expected WrongCa, got {e}"),
        Ok(_) => panic!("joined a server with another CA"),
    }
    // The bootstrap token itself may not read the cluster.
    let bootstrap = join::client_from_yaml(&join::kubeconfig_yaml(
        &server.url(),
        &server.ca_pem,
        "bootstrap",
        &token.secret,
    ))
    .await
    .unwrap();
    let (status, message) = code(
        Api::<Pod>::namespaced(bootstrap, "default")
            .list(&Default::default())
            .await,
    );
    assert_eq!(status, 403);
    assert!(message.contains("may only join"), "{message}");
    // Bad join requests name the field.
    let err = join::join(&server.url(), &token, "Edge_1", &["127.0.0.2".into()])
        .await
        .err()
        .expect("an invalid node name joined");
    assert!(err.to_string().contains("nodeName \"Edge_1\""), "{err}");
}
