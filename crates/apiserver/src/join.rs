//! `POST /brume/v1/join`: a node joins the cluster (DESIGN §10).
//!
//! The agent has checked the server's CA against the hash in its join token, and presents the
//! token's `<id>.<secret>`. It asks for a credential for its node name and addresses, and gets
//! back a bearer token of its own (stored only as a hash, in `kube-system/brume-node-<name>`)
//! and a serving certificate for its log endpoint, issued by the cluster CA. A node that joins
//! again gets a new credential, and its old one stops working.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use brume_api::authz::Identity;
use brume_api::resource::by_plural;
use brume_api::validation::name::dns1123_subdomain;
use brume_store::{Precondition, WriteOutcome};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::handlers::prepare_create;
use crate::pki::sha256_hex;
use crate::response::json_response;
use crate::tokens::{self, NAMESPACE, NODE_PREFIX, NODE_TOKEN_TYPE};
use crate::{ApiError, AppState, object};

/// The path agents join at.
pub const JOIN_PATH: &str = "/brume/v1/join";

/// What a joining agent asks for.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinRequest {
    /// The node's name.
    pub node_name: String,
    /// The addresses the node is reached at (its serving certificate names them).
    pub addresses: Vec<String>,
}

/// What the server answers: the node's own credential.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinResponse {
    /// The node's name.
    pub node_name: String,
    /// The node's bearer token.
    pub token: String,
    /// The serving certificate of the node's agent, PEM.
    pub certificate: String,
    /// Its private key, PEM.
    pub key: String,
}

/// At most this many addresses per node.
const MAX_ADDRESSES: usize = 8;

fn invalid(field: &str, value: &str, why: &str) -> ApiError {
    ApiError::BadRequest(format!("join request: {field} {value:?} is invalid: {why}"))
}

/// Checks a join request; every problem names the field and what would be valid.
fn check(req: &JoinRequest) -> Result<(), ApiError> {
    let errs = dns1123_subdomain(&req.node_name);
    if let Some(first) = errs.first() {
        return Err(invalid("nodeName", &req.node_name, first));
    }
    if req.node_name.len() > 253 - NODE_PREFIX.len() {
        return Err(invalid(
            "nodeName",
            &req.node_name,
            &format!("must be at most {} characters", 253 - NODE_PREFIX.len()),
        ));
    }
    if req.addresses.is_empty() || req.addresses.len() > MAX_ADDRESSES {
        return Err(ApiError::BadRequest(format!(
            "join request: addresses must list 1 to {MAX_ADDRESSES} IP addresses, got {}",
            req.addresses.len()
        )));
    }
    for a in &req.addresses {
        if a.parse::<IpAddr>().is_err() {
            return Err(invalid(
                "addresses",
                a,
                "not an IP address (such as 10.0.0.7 or fd00::7)",
            ));
        }
    }
    Ok(())
}

/// A fresh random token: 32 bytes in hex.
fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Handles a join.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    Extension(identity): Extension<Identity>,
    body: Bytes,
) -> Response {
    match join(&state, &identity, &body).await {
        Ok(resp) => json_response(
            http::StatusCode::CREATED,
            &serde_json::to_value(&resp).unwrap_or_default(),
            &[],
        ),
        Err(e) => e.into_response(),
    }
}

async fn join(
    state: &Arc<AppState>,
    identity: &Identity,
    body: &[u8],
) -> Result<JoinResponse, ApiError> {
    if let Identity::Node(n) = identity {
        return Err(ApiError::Forbidden(format!(
            "User \"system:node:{n}\" cannot join: joining takes a join token \
             (`brume token create`) or the admin credential"
        )));
    }
    let req: JoinRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "join request: {e}; expected {{\"nodeName\": \"<name>\", \"addresses\": [\"<ip>\"]}}"
        ))
    })?;
    check(&req)?;
    let pki = state.pki.as_ref().ok_or_else(|| {
        ApiError::Internal("this server has no CA to issue node certificates".into())
    })?;
    let issued = pki
        .issue_node(&req.node_name, &req.addresses)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let token = new_token();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let secrets = by_plural("", "v1", "secrets").expect("secrets are served");
    let name = format!("{NODE_PREFIX}{}", req.node_name);
    let secret = prepare_create(
        secrets,
        Some(NAMESPACE),
        json!({
            "metadata": {"name": name, "labels": {"fog.brume.io/node": req.node_name}},
            "type": NODE_TOKEN_TYPE,
            "data": {"node-name": b64(&req.node_name), "token-sha256": b64(&sha256_hex(token.as_bytes()))},
        }),
    )?;
    let key = secrets.key(Some(NAMESPACE), &name);
    match state
        .store
        .put(&key, object::to_bytes(&secret), Precondition::None)
        .await?
    {
        WriteOutcome::Done(kv) => tokens::remember(&state.tokens, &kv),
        WriteOutcome::Failed(_) => {
            return Err(ApiError::Internal(format!(
                "storing the credential of node {}",
                req.node_name
            )));
        }
    }
    tracing::info!(node = %req.node_name, by = %identity.user(), "node joined");
    Ok(JoinResponse {
        node_name: req.node_name,
        token,
        certificate: issued.cert_pem,
        key: issued.key_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, addresses: &[&str]) -> JoinRequest {
        JoinRequest {
            node_name: name.into(),
            addresses: addresses.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn bad_join_requests_name_the_field() {
        let msg = |r: JoinRequest| check(&r).unwrap_err().to_string();
        assert!(msg(req("Edge_1", &["10.0.0.1"])).contains("nodeName \"Edge_1\""));
        assert!(msg(req("edge-1", &[])).contains("1 to 8 IP addresses"));
        assert!(msg(req("edge-1", &["ten"])).contains("addresses \"ten\""));
        assert!(check(&req("edge-1", &["10.0.0.1", "fd00::1"])).is_ok());
    }

    #[test]
    fn tokens_are_fresh_and_long() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
