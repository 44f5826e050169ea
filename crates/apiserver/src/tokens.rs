//! The credentials the server accepts besides the admin token, kept in memory and current from
//! a watch on the Secrets that hold them (DESIGN §10):
//!
//! - join tokens: Kubernetes bootstrap-token Secrets, `kube-system/bootstrap-token-<id>` of
//!   type `bootstrap.kubernetes.io/token` with `token-id`, `token-secret` and an optional
//!   `expiration`; the token is `<id>.<secret>`;
//! - node credentials: `kube-system/brume-node-<name>` of type `fog.brume.io/node-token`, with
//!   `node-name` and `token-sha256` (the token itself is never stored).
//!
//! Deleting either Secret revokes the credential at once (`kubectl delete secret -n
//! kube-system ...`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use brume_api::authz::Identity;
use brume_store::{EventType, KeyValue, RangeRequest, Revision};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::Value;

use crate::pki::sha256_hex;
use crate::{ApiError, AppState};

/// The Secret type of join tokens (Kubernetes' bootstrap tokens).
pub const BOOTSTRAP_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The Secret type of node credentials.
pub const NODE_TOKEN_TYPE: &str = "fog.brume.io/node-token";
/// The namespace both live in.
pub const NAMESPACE: &str = "kube-system";
/// The name prefix of join-token Secrets.
pub const BOOTSTRAP_PREFIX: &str = "bootstrap-token-";
/// The name prefix of node-credential Secrets.
pub const NODE_PREFIX: &str = "brume-node-";

const SECRETS_PREFIX: &str = "/registry/core/secrets/kube-system/";

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    identity: Identity,
    expires: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Inner {
    /// SHA-256 of the token → who it is.
    by_hash: HashMap<String, Entry>,
    /// Store key → the hash it holds, so a deleted Secret can be forgotten.
    by_key: HashMap<String, String>,
}

impl Inner {
    fn apply(&mut self, key: &str, value: Option<&[u8]>) {
        let entry = value
            .and_then(|v| serde_json::from_slice::<Value>(v).ok())
            .and_then(|s| entry_of(&s));
        if let Some(old) = self.by_key.remove(key) {
            self.by_hash.remove(&old);
        }
        if let Some((hash, entry)) = entry {
            self.by_key.insert(key.to_string(), hash.clone());
            self.by_hash.insert(hash, entry);
        }
    }
}

/// Join tokens and node credentials, by the SHA-256 of the token.
#[derive(Clone, Default)]
pub struct TokenIndex(Arc<RwLock<Inner>>);

/// What a Secret in kube-system grants, if it is a credential: the hash of its token and the
/// identity.
fn entry_of(secret: &Value) -> Option<(String, Entry)> {
    let data = |k: &str| -> Option<String> {
        let b64 = secret["data"][k].as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        String::from_utf8(bytes).ok()
    };
    match secret["type"].as_str()? {
        BOOTSTRAP_TYPE => {
            let (id, secret_part) = (data("token-id")?, data("token-secret")?);
            if data("usage-bootstrap-authentication").as_deref() != Some("true") {
                return None;
            }
            let expires = match data("expiration") {
                Some(t) => Some(DateTime::parse_from_rfc3339(&t).ok()?.with_timezone(&Utc)),
                None => None,
            };
            let hash = sha256_hex(format!("{id}.{secret_part}").as_bytes());
            Some((
                hash,
                Entry {
                    identity: Identity::Bootstrap(id),
                    expires,
                },
            ))
        }
        NODE_TOKEN_TYPE => Some((
            data("token-sha256")?,
            Entry {
                identity: Identity::Node(data("node-name")?),
                expires: None,
            },
        )),
        _ => None,
    }
}

impl TokenIndex {
    /// Who `token` is, if it is a live join token or node credential.
    pub fn identity(&self, token: &str, now: DateTime<Utc>) -> Option<Identity> {
        let hash = sha256_hex(token.as_bytes());
        let inner = self.0.read().ok()?;
        let entry = inner.by_hash.get(&hash)?;
        match entry.expires {
            Some(t) if t <= now => None,
            _ => Some(entry.identity.clone()),
        }
    }

    /// Takes in a stored Secret (a put) or forgets one (`value` is `None`: a delete).
    fn apply(&self, key: &str, value: Option<&[u8]>) {
        if let Ok(mut inner) = self.0.write() {
            inner.apply(key, value);
        }
    }

    /// Reads every credential Secret and replaces what is known with them (a Secret deleted
    /// while no watch ran is forgotten); returns the revision to watch from.
    async fn load(&self, state: &AppState) -> Result<Revision, ApiError> {
        let page = state
            .store
            .range(RangeRequest {
                prefix: SECRETS_PREFIX.into(),
                ..RangeRequest::default()
            })
            .await?;
        let mut fresh = Inner::default();
        for KeyValue { key, value, .. } in &page.kvs {
            fresh.apply(key, Some(value));
        }
        if let Ok(mut inner) = self.0.write() {
            *inner = fresh;
        }
        Ok(page.revision)
    }
}

/// Loads the credentials (so the first request after start already finds them), then keeps
/// them current from a watch, re-listing whenever the watch ends.
pub async fn start(state: Arc<AppState>) -> Result<(), ApiError> {
    let index = state.tokens.clone();
    let mut rev = index.load(&state).await?;
    tokio::spawn(async move {
        loop {
            match state.store.watch(SECRETS_PREFIX, rev).await {
                Ok(mut events) => {
                    while let Some(Ok(ev)) = events.next().await {
                        rev = ev.kv.mod_revision;
                        let value = (ev.kind == EventType::Put).then_some(&ev.kv.value[..]);
                        index.apply(&ev.kv.key, value);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watching credentials failed"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            match index.load(&state).await {
                Ok(r) => rev = r,
                Err(e) => tracing::warn!(error = %e, "re-reading credentials failed"),
            }
        }
    });
    Ok(())
}

/// A join token's `(id, secret)`, in Kubernetes' bootstrap-token alphabet: `[a-z0-9]{6}` and
/// `[a-z0-9]{16}`.
pub fn new_bootstrap_token() -> (String, String) {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    };
    (pick(6), pick(16))
}

/// The Secret that makes `<id>.<secret>` a join token, in Kubernetes' bootstrap-token format,
/// valid until `expiration` (forever when `None`).
pub fn bootstrap_secret(
    id: &str,
    secret: &str,
    expiration: Option<DateTime<Utc>>,
    description: &str,
) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut data = serde_json::json!({
        "token-id": b64(id),
        "token-secret": b64(secret),
        "usage-bootstrap-authentication": b64("true"),
        "description": b64(description),
    });
    if let Some(t) = expiration {
        data["expiration"] =
            Value::String(b64(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("{BOOTSTRAP_PREFIX}{id}"), "namespace": NAMESPACE},
        "type": BOOTSTRAP_TYPE,
        "data": data,
    })
}

/// The server's standing join token (the data folder's `join-token` file): `current` if its
/// Secret still exists, else a new one stored now. Deleting the Secret therefore revokes the
/// token, and the next start writes a fresh one.
pub async fn ensure_join_token(
    state: &Arc<AppState>,
    current: Option<&str>,
) -> Result<String, ApiError> {
    let secrets = brume_api::resource::by_plural("", "v1", "secrets").expect("secrets are served");
    if let Some((id, _)) = current.and_then(|t| t.split_once('.'))
        && state
            .store
            .get(&secrets.key(Some(NAMESPACE), &format!("{BOOTSTRAP_PREFIX}{id}")))
            .await?
            .is_some()
    {
        return Ok(current.unwrap_or_default().to_string());
    }
    let (id, secret) = new_bootstrap_token();
    let obj = bootstrap_secret(
        &id,
        &secret,
        None,
        "the server's join token (join-token file)",
    );
    let obj = crate::handlers::prepare_create(secrets, Some(NAMESPACE), obj)?;
    let key = secrets.key(Some(NAMESPACE), &format!("{BOOTSTRAP_PREFIX}{id}"));
    match state
        .store
        .put(
            &key,
            crate::object::to_bytes(&obj),
            brume_store::Precondition::Absent,
        )
        .await?
    {
        brume_store::WriteOutcome::Done(kv) => state.tokens.apply(&kv.key, Some(&kv.value)),
        brume_store::WriteOutcome::Failed(_) => {
            return Err(ApiError::Internal(format!(
                "join token {id} exists already"
            )));
        }
    }
    Ok(format!("{id}.{secret}"))
}

/// Records a node credential just written, so the node's next request finds it even before
/// the watch delivers the write.
pub fn remember(index: &TokenIndex, kv: &KeyValue) {
    index.apply(&kv.key, Some(&kv.value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn bootstrap(id: &str, secret: &str, expiration: Option<&str>) -> Vec<u8> {
        let mut data = json!({"token-id": b64(id), "token-secret": b64(secret),
            "usage-bootstrap-authentication": b64("true")});
        if let Some(e) = expiration {
            data["expiration"] = json!(b64(e));
        }
        serde_json::to_vec(&json!({"type": BOOTSTRAP_TYPE, "data": data})).unwrap()
    }

    #[test]
    fn join_tokens_are_known_until_they_expire_or_are_deleted() {
        let index = TokenIndex::default();
        let key = "/registry/core/secrets/kube-system/bootstrap-token-abcdef";
        index.apply(
            key,
            Some(&bootstrap(
                "abcdef",
                "0123456789abcdef",
                Some("2030-01-01T00:00:00Z"),
            )),
        );
        let before = "2029-12-31T00:00:00Z".parse().unwrap();
        let after = "2030-01-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            index.identity("abcdef.0123456789abcdef", before),
            Some(Identity::Bootstrap("abcdef".into()))
        );
        assert_eq!(index.identity("abcdef.0123456789abcdef", after), None);
        assert_eq!(index.identity("abcdef.wrong", before), None);
        index.apply(key, None);
        assert_eq!(index.identity("abcdef.0123456789abcdef", before), None);
    }

    #[test]
    fn node_credentials_match_by_hash_and_a_rewrite_replaces_the_old_token() {
        let index = TokenIndex::default();
        let key = "/registry/core/secrets/kube-system/brume-node-n1";
        let secret = |token: &str| {
            serde_json::to_vec(&json!({"type": NODE_TOKEN_TYPE, "data": {
                "node-name": b64("n1"), "token-sha256": b64(&sha256_hex(token.as_bytes()))}}))
            .unwrap()
        };
        let now = Utc::now();
        index.apply(key, Some(&secret("first")));
        assert_eq!(
            index.identity("first", now),
            Some(Identity::Node("n1".into()))
        );
        index.apply(key, Some(&secret("second")));
        assert_eq!(index.identity("first", now), None);
        assert_eq!(
            index.identity("second", now),
            Some(Identity::Node("n1".into()))
        );
    }

    #[test]
    fn a_new_join_token_is_known_by_its_secret() {
        let (id, secret) = new_bootstrap_token();
        assert_eq!((id.len(), secret.len()), (6, 16));
        let obj = bootstrap_secret(&id, &secret, None, "test");
        let index = TokenIndex::default();
        index.apply("k", Some(&serde_json::to_vec(&obj).unwrap()));
        assert_eq!(
            index.identity(&format!("{id}.{secret}"), Utc::now()),
            Some(Identity::Bootstrap(id))
        );
    }

    #[test]
    fn other_secrets_grant_nothing() {
        let index = TokenIndex::default();
        let opaque = serde_json::to_vec(&json!({"type": "Opaque", "data": {
            "token-id": b64("abcdef"), "token-secret": b64("x")}}))
        .unwrap();
        index.apply("/registry/core/secrets/kube-system/x", Some(&opaque));
        let unused = bootstrap("abcdef", "x", None);
        let mut v: Value = serde_json::from_slice(&unused).unwrap();
        v["data"]["usage-bootstrap-authentication"] = json!(b64("false"));
        index.apply(
            "/registry/core/secrets/kube-system/y",
            Some(&serde_json::to_vec(&v).unwrap()),
        );
        assert_eq!(index.identity("abcdef.x", Utc::now()), None);
    }
}
