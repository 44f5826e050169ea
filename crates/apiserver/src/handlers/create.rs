//! POST on a collection (create), and the pod `binding` subresource.

use axum::http::StatusCode;
use axum::response::Response;
use brume_api::FieldError;
use brume_api::decode::{decode, parse_body};
use bytes::Bytes;
use serde_json::{Value, json};

use super::Ctx;
use super::write::{Mutation, create_object, update_object};
use crate::ApiError;
use crate::response::{json_response, render_object};

/// Creates an object in the collection.
pub async fn handle(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    let info = ctx.target.info;
    if info.namespaced() && ctx.target.namespace.is_none() {
        return Err(ApiError::MethodNotAllowed(format!(
            "create {} in a namespace: POST /.../namespaces/<namespace>/{}",
            info.plural, info.plural
        )));
    }
    let mode = ctx.query.field_validation()?;
    let dry_run = ctx.query.dry_run()?;
    let decoded = decode(&body, ctx.content_type(), info, mode)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let obj = create_object(
        &ctx.state,
        info,
        ctx.target.namespace.as_deref(),
        decoded.object,
        dry_run,
    )
    .await?;
    let out = render_object(info, obj, ctx.render);
    Ok(json_response(StatusCode::CREATED, &out, &decoded.warnings))
}

/// `POST pods/<name>/binding`: assigns the pod to a node, once (what the scheduler calls).
pub async fn binding(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    let info = ctx.target.info;
    let binding: Value =
        parse_body(&body, ctx.content_type()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = ctx.name().to_string();
    if node.is_empty() {
        return Err(ApiError::invalid(
            info,
            &name,
            &[FieldError::required(
                "target.name",
                "the node to bind the pod to",
            )],
        ));
    }
    update_object(
        &ctx.state,
        info,
        ctx.target.namespace.as_deref(),
        &name,
        Some("binding"),
        ctx.query.dry_run()?,
        |current| {
            let bound = current
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !bound.is_empty() {
                return Err(ApiError::conflict_because(
                    info,
                    &name,
                    &format!("pod {name} is already assigned to node \"{bound}\""),
                ));
            }
            let mut new = current.clone();
            new["spec"]["nodeName"] = json!(node);
            // As the Kubernetes binding does: the pod is now scheduled.
            let now = crate::object::now_rfc3339();
            let mut conditions: Vec<Value> = new
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            conditions.retain(|c| c["type"] != "PodScheduled");
            conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
            if !new.get("status").is_some_and(Value::is_object) {
                new["status"] = json!({});
            }
            new["status"]["conditions"] = json!(conditions);
            Ok(Mutation::Replace(new))
        },
    )
    .await?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(json_response(StatusCode::CREATED, &status, &[]))
}
