//! DELETE of an object or a collection, and pod eviction: graceful deletion, finalizers and the
//! three propagation policies (the garbage collector finishes what this starts).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use brume_api::ResourceInfo;
use brume_api::decode::parse_body;
use brume_store::{Precondition, WriteOutcome};
use bytes::Bytes;
use serde_json::{Value, json};

use super::write::{Mutation, namespace_spec_finalizers, update_object};
use super::{Ctx, list};
use crate::object::{self, finalizers, is_deleting, meta_str};
use crate::response::{json_response, render_object};
use crate::{ApiError, AppState};

/// The finalizer that makes an owner wait until its dependents are deleted.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer that makes the collector release dependents before the owner goes.
pub const ORPHAN: &str = "orphan";

/// What happens to the dependents of a deleted object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the owner now; the collector deletes the dependents afterwards (the default).
    Background,
    /// Keep the owner until the collector has deleted its dependents.
    Foreground,
    /// Release the dependents (drop their owner references) and keep them.
    Orphan,
}

/// `DeleteOptions`, from the body or the query.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// Seconds of grace before a running pod is killed; 0 deletes at once.
    pub grace_period_seconds: Option<i64>,
    /// The propagation policy; `None` is Background.
    pub propagation: Option<Propagation>,
    /// Delete only if the object still has this uid.
    pub precondition_uid: Option<String>,
    /// Delete only if the object is still at this resourceVersion.
    pub precondition_rv: Option<String>,
    /// Check but do not delete.
    pub dry_run: bool,
}

impl DeleteOptions {
    fn parse(ctx: &Ctx, body: &Bytes) -> Result<Self, ApiError> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            parse_body(body, ctx.content_type()).map_err(|e| ApiError::BadRequest(e.to_string()))?
        };
        let grace = match body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            Some(g) => Some(g),
            None => ctx.query.int("gracePeriodSeconds")?,
        };
        let policy = body
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .or_else(|| ctx.query.get("propagationPolicy"))
            .map(String::from);
        let orphan_flag = body
            .get("orphanDependents")
            .and_then(Value::as_bool)
            .or_else(|| ctx.query.get("orphanDependents").map(|v| v == "true"));
        let propagation = match (policy.as_deref(), orphan_flag) {
            (Some("Background"), _) => Some(Propagation::Background),
            (Some("Foreground"), _) => Some(Propagation::Foreground),
            (Some("Orphan"), _) => Some(Propagation::Orphan),
            (Some(other), _) => {
                return Err(ApiError::BadRequest(format!(
                    "propagationPolicy: Unsupported value: {other:?}: supported values: \"Background\", \"Foreground\", \"Orphan\""
                )));
            }
            (None, Some(true)) => Some(Propagation::Orphan),
            (None, _) => None,
        };
        let dry_run = match body.get("dryRun").and_then(Value::as_array) {
            Some(list) => list.iter().any(|v| v == "All"),
            None => ctx.query.dry_run()?,
        };
        Ok(DeleteOptions {
            grace_period_seconds: grace,
            propagation,
            precondition_uid: body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from),
            precondition_rv: body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from),
            dry_run,
        })
    }
}

/// How long a pod bound to a node gets to stop, or `None` when it is deleted at once
/// (unscheduled and finished pods need no kubelet to stop them, as in Kubernetes).
fn pod_grace(obj: &Value, opts: &DeleteOptions) -> Option<i64> {
    let node = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let phase = obj
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if node.is_empty() || matches!(phase, "Succeeded" | "Failed") {
        return None;
    }
    let grace = opts.grace_period_seconds.unwrap_or_else(|| {
        obj.pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30)
    });
    (grace > 0).then_some(grace)
}

/// What a delete did.
pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Value),
    /// The object is marked for deletion and waits for finalizers or a graceful stop.
    Pending(Value),
}

/// Deletes one object with the given options. Shared by the handlers and the collector.
pub async fn delete_object(
    state: &Arc<AppState>,
    info: &'static ResourceInfo,
    namespace: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    let key = info.key(namespace, name);
    if info.kind == "Namespace" {
        state.forget_namespace(name);
    }
    for _ in 0..16 {
        let Some(kv) = state.store.get(&key).await? else {
            return Err(ApiError::not_found(info, name));
        };
        let current = object::from_kv(&kv)?;
        if let Some(uid) = &opts.precondition_uid
            && uid != meta_str(&current, "uid")
        {
            return Err(ApiError::conflict_because(
                info,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&current, "uid")
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && *rv != kv.mod_revision.to_string()
        {
            return Err(ApiError::conflict_because(
                info,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    kv.mod_revision
                ),
            ));
        }
        let grace = if info.kind == "Pod" {
            pod_grace(&current, opts)
        } else {
            None
        };
        let mut add = Vec::new();
        match opts.propagation {
            Some(Propagation::Foreground) => add.push(FOREGROUND),
            Some(Propagation::Orphan) => add.push(ORPHAN),
            _ => {}
        }
        let existing = finalizers(&current);
        let waits = !existing.is_empty()
            || !add.is_empty()
            || grace.is_some()
            || !namespace_spec_finalizers(info, &current).is_empty();
        if !waits {
            if opts.dry_run {
                return Ok(Deleted::Gone(current));
            }
            match state
                .store
                .delete(&key, Precondition::ModRevision(kv.mod_revision))
                .await?
            {
                WriteOutcome::Done(_) => return Ok(Deleted::Gone(current)),
                WriteOutcome::Failed(None) => return Err(ApiError::not_found(info, name)),
                WriteOutcome::Failed(Some(_)) => continue,
            }
        }
        if is_deleting(&current)
            && grace.is_none()
            && add.iter().all(|f| existing.iter().any(|e| e == f))
        {
            return Ok(Deleted::Pending(current));
        }
        let obj = update_object(
            state,
            info,
            namespace,
            name,
            Some("delete"),
            opts.dry_run,
            |cur| {
                let mut new = cur.clone();
                let meta = object::metadata_mut(&mut new);
                let mut fins = finalizers(cur);
                for f in &add {
                    if !fins.iter().any(|e| e == f) {
                        fins.push(f.to_string());
                    }
                }
                if !fins.is_empty() {
                    meta.insert("finalizers".into(), json!(fins));
                }
                let now = chrono::Utc::now();
                let when = now + chrono::Duration::seconds(grace.unwrap_or(0));
                let stamp = when.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                let existing_stamp = meta
                    .get("deletionTimestamp")
                    .and_then(Value::as_str)
                    .map(String::from);
                // A shorter grace period may replace a longer one, never the reverse.
                if existing_stamp.as_deref().is_none_or(|s| stamp.as_str() < s) {
                    meta.insert("deletionTimestamp".into(), json!(stamp));
                    meta.insert(
                        "deletionGracePeriodSeconds".into(),
                        json!(grace.unwrap_or(0)),
                    );
                }
                if info.kind == "Namespace" {
                    new["status"] = json!({"phase": "Terminating"});
                }
                Ok(Mutation::Replace(new))
            },
        )
        .await?;
        return Ok(Deleted::Pending(obj));
    }
    Err(ApiError::conflict(info, name))
}

/// `DELETE` of one object.
pub async fn handle(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    let opts = DeleteOptions::parse(&ctx, &body)?;
    let info = ctx.target.info;
    let (code, obj) = match delete_object(
        &ctx.state,
        info,
        ctx.target.namespace.as_deref(),
        ctx.name(),
        &opts,
    )
    .await?
    {
        Deleted::Gone(obj) => (StatusCode::OK, obj),
        Deleted::Pending(obj) => (StatusCode::OK, obj),
    };
    Ok(json_response(
        code,
        &render_object(info, obj, ctx.render),
        &[],
    ))
}

/// `DELETE` of a collection, honouring label and field selectors.
pub async fn collection(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    let opts = DeleteOptions::parse(&ctx, &body)?;
    let info = ctx.target.info;
    let objects = list::select(&ctx).await?;
    for obj in &objects {
        let ns = meta_str(obj, "namespace");
        let ns = (!ns.is_empty()).then_some(ns);
        match delete_object(&ctx.state, info, ns, meta_str(obj, "name"), &opts).await {
            Ok(_) | Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"kind": info.plural, "group": info.group}});
    Ok(json_response(StatusCode::OK, &status, &[]))
}

/// `POST pods/<name>/eviction`: a delete with the eviction's options.
pub async fn eviction(ctx: Ctx, body: Bytes) -> Result<Response, ApiError> {
    let eviction: Value =
        parse_body(&body, ctx.content_type()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let opts_body = eviction.get("deleteOptions").cloned().unwrap_or(json!({}));
    let opts = DeleteOptions::parse(
        &ctx,
        &Bytes::from(serde_json::to_vec(&opts_body).unwrap_or_default()),
    )?;
    delete_object(
        &ctx.state,
        ctx.target.info,
        ctx.target.namespace.as_deref(),
        ctx.name(),
        &opts,
    )
    .await?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(json_response(StatusCode::CREATED, &status, &[]))
}
