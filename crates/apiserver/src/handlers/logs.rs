//! `GET pods/<name>/log`: the API server finds the pod's node and streams the container's log
//! from that node's agent (as the apiserver proxies to the kubelet). It reaches the agent over
//! TLS, checks the agent's certificate against the cluster CA and the node's address, and
//! presents its own agent-client certificate, which is all the agent accepts.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brume_api::resource::by_plural;
use http_body_util::BodyExt;
use serde_json::Value;

use super::Ctx;
use crate::{ApiError, object};

/// The agent port when the Node does not say (the kubelet's).
const DEFAULT_AGENT_PORT: u64 = 10250;

/// Streams one container's log.
pub async fn handle(ctx: Ctx) -> Result<Response, ApiError> {
    let info = ctx.target.info;
    let ns = ctx.target.namespace.clone().unwrap_or_default();
    let name = ctx.name().to_string();
    let kv = ctx
        .state
        .store
        .get(&info.key(Some(&ns), &name))
        .await?
        .ok_or_else(|| ApiError::not_found(info, &name))?;
    let pod = object::from_kv(&kv)?;
    let names = |field: &str| -> Vec<String> {
        pod.pointer(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("/spec/containers");
    let init_containers = names("/spec/initContainers");
    let container = match ctx.query.get("container") {
        Some(c) if !c.is_empty() => {
            if !containers.iter().chain(&init_containers).any(|n| n == c) {
                return Err(ApiError::BadRequest(format!(
                    "container {c} is not valid for pod {name}: choose one of [{}]",
                    containers.join(" ")
                )));
            }
            c.to_string()
        }
        _ if containers.len() == 1 => containers[0].clone(),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: the pod is not scheduled to a node yet"
        )));
    }
    let nodes = by_plural("", "v1", "nodes").expect("nodes are served");
    let node_obj = match ctx.state.store.get(&nodes.key(None, node)).await? {
        Some(kv) => object::from_kv(&kv)?,
        None => return Err(ApiError::not_found(nodes, node)),
    };
    let address = node_obj
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
        .and_then(|x| x["address"].as_str())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "node {node} has no InternalIP address to reach its agent"
            ))
        })?
        .to_string();
    let port = node_obj
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_AGENT_PORT);
    let mut query = Vec::new();
    for key in ["follow", "previous", "tailLines", "timestamps"] {
        if let Some(v) = ctx.query.get(key) {
            query.push(format!("{key}={v}"));
        }
    }
    let path = format!("/containerLogs/{ns}/{name}/{container}?{}", query.join("&"));
    let resp = fetch_from_agent(&ctx, node, &address, port as u16, &path).await?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body).trim().to_string();
        return Err(
            if status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST {
                ApiError::BadRequest(text)
            } else {
                ApiError::Internal(format!(
                    "the agent of node {node} answered {status}: {text}"
                ))
            },
        );
    }
    let mut out = (StatusCode::OK, Body::new(resp.into_body())).into_response();
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(out)
}

/// Sends `GET path` to the agent of `node` at `address:port` over mutual TLS.
async fn fetch_from_agent(
    ctx: &Ctx,
    node: &str,
    address: &str,
    port: u16,
    path: &str,
) -> Result<http::Response<hyper::body::Incoming>, ApiError> {
    let unreachable = |e: &dyn std::fmt::Display| {
        ApiError::Internal(format!(
            "cannot reach the agent of node {node} at {address}:{port} for logs: {e}"
        ))
    };
    let pki = ctx
        .state
        .pki
        .as_ref()
        .ok_or_else(|| ApiError::Internal("this server has no CA to reach agents".into()))?;
    let tls = pki
        .agent_client_config()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let ip: std::net::IpAddr = address
        .parse()
        .map_err(|_| unreachable(&"the node's InternalIP is not an IP address"))?;
    let tcp = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| unreachable(&e))?;
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect(rustls::pki_types::ServerName::IpAddress(ip.into()), tcp)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "agent log connection ended");
        }
    });
    let req = http::Request::get(path)
        .header(header::HOST, format!("{address}:{port}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    sender.send_request(req).await.map_err(|e| unreachable(&e))
}
