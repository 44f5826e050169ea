//! The Kubernetes-compatible API server: REST and watch over the [`brume_store::Store`], with
//! discovery, OpenAPI, tables, selectors, patches, subresources, finalizers and garbage
//! collection (DESIGN §4). It is the only component that touches the store.
#![warn(missing_docs)]

mod auth;
mod discovery;
mod gc;
mod handlers;
mod object;
mod openapi;
mod params;
mod path;
pub mod pki;
mod response;
mod status;

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
