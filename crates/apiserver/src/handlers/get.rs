//! GET of one object (or its status subresource, which is the same object).

use axum::http::StatusCode;
use axum::response::Response;

use super::Ctx;
use crate::response::{json_response, render_object};
use crate::{ApiError, object};

/// Reads one object.
pub async fn handle(ctx: Ctx) -> Result<Response, ApiError> {
    let info = ctx.target.info;
    let key = info.key(ctx.target.namespace.as_deref(), ctx.name());
    let kv = ctx
        .state
        .store
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(info, ctx.name()))?;
    let obj = object::from_kv(&kv)?;
    Ok(json_response(
        StatusCode::OK,
        &render_object(info, obj, ctx.render),
        &[],
    ))
}
