//! Container logs for `kubectl logs`: workers record which container is current and which was
//! previous for each pod container, and a small HTTPS endpoint on the node address (the
//! kubelet's port, 10250) streams them. The API server's `pods/log` proxies to it; the
//! endpoint's TLS asks for a client certificate from the cluster CA (see
//! [`crate::join::log_tls`]), so only the API server is served.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use brume_runtime::{ContainerId, ContainerRuntime, LogOptions};
use futures::StreamExt;

/// The port agents serve logs on (the kubelet's).
pub const AGENT_PORT: u16 = 10250;

/// Where one pod container's logs are.
#[derive(Clone)]
pub struct LogTarget {
    /// The runtime that holds the container.
    pub runtime: Arc<dyn ContainerRuntime>,
    /// The current attempt.
    pub current: Option<ContainerId>,
    /// The attempt before it (`--previous`).
    pub previous: Option<ContainerId>,
}

/// The log targets of every pod container on the node, keyed `namespace/pod/container`.
#[derive(Clone, Default)]
pub struct LogRegistry(Arc<RwLock<HashMap<String, LogTarget>>>);

fn key(ns: &str, pod: &str, container: &str) -> String {
    format!("{ns}/{pod}/{container}")
}

impl LogRegistry {
    /// Records that a new attempt of a container started.
    pub fn started(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        runtime: Arc<dyn ContainerRuntime>,
        id: ContainerId,
    ) {
        if let Ok(mut map) = self.0.write() {
            let entry = map.entry(key(ns, pod, container)).or_insert(LogTarget {
                runtime,
                current: None,
                previous: None,
            });
            entry.previous = entry.current.take();
            entry.current = Some(id);
        }
    }

    /// Forgets a pod's containers.
    pub fn forget_pod(&self, ns: &str, pod: &str) {
        if let Ok(mut map) = self.0.write() {
            let prefix = format!("{ns}/{pod}/");
            map.retain(|k, _| !k.starts_with(&prefix));
        }
    }

    /// The runtime and current attempt of a pod container, if one has started on this node
    /// (the metrics reporter reads its counters through it).
    pub fn current(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
    ) -> Option<(Arc<dyn ContainerRuntime>, ContainerId)> {
        let target = self.get(ns, pod, container)?;
        Some((target.runtime, target.current?))
    }

    fn get(&self, ns: &str, pod: &str, container: &str) -> Option<LogTarget> {
        self.0.read().ok()?.get(&key(ns, pod, container)).cloned()
    }
}

#[derive(Clone)]
struct Server {
    logs: LogRegistry,
}

#[derive(serde::Deserialize)]
struct LogQuery {
    #[serde(default)]
    follow: Option<String>,
    #[serde(default)]
    previous: Option<String>,
    #[serde(default, rename = "tailLines")]
    tail_lines: Option<usize>,
    #[serde(default)]
    timestamps: Option<String>,
}

fn yes(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("true" | "1"))
}

async fn container_logs(
    State(server): State<Server>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let Some(target) = server.logs.get(&ns, &pod, &container) else {
        return (
            StatusCode::NOT_FOUND,
            format!("container {container:?} of pod {ns}/{pod} has not run on this node\n"),
        )
            .into_response();
    };
    let id = if yes(&q.previous) {
        target.previous
    } else {
        target.current
    };
    let Some(id) = id else {
        let which = if yes(&q.previous) {
            "previous terminated"
        } else {
            "current"
        };
        return (
            StatusCode::BAD_REQUEST,
            format!("{which} container {container:?} in pod {pod:?} not found\n"),
        )
            .into_response();
    };
    let opts = LogOptions {
        follow: yes(&q.follow),
        tail_lines: q.tail_lines,
        timestamps: yes(&q.timestamps),
    };
    match target.runtime.logs(&id, &opts).await {
        Ok(stream) => {
            let body = Body::from_stream(stream.map(|r| r.map_err(std::io::Error::other)));
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Binds the log endpoint on `addr`. Done before the node registers, so an agent that cannot
/// serve logs (the port is taken) refuses to start instead of running half-reachable.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves logs on `listener` over TLS with `tls` (which decides who may connect), until the
/// process stops.
pub async fn serve(
    listener: tokio::net::TcpListener,
    logs: LogRegistry,
    tls: rustls::ServerConfig,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let app = Router::new()
        .route(
            "/containerLogs/{ns}/{pod}/{container}",
            axum::routing::get(container_logs),
        )
        .with_state(Server { logs });
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "log endpoint accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "log endpoint: TLS handshake refused");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "log connection ended with an error");
            }
        });
    }
}
