//! The `scale` subresource: an `autoscaling/v1` Scale view of `spec.replicas`, which is what
//! `kubectl scale` and autoscalers read and write.

use axum::http::StatusCode;
use axum::response::Response;
use brume_api::patch::{PatchType, apply_patch};
use brume_api::resource::by_kind;
use brume_api::selector::label::LabelSelector;
use brume_api::{FieldError, ResourceInfo};
use bytes::Bytes;
use serde_json::{Value, json};

use super::Ctx;
use super::write::{Mutation, update_object};
use crate::ApiError;
use crate::object::{self, resource_version};
use crate::response::json_response;

/// The Scale view of a scalable object.
fn scale_of(obj: &Value) -> Value {
    let meta = &obj["metadata"];
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_label_selector(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

async fn read(ctx: &Ctx) -> Result<Value, ApiError> {
    let info = ctx.target.info;
    let kv = ctx
        .state
        .store
        .get(&info.key(ctx.target.namespace.as_deref(), ctx.name()))
        .await?
        .ok_or_else(|| ApiError::not_found(info, ctx.name()))?;
    object::from_kv(&kv)
}

/// `GET .../scale`.
pub async fn get(ctx: Ctx) -> Result<Response, ApiError> {
    let obj = read(&ctx).await?;
    Ok(json_response(StatusCode::OK, &scale_of(&obj), &[]))
}

fn scale_info() -> &'static ResourceInfo {
    // Scale is not a stored kind; patches on it use the owner's kind for merge metadata, which
    // has no lists under spec.replicas, so any kind serves. Deployment is always present.
    by_kind("apps/v1", "Deployment").expect("deployments are always served")
}

fn replicas_of(scale: &Value, info: &ResourceInfo, name: &str) -> Result<i64, ApiError> {
    let r = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    match r.as_i64() {
        Some(n) if n >= 0 && n <= i64::from(i32::MAX) => Ok(n),
        _ => Err(ApiError::invalid(
            info,
            name,
            &[FieldError::invalid(
                "spec.replicas",
                r,
                "must be greater than or equal to 0",
            )],
        )),
    }
}

async fn write(
    ctx: Ctx,
    compute: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    let info = ctx.target.info;
    let name = ctx.name().to_string();
    let obj = update_object(
        &ctx.state,
        info,
        ctx.target.namespace.as_deref(),
        &name,
        Some("scale"),
        ctx.query.dry_run()?,
        |current| {
            let scale = compute(&scale_of(current))?;
            let expected = resource_version(&scale, info)?;
            if expected.is_some() && expected != resource_version(current, info)? {
                return Err(ApiError::conflict(info, &name));
            }
            let replicas = replicas_of(&scale, info, &name)?;
            let mut new = current.clone();
            new["spec"]["replicas"] = json!(replicas);
            Ok(Mutation::Replace(new))
        },
    )
    .await?;
    Ok(json_response(StatusCode::OK, &scale_of(&obj), &[]))
}

/// `PUT .../scale`.
pub async fn update(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    let scale: Value = brume_api::decode::parse_body(&body, ctx.content_type())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    write(ctx, move |_| Ok(scale.clone())).await
}

/// `PATCH .../scale`.
pub async fn patch(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    let ct = ctx.content_type().unwrap_or("").to_string();
    let patch_type = PatchType::from_content_type(&ct).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!("unsupported patch content type {ct:?}"))
    })?;
    write(ctx, move |scale| {
        apply_patch(scale_info(), scale, patch_type, &body)
            .map_err(|e| ApiError::BadRequest(e.to_string()))
    })
    .await
}
