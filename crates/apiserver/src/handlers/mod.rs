//! The resource handlers, one file per verb, and the dispatch that picks one from the method
//! and the URL.

mod authorize;
mod create;
mod delete;
mod get;
mod list;
mod logs;
mod patch;
mod scale;
mod update;
mod watch;
mod write;

pub use delete::{DeleteOptions, Deleted, FOREGROUND, ORPHAN, Propagation, delete_object};
pub use write::{Mutation, ensure_namespaces, namespaces, prepare_create, update_object};

/// The store key of a namespace object.
pub fn namespace_key(name: &str) -> String {
    namespaces().key(None, name)
}

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::params::Query;
use crate::path::{self, Route, Target};
use crate::response::{Render, json_response};
use crate::{ApiError, AppState, MAX_BODY_BYTES, discovery};

/// Everything a handler needs about one request.
pub struct Ctx {
    /// Shared server state.
    pub state: Arc<AppState>,
    /// What the URL addresses.
    pub target: Target,
    /// The query parameters.
    pub query: Query,
    /// The request headers.
    pub headers: HeaderMap,
    /// How to render objects.
    pub render: Render,
}

impl Ctx {
    /// The `Content-Type` of the request, without parameters.
    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim())
    }

    /// The object name from the URL; item handlers are only reached with one.
    pub fn name(&self) -> &str {
        self.target.name.as_deref().unwrap_or("")
    }
}

/// Routes every `/api` and `/apis` request that is not plain discovery.
pub async fn dispatch(State(state): State<Arc<AppState>>, req: Request) -> Response {
    match dispatch_inner(state, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn read_body(body: Body, headers: &HeaderMap) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "the request body is larger than the limit of {MAX_BODY_BYTES} bytes (3 MiB)"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())
}

async fn dispatch_inner(state: Arc<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let route = path::parse(parts.uri.path())?;
    let target = match route {
        Route::Group(g) => {
            let doc = discovery::api_group(&g).ok_or_else(|| path::parse("/").unwrap_err())?;
            return Ok(json_response(http::StatusCode::OK, &doc, &[]));
        }
        Route::GroupVersion(g, v) => {
            let doc = discovery::resource_list(&g, &v).ok_or_else(|| ApiError::NotFound {
                message: format!(
                    "the server could not find the requested resource: no group-version {g}/{v}"
                ),
                details: serde_json::json!({}),
            })?;
            return Ok(json_response(http::StatusCode::OK, &doc, &[]));
        }
        Route::Resource(t) => t,
    };
    let identity = parts
        .extensions
        .get::<brume_api::authz::Identity>()
        .cloned()
        .ok_or(ApiError::Unauthorized)?;
    let query = Query::parse(parts.uri.query());
    let render = Render::negotiate(&parts.headers, &query);
    let method = parts.method.clone();
    let body = read_body(body, &parts.headers).await?;
    let ctx = Ctx {
        state,
        target,
        query,
        headers: parts.headers,
        render,
    };
    authorize::check(&ctx, &identity, &method, &body).await?;
    let is_item = ctx.target.name.is_some();
    let sub = ctx.target.sub.clone();
    match (method, is_item, sub.as_deref()) {
        (Method::GET, false, _) if ctx.query.flag("watch") => watch::handle(ctx).await,
        (Method::GET, false, _) => list::handle(ctx).await,
        (Method::GET, true, Some("scale")) => scale::get(ctx).await,
        (Method::GET, true, Some("log")) => logs::handle(ctx).await,
        (Method::GET, true, None | Some("status")) => get::handle(ctx).await,
        (Method::POST, false, _) => create::handle(ctx, body).await,
        (Method::POST, true, Some("binding")) => create::binding(ctx, body).await,
        (Method::POST, true, Some("eviction")) => delete::eviction(ctx, body).await,
        (Method::PUT, true, Some("scale")) => scale::update(ctx, body).await,
        (Method::PUT, true, None | Some("status" | "finalize")) => update::handle(ctx, body).await,
        (Method::PATCH, true, Some("scale")) => scale::patch(ctx, body).await,
        (Method::PATCH, true, None | Some("status")) => patch::handle(ctx, body).await,
        (Method::DELETE, true, None) => delete::handle(ctx, body).await,
        (Method::DELETE, false, None) => delete::collection(ctx, body).await,
        (m, _, sub) => Err(ApiError::MethodNotAllowed(format!(
            "{m} is not supported on {}{}; see /api and /apis for the verbs each resource serves",
            ctx.target.info.plural,
            sub.map(|s| format!("/{s}")).unwrap_or_default()
        ))),
    }
}
