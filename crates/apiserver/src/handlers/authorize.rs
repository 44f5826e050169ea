//! Authorization of resource requests: the pure rules of [`brume_api::authz`], plus the store
//! reads some of them need (which node a pod is bound to; which pods use a secret).

use axum::http::Method;
use brume_api::authz::{self, Decision, Identity, Request, Verb};
use brume_api::resource::by_plural;
use brume_store::RangeRequest;
use bytes::Bytes;
use serde_json::Value;

use super::Ctx;
use crate::{ApiError, object};

/// The verb of a request, from its method and target.
fn verb(method: &Method, ctx: &Ctx) -> Verb {
    let item = ctx.target.name.is_some();
    match *method {
        Method::GET if !item && ctx.query.flag("watch") => Verb::Watch,
        Method::GET if !item => Verb::List,
        Method::GET => Verb::Get,
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE if item => Verb::Delete,
        _ => Verb::DeleteCollection,
    }
}

/// The `metadata.name` of a create's JSON body (agents send JSON), if it has one.
fn created_name(body: &Bytes) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Meta {
        name: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct NameOnly {
        metadata: Option<Meta>,
    }
    serde_json::from_slice::<NameOnly>(body)
        .ok()?
        .metadata?
        .name
}

/// Returns 403 unless `identity` may make this request.
pub async fn check(
    ctx: &Ctx,
    identity: &Identity,
    method: &Method,
    body: &Bytes,
) -> Result<(), ApiError> {
    if *identity == Identity::Admin {
        return Ok(());
    }
    let verb = verb(method, ctx);
    let body_name = (verb == Verb::Create && ctx.target.name.is_none())
        .then(|| created_name(body))
        .flatten();
    let info = ctx.target.info;
    let req = Request {
        verb,
        group: info.group,
        plural: info.plural,
        sub: ctx.target.sub.as_deref(),
        namespace: ctx.target.namespace.as_deref(),
        name: ctx.target.name.as_deref().or(body_name.as_deref()),
    };
    let Identity::Node(node) = identity else {
        return match authz::decide(identity, &req) {
            Decision::Allow => Ok(()),
            other => Err(deny(identity, &req, other)),
        };
    };
    let ns = req.namespace.unwrap_or("");
    let decision = authz::decide(identity, &req);
    let allowed = match &decision {
        Decision::Allow => true,
        Decision::Deny(_) => false,
        // A missing pod is the handler's 404 to give for a pod write, but a refusal for an
        // object about a pod.
        Decision::IfPodOnNode(name) => pod_on_node(ctx, ns, name, node).await?.unwrap_or(true),
        Decision::IfExistingPodOnNode(name) => {
            pod_on_node(ctx, ns, name, node).await?.unwrap_or(false)
        }
        Decision::IfSecretUsedOnNode(name) => pods_on_node(ctx, ns, node)
            .await?
            .iter()
            .any(|pod| authz::pod_uses_secret(pod, name)),
    };
    if allowed {
        Ok(())
    } else {
        Err(deny(identity, &req, decision))
    }
}

/// Whether the pod `namespace/name` is bound to `node`; `None` when there is no such pod.
async fn pod_on_node(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
    node: &str,
) -> Result<Option<bool>, ApiError> {
    let pods = by_plural("", "v1", "pods").expect("pods are served");
    match ctx
        .state
        .store
        .get(&pods.key(Some(namespace), name))
        .await?
    {
        None => Ok(None),
        Some(kv) => {
            let pod = object::from_kv(&kv)?;
            Ok(Some(
                pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node),
            ))
        }
    }
}

fn deny(identity: &Identity, req: &Request, decision: Decision) -> ApiError {
    let reason = match decision {
        Decision::Deny(why) => why,
        Decision::IfPodOnNode(name) => {
            format!("pod {name:?} is not bound to this node; a node may only write its own pods")
        }
        Decision::IfExistingPodOnNode(name) => format!(
            "no pod {name:?} bound to this node exists in this namespace; a node may only write \
             the metrics of its own pods"
        ),
        Decision::IfSecretUsedOnNode(name) => format!(
            "no pod bound to this node uses secret {name:?}; a node may only read the secrets \
             of its own pods"
        ),
        Decision::Allow => String::new(),
    };
    ApiError::Forbidden(authz::forbidden_message(identity, req, &reason))
}

/// The pods of `namespace` bound to `node`.
async fn pods_on_node(ctx: &Ctx, namespace: &str, node: &str) -> Result<Vec<Value>, ApiError> {
    let pods = by_plural("", "v1", "pods").expect("pods are served");
    let page = ctx
        .state
        .store
        .range(RangeRequest {
            prefix: pods.key_prefix(Some(namespace)),
            ..RangeRequest::default()
        })
        .await?;
    let mut out = Vec::new();
    for kv in &page.kvs {
        let pod = object::from_kv(kv)?;
        if pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node) {
            out.push(pod);
        }
    }
    Ok(out)
}
