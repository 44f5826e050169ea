//! The write paths every verb shares: preparing a new object, the optimistic update loop
//! (Kubernetes' `GuaranteedUpdate`), and the rules for what an update may change.

use std::sync::Arc;

use brume_api::node_ports::drop_type_dependent_fields;
use brume_api::resource::by_plural;
use brume_api::validation::{validate_create, validate_update};
use brume_api::{FieldError, ResourceInfo, defaults::apply_defaults};
use brume_store::{Precondition, WriteOutcome};
use rand::Rng;
use serde_json::{Value, json};

use crate::object::{self, finalizers, is_deleting, meta_str, metadata_mut};
use crate::status::qualified;
use crate::{ApiError, AppState};
use crate::{autoscalers, node_ports};

/// How many times an update is retried when another writer got in first.
const MAX_UPDATE_ATTEMPTS: usize = 16;

/// The characters Kubernetes uses for `generateName` suffixes (no vowels, no look-alikes).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Server metadata the client may not set or change.
const SERVER_FIELDS: [&str; 5] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
];

/// Creates the initial namespaces if they are missing.
pub async fn ensure_namespaces(state: &Arc<AppState>) -> Result<(), ApiError> {
    let info = namespaces();
    for ns in &state.config.initial_namespaces {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        match create_object(state, info, None, obj, false).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The Namespace kind.
pub fn namespaces() -> &'static ResourceInfo {
    by_plural("", "v1", "namespaces").expect("namespaces are always served")
}

fn set_namespace(
    info: &ResourceInfo,
    namespace: Option<&str>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    let in_body = meta_str(obj, "namespace").to_string();
    if !info.namespaced() {
        metadata_mut(obj).remove("namespace");
        return Ok(());
    }
    let ns = namespace.unwrap_or("");
    if !in_body.is_empty() && in_body != ns {
        return Err(ApiError::BadRequest(format!(
            "the namespace of the provided object ({in_body}) does not match the namespace sent on the request ({ns})"
        )));
    }
    metadata_mut(obj).insert("namespace".into(), json!(ns));
    Ok(())
}

fn generate_name(obj: &mut Value) {
    let prefix = meta_str(obj, "generateName").to_string();
    if meta_str(obj, "name").is_empty() && !prefix.is_empty() {
        let mut rng = rand::rng();
        let suffix: String = (0..5)
            .map(|_| NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char)
            .collect();
        metadata_mut(obj).insert("name".into(), json!(format!("{prefix}{suffix}")));
    }
}

/// The status a kind starts with: what the client sent is not the server's observation.
fn initial_status(info: &ResourceInfo, obj: &mut Value) {
    if !info.has_subresource("status") || info.kind == "Node" {
        return;
    }
    let status = match info.kind {
        "Pod" => json!({"phase": "Pending"}),
        "Namespace" => json!({"phase": "Active"}),
        _ => json!({}),
    };
    obj["status"] = status;
}

/// Fills in server metadata and checks a new object. Returns it ready to store.
pub fn prepare_create(
    info: &ResourceInfo,
    namespace: Option<&str>,
    mut obj: Value,
) -> Result<Value, ApiError> {
    set_namespace(info, namespace, &mut obj)?;
    generate_name(&mut obj);
    obj["apiVersion"] = json!(info.api_version());
    obj["kind"] = json!(info.kind);
    let meta = metadata_mut(&mut obj);
    for f in SERVER_FIELDS {
        meta.remove(f);
    }
    meta.remove("resourceVersion");
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
    meta.insert("generation".into(), json!(1));
    if info.kind == "Namespace" {
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
    }
    initial_status(info, &mut obj);
    apply_defaults(info, &mut obj);
    let name = meta_str(&obj, "name").to_string();
    if name.is_empty() {
        return Err(ApiError::invalid(
            info,
            "",
            &[FieldError::required(
                "metadata.name",
                "name or generateName is required",
            )],
        ));
    }
    validate_create(info, &obj).map_err(|errs| ApiError::invalid(info, &name, &errs))?;
    Ok(obj)
}

/// Creates an object: prepares it, checks its namespace, and stores it if absent.
pub async fn create_object(
    state: &Arc<AppState>,
    info: &'static ResourceInfo,
    namespace: Option<&str>,
    obj: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let mut obj = prepare_create(info, namespace, obj)?;
    let name = meta_str(&obj, "name").to_string();
    if info.namespaced() {
        check_namespace_open(state, info, namespace.unwrap_or(""), &name).await?;
    }
    let key = info.key(namespace, &name);
    let service = node_ports::begin(state, info, &key).await?;
    if let Some(service) = &service {
        service.assign(info, &mut obj, None)?;
    }
    let autoscaler = autoscalers::begin(state, info, namespace, &name).await?;
    if let Some(autoscaler) = &autoscaler {
        autoscaler.check(info, &obj)?;
    }
    if dry_run {
        return Ok(obj);
    }
    match state
        .store
        .put(&key, object::to_bytes(&obj), Precondition::Absent)
        .await?
    {
        WriteOutcome::Done(kv) => {
            object::set_resource_version(&mut obj, kv.mod_revision);
            Ok(obj)
        }
        WriteOutcome::Failed(_) => Err(ApiError::already_exists(info, &name)),
    }
}

async fn check_namespace_open(
    state: &Arc<AppState>,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
) -> Result<(), ApiError> {
    if state.namespace_known_open(ns) {
        return Ok(());
    }
    let nsinfo = namespaces();
    let epoch = state.namespace_epoch();
    let Some(kv) = state.store.get(&nsinfo.key(None, ns)).await? else {
        return Err(ApiError::not_found(nsinfo, ns));
    };
    let deleting = is_deleting(&object::from_kv(&kv)?);
    if !deleting {
        state.remember_open_namespace(ns, epoch);
    }
    if deleting {
        return Err(ApiError::Forbidden(format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            qualified(info)
        )));
    }
    Ok(())
}

/// What an update computed from the current object.
pub enum Mutation {
    /// Store this new object (it will be checked by [`prepare_update`]).
    Replace(Value),
    /// Nothing to change; answer with the current object.
    Unchanged,
}

/// Reads the object, lets `mutate` compute the new one, and writes it if nobody else wrote in
/// between; otherwise reads again and retries. `mutate` sees the current object (with its
/// resourceVersion) and may fail, e.g. with a Conflict when the client named a stale version.
/// An object being deleted whose last finalizer goes away is removed from the store.
pub async fn update_object<F>(
    state: &Arc<AppState>,
    info: &'static ResourceInfo,
    namespace: Option<&str>,
    name: &str,
    sub: Option<&str>,
    dry_run: bool,
    mut mutate: F,
) -> Result<Value, ApiError>
where
    F: FnMut(&Value) -> Result<Mutation, ApiError>,
{
    let key = info.key(namespace, name);
    if info.kind == "Namespace" {
        state.forget_namespace(name);
    }
    let service = node_ports::begin(state, info, &key).await?;
    let autoscaler = autoscalers::begin(state, info, namespace, name).await?;
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let Some(kv) = state.store.get(&key).await? else {
            return Err(ApiError::not_found(info, name));
        };
        let current = object::from_kv(&kv)?;
        let mut new = match mutate(&current)? {
            Mutation::Unchanged => return Ok(current),
            Mutation::Replace(new) => prepare_update(info, &current, new, sub)?,
        };
        if let Some(service) = &service {
            service.assign(info, &mut new, Some(&current))?;
        }
        if let Some(autoscaler) = &autoscaler {
            autoscaler.check(info, &new)?;
        }
        if dry_run {
            return Ok(new);
        }
        let cond = Precondition::ModRevision(kv.mod_revision);
        let graceful = new
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .is_some_and(|g| g > 0);
        let finished = is_deleting(&new)
            && !graceful
            && finalizers(&new).is_empty()
            && namespace_spec_finalizers(info, &new).is_empty();
        let outcome = if finished {
            state.store.delete(&key, cond).await?
        } else {
            state.store.put(&key, object::to_bytes(&new), cond).await?
        };
        match outcome {
            WriteOutcome::Done(kv) => {
                let mut new = new;
                object::set_resource_version(&mut new, kv.mod_revision);
                return Ok(new);
            }
            WriteOutcome::Failed(None) => return Err(ApiError::not_found(info, name)),
            WriteOutcome::Failed(Some(_)) => continue,
        }
    }
    Err(ApiError::conflict(info, name))
}

/// A namespace's `spec.finalizers` (its content must be gone before it is).
pub fn namespace_spec_finalizers(info: &ResourceInfo, obj: &Value) -> Vec<String> {
    if info.kind != "Namespace" {
        return Vec::new();
    }
    obj.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn without(obj: &Value, keys: &[&str]) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for k in keys {
            m.remove(*k);
        }
    }
    o
}

/// Applies the rules of an update: what the client may change on the main resource or on a
/// subresource, server-owned metadata, generation, defaults and validation.
pub fn prepare_update(
    info: &ResourceInfo,
    old: &Value,
    mut new: Value,
    sub: Option<&str>,
) -> Result<Value, ApiError> {
    let name = meta_str(old, "name").to_string();
    new = match sub {
        // A status write changes only the status (Kubernetes resets the rest to the old object).
        Some("status") => {
            let mut merged = old.clone();
            merged["status"] = new.get("status").cloned().unwrap_or(json!({}));
            merged
        }
        // A namespace finalize changes only spec.finalizers.
        Some("finalize") => {
            let mut merged = old.clone();
            merged["spec"] = json!({"finalizers": new.pointer("/spec/finalizers").cloned().unwrap_or(json!([]))});
            merged
        }
        // The server's own writes (delete, gc, binding, scale) start from the current object
        // and change only what they mean to.
        Some(_) => new,
        None => {
            if info.has_subresource("status") && info.kind != "Namespace" {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            if info.kind == "Namespace" {
                new["spec"] = old.get("spec").cloned().unwrap_or(json!({}));
                new["status"] = old.get("status").cloned().unwrap_or(json!({}));
            }
            new
        }
    };
    new["apiVersion"] = json!(info.api_version());
    new["kind"] = json!(info.kind);
    let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
    let deleting = is_deleting(old);
    {
        let meta = metadata_mut(&mut new);
        for f in SERVER_FIELDS {
            // A delete is the one write that sets the deletion fields.
            if sub == Some("delete") && f.starts_with("deletion") {
                continue;
            }
            match old_meta.get(f) {
                Some(v) => meta.insert(f.into(), v.clone()),
                None => meta.remove(f),
            };
        }
        if info.namespaced() && !meta.contains_key("namespace") {
            meta.insert("namespace".into(), old_meta["namespace"].clone());
        }
        if !meta.contains_key("name") {
            meta.insert("name".into(), json!(name));
        }
    }
    if deleting && sub != Some("delete") {
        let old_f = finalizers(old);
        if let Some(added) = finalizers(&new).into_iter().find(|f| !old_f.contains(f)) {
            return Err(ApiError::invalid(
                info,
                &name,
                &[FieldError::new(
                    brume_api::FieldErrorKind::Forbidden,
                    "metadata.finalizers",
                    Some(added),
                    "no new finalizers can be added if the object is being deleted",
                )],
            ));
        }
    }
    if info.group.is_empty() && info.kind == "Service" {
        drop_type_dependent_fields(&mut new, old);
    }
    apply_defaults(info, &mut new);
    let skip = ["metadata", "status"];
    // The main resource and the scale subresource change the spec, so they make a new
    // generation when they do; status writes never do.
    if matches!(sub, None | Some("scale")) && without(&new, &skip) != without(old, &skip) {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        metadata_mut(&mut new).insert("generation".into(), json!(generation + 1));
    }
    // A binding is the one sanctioned change to a pod's spec.nodeName; it skips the
    // immutability rules of a pod update.
    if sub != Some("binding") {
        validate_update(info, &new, old).map_err(|errs| ApiError::invalid(info, &name, &errs))?;
    }
    Ok(new)
}
