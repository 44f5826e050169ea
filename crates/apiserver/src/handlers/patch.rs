//! PATCH of an object or its status: JSON, merge and strategic-merge patches.

use axum::http::StatusCode;
use axum::response::Response;
use brume_api::decode::check_fields;
use brume_api::patch::{PatchError, PatchType, apply_patch};
use bytes::Bytes;

use super::Ctx;
use super::write::{Mutation, update_object};
use crate::ApiError;
use crate::object::{meta_str, resource_version};
use crate::response::{json_response, render_object};

/// Applies a patch to the current object and stores the result.
pub async fn handle(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    let info = ctx.target.info;
    let ct = ctx.content_type().unwrap_or("");
    let patch_type = PatchType::from_content_type(ct).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "the body of a PATCH must be one of application/json-patch+json, \
             application/merge-patch+json or application/strategic-merge-patch+json, not {ct:?}"
        ))
    })?;
    let mode = ctx.query.field_validation()?;
    let name = ctx.name().to_string();
    let mut warnings = Vec::new();
    let obj = update_object(
        &ctx.state,
        info,
        ctx.target.namespace.as_deref(),
        &name,
        ctx.target.sub.as_deref(),
        ctx.query.dry_run()?,
        |current| {
            let patched = apply_patch(info, current, patch_type, &body).map_err(|e| match e {
                PatchError::Unsupported(_) => ApiError::UnsupportedMediaType(e.to_string()),
                // A well-formed patch that cannot apply to this object is 422, as in
                // Kubernetes; only a patch that cannot be read is 400.
                PatchError::Operation { .. } | PatchError::Strategic { .. } => ApiError::Invalid {
                    message: e.to_string(),
                    details: serde_json::json!({"name": name, "group": info.group, "kind": info.plural}),
                },
                other => ApiError::BadRequest(other.to_string()),
            })?;
            let decoded = check_fields(info, patched, mode)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            warnings = decoded.warnings;
            let new = decoded.object;
            if meta_str(&new, "name") != name {
                return Err(ApiError::BadRequest(format!(
                    "the patch may not change metadata.name (from {name:?} to {:?})",
                    meta_str(&new, "name")
                )));
            }
            // A patch that names a resourceVersion is a precondition on it.
            if resource_version(&new, info)? != resource_version(current, info)? {
                return Err(ApiError::conflict(info, &name));
            }
            if new == *current {
                return Ok(Mutation::Unchanged);
            }
            Ok(Mutation::Replace(new))
        },
    )
    .await?;
    let out = render_object(info, obj, ctx.render);
    Ok(json_response(StatusCode::OK, &out, &warnings))
}
