//! A real Brume API server in the test's process, on a memory store, served over TLS on a free
//! loopback port, with a kube-rs client for it. Scheduler, controller and agent tests drive it
//! through the same API path as production (DESIGN §2.1).
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use brume_apiserver::{AppState, Config, pki::Pki};
use brume_store::{MemoryStore, Store};

/// The admin token of test servers.
pub const TOKEN: &str = "brume-test-token";

/// A running in-process API server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The CA its serving certificate chains to, PEM.
    pub ca_pem: String,
    /// The server's shared state (its store, for assertions that bypass the API).
    pub state: Arc<AppState>,
    /// A join token agents can join with (`<ca-sha256>::<id>.<secret>`).
    pub join_token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on a fresh memory store.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let store = Arc::new(MemoryStore::new()) as Arc<dyn Store>;
        let pki =
            Arc::new(Pki::load_or_create(dir.path(), &["127.0.0.1".into()]).expect("certificates"));
        let state = Arc::new(AppState::new(store, Config::new(TOKEN)).with_pki(pki.clone()));
        brume_apiserver::start(state.clone())
            .await
            .expect("the API server prepares its store");
        let secret = brume_apiserver::tokens::ensure_join_token(&state, None)
            .await
            .expect("a join token");
        let join_token = format!("{}::{secret}", pki.ca_sha256().expect("the CA's hash"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        let tls = pki.server_config().expect("a TLS configuration");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(brume_apiserver::serve(
            listener,
            state.clone(),
            tls,
            async {
                let _ = stopped.await;
            },
        ));
        TestServer {
            addr,
            ca_pem: pki.ca_pem.clone(),
            state,
            join_token,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A kubeconfig (YAML) for the server with the admin token.
    pub fn kubeconfig_yaml(&self) -> String {
        let ca = base64_encode(self.ca_pem.as_bytes());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: t\n  user:\n    token: {TOKEN}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: t\n    namespace: default\ncurrent-context: t\n",
            self.url()
        )
    }

    /// A kube-rs client for the server.
    pub async fn client(&self) -> kube::Client {
        let kc =
            kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml()).expect("a kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("a client configuration");
        kube::Client::try_from(config).expect("a client")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_reaches_the_server() {
        let server = TestServer::start().await;
        let client = server.client().await;
        let v = client.apiserver_version().await.unwrap();
        assert_eq!(v.major, "1");
        let ns: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
        assert!(ns.get("default").await.is_ok());
    }
}
