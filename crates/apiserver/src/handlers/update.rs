//! PUT of an object, its status, or a namespace's finalizers: replace with optimistic
//! concurrency on `metadata.resourceVersion`.

use axum::http::StatusCode;
use axum::response::Response;
use brume_api::decode::decode;
use bytes::Bytes;

use super::Ctx;
use super::write::{Mutation, update_object};
use crate::ApiError;
use crate::object::{meta_str, resource_version};
use crate::response::{json_response, render_object};

/// Replaces an object.
pub async fn handle(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    let info = ctx.target.info;
    let mode = ctx.query.field_validation()?;
    let decoded = decode(&body, ctx.content_type(), info, mode)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let new = decoded.object;
    let name = ctx.name().to_string();
    let body_name = meta_str(&new, "name");
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let expected = resource_version(&new, info)?;
    let obj = update_object(
        &ctx.state,
        info,
        ctx.target.namespace.as_deref(),
        &name,
        ctx.target.sub.as_deref(),
        ctx.query.dry_run()?,
        |current| {
            let current_rv = resource_version(current, info)?;
            if expected.is_some() && expected != current_rv {
                return Err(ApiError::conflict(info, &name));
            }
            Ok(Mutation::Replace(new.clone()))
        },
    )
    .await?;
    let out = render_object(info, obj, ctx.render);
    Ok(json_response(StatusCode::OK, &out, &decoded.warnings))
}
