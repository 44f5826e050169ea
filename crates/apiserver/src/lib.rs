//! The Kubernetes-compatible API server: REST and watch over the [`brume_store::Store`], with
//! discovery, OpenAPI, tables, selectors, patches, subresources, finalizers and garbage
//! collection (DESIGN §4). It is the only component that touches the store.
#![warn(missing_docs)]

mod auth;
mod autoscalers;
mod decoded;
mod discovery;
mod gc;
mod handlers;
pub mod join;
mod node_ports;
mod object;
mod openapi;
mod params;
mod path;
pub mod pki;
pub mod pods_by_node;
mod response;
mod status;
pub mod tokens;

pub use status::ApiError;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use brume_store::Store;

/// Requests larger than this get 413 (DESIGN §4, like Kubernetes' 3 MiB limit).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How the API server behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// The bearer token every request but the health endpoints and `/version` must carry.
    pub token: String,
    /// How often a watch that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
    /// The namespaces created at start if missing.
    pub initial_namespaces: Vec<String>,
}

impl Config {
    /// A configuration with the given admin token and Kubernetes-like defaults.
    pub fn new(token: impl Into<String>) -> Self {
        Config {
            token: token.into(),
            bookmark_interval: Duration::from_secs(10),
            initial_namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// The store; only the API server writes to it.
    pub store: Arc<dyn Store>,
    /// The configuration.
    pub config: Config,
    /// Join tokens and node credentials.
    pub tokens: tokens::TokenIndex,
    /// Recent store events, decoded once for every watch.
    decoded: decoded::DecodedEvents,
    /// Pod keys by `spec.nodeName`, for lists that select one node's pods.
    pub pods_by_node: pods_by_node::PodsByNode,
    /// The CA, to issue node certificates and to reach agents; `None` only in tests that
    /// serve without TLS.
    pub pki: Option<Arc<pki::Pki>>,
    /// Namespaces last seen existing and not terminating, so that creates need not read the
    /// namespace each time. Every write to a namespace in this process drops its entry.
    open_namespaces: std::sync::RwLock<std::collections::HashSet<String>>,
    /// Counts namespace writes, so a read that raced with one is not remembered.
    namespace_epoch: std::sync::atomic::AtomicU64,
    /// Serializes Service writes, so that each one sees the node ports the others hold.
    service_writes: tokio::sync::Mutex<()>,
    /// Serializes HorizontalPodAutoscaler and LatencyAutoscaler writes, so that each one sees
    /// the workloads the others size.
    autoscaler_writes: tokio::sync::Mutex<()>,
}

impl AppState {
    /// The state of a server on `store` with `config`.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        AppState {
            store,
            config,
            tokens: Default::default(),
            decoded: Default::default(),
            pods_by_node: Default::default(),
            pki: None,
            open_namespaces: Default::default(),
            namespace_epoch: Default::default(),
            service_writes: Default::default(),
            autoscaler_writes: Default::default(),
        }
    }

    /// The same state with `pki` as its CA (node certificates, the client towards agents).
    pub fn with_pki(mut self, pki: Arc<pki::Pki>) -> Self {
        self.pki = Some(pki);
        self
    }

    fn namespace_epoch(&self) -> u64 {
        self.namespace_epoch
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn namespace_known_open(&self, ns: &str) -> bool {
        self.open_namespaces
            .read()
            .is_ok_and(|set| set.contains(ns))
    }

    /// Remembers an open namespace, unless a namespace was written since `epoch` (when the
    /// caller read it): then the read may be stale and the next create reads again.
    fn remember_open_namespace(&self, ns: &str, epoch: u64) {
        if let Ok(mut set) = self.open_namespaces.write()
            && self.namespace_epoch() == epoch
        {
            set.insert(ns.to_string());
        }
    }

    /// Forgets a namespace that is being written (deleted, finalized, updated).
    fn forget_namespace(&self, ns: &str) {
        if let Ok(mut set) = self.open_namespaces.write() {
            self.namespace_epoch
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            set.remove(ns);
        }
    }
}

/// The HTTP routes of the API server.
pub fn router(state: Arc<AppState>) -> Router {
    let open = Router::new()
        .route("/healthz", get(discovery::healthz))
        .route("/livez", get(discovery::healthz))
        .route("/readyz", get(discovery::healthz))
        .route("/version", get(discovery::version));
    let guarded = Router::new()
        .route("/api", get(discovery::api_versions))
        .route("/apis", get(discovery::api_groups))
        .route("/openapi/v3", get(openapi::index))
        .route("/openapi/v3/{*rest}", get(openapi::document))
        .route(join::JOIN_PATH, axum::routing::post(join::handle))
        .fallback(handlers::dispatch)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    open.merge(guarded).with_state(state)
}

/// Prepares the store (the initial namespaces) and starts the background loops (garbage
/// collection, namespace deletion). Call once before serving.
pub async fn start(state: Arc<AppState>) -> Result<(), ApiError> {
    handlers::ensure_namespaces(&state).await?;
    tokens::start(state.clone()).await?;
    pods_by_node::spawn(state.clone());
    gc::spawn(state);
    Ok(())
}

/// Serves the API over TLS on `listener` until `shutdown` completes. Each connection is served
/// on its own task, HTTP/2 or HTTP/1.1 as the client prefers (ALPN).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    tls: rustls::ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let app = router(state);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
