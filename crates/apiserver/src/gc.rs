//! The garbage collector and namespace finalizer: the background half of deletion.
//!
//! - Background propagation: an object whose every owner (by `ownerReferences` uid) is gone is
//!   deleted; an owner that is gone is dropped from a dependent that still has a live owner.
//! - Foreground: an owner holding the `foregroundDeletion` finalizer waits until its dependents
//!   are deleted, then the finalizer is removed and the owner goes.
//! - Orphan: an owner holding the `orphan` finalizer has its references removed from its
//!   dependents, then the finalizer is removed.
//! - A terminating namespace has its content deleted, then its `kubernetes` finalizer removed.
//!
//! It is level-triggered: it lists everything, watches every change, and re-checks the objects
//! an event may affect. An index from owner uid to dependent keys finds dependents without
//! scanning. Running a check twice is harmless.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use brume_api::ResourceInfo;
use brume_api::resource::{self, KINDS};
use brume_store::{EventType, KeyValue, RangeRequest, Revision};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::handlers::{DeleteOptions, delete_object, update_object};
use crate::handlers::{Deleted, FOREGROUND, Mutation, ORPHAN, Propagation};
use crate::object::{self, finalizers, is_deleting, meta_str};
use crate::{ApiError, AppState};

/// Which kind a store key belongs to, and its namespace and name.
fn parse_key(key: &str) -> Option<(&'static ResourceInfo, Option<String>, String)> {
    let rest = key.strip_prefix("/registry/")?;
    let mut parts = rest.split('/');
    let group = parts.next()?;
    let plural = parts.next()?;
    let group = if group == "core" { "" } else { group };
    let info = KINDS
        .iter()
        .find(|k| k.group == group && k.plural == plural)?;
    let tail: Vec<&str> = parts.collect();
    match (info.namespaced(), tail.as_slice()) {
        (true, [ns, name]) => Some((info, Some(ns.to_string()), name.to_string())),
        (false, [name]) => Some((info, None, name.to_string())),
        _ => None,
    }
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// What the collector knows about the cluster, kept current from the watch.
#[derive(Default)]
struct Index {
    /// owner uid → keys of objects that name it.
    dependents: HashMap<String, BTreeSet<String>>,
    /// key → the owner uids it names, to undo the index on change.
    owners: HashMap<String, Vec<String>>,
    /// uid → key of every object, to find an owner from a dependent.
    keys: HashMap<String, String>,
    /// Keys of objects being deleted, re-checked periodically.
    deleting: BTreeSet<String>,
}

impl Index {
    fn remove(&mut self, key: &str) {
        self.deleting.remove(key);
        for uid in self.owners.remove(key).unwrap_or_default() {
            if let Some(set) = self.dependents.get_mut(&uid) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(&uid);
                }
            }
        }
    }

    fn put(&mut self, key: &str, obj: &Value) {
        self.remove(key);
        let uid = meta_str(obj, "uid");
        if !uid.is_empty() {
            self.keys.insert(uid.to_string(), key.to_string());
        }
        let owners = owner_uids(obj);
        for uid in &owners {
            self.dependents
                .entry(uid.clone())
                .or_default()
                .insert(key.to_string());
        }
        if !owners.is_empty() {
            self.owners.insert(key.to_string(), owners);
        }
        if is_deleting(obj) {
            self.deleting.insert(key.to_string());
        }
    }
}

/// A unit of collector work, by store key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Work {
    /// Check whether this dependent still has a live owner.
    Owners(String),
    /// Advance the deletion of this owner or namespace.
    Deleting(String),
}

/// Starts the collector.
pub fn spawn(state: Arc<AppState>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = run(&state).await {
                tracing::warn!(error = %e, "garbage collector restarting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn run(state: &Arc<AppState>) -> Result<(), ApiError> {
    let mut index = Index::default();
    let mut queue: BTreeSet<Work> = BTreeSet::new();
    let mut start_after = None;
    let mut rev: Option<Revision> = None;
    loop {
        let page = state
            .store
            .range(RangeRequest {
                prefix: "/registry/".into(),
                start_after: start_after.clone(),
                limit: 1000,
            })
            .await?;
        rev.get_or_insert(page.revision);
        for kv in &page.kvs {
            observe(&mut index, &mut queue, kv)?;
        }
        if !page.more {
            break;
        }
        start_after = page.kvs.last().map(|kv| kv.key.clone());
    }
    let mut events = state.store.watch("/registry/", rev.unwrap_or(0)).await?;
    let mut retry = tokio::time::interval(Duration::from_secs(2));
    loop {
        while let Some(work) = queue.pop_first() {
            if let Err(e) = process(state, &index, &work).await {
                tracing::debug!(?work, error = %e, "collector work failed; will retry");
            }
            // Keep up with the watch between items so the index stays fresh.
            while let Some(Some(ev)) = futures::FutureExt::now_or_never(events.next()) {
                let ev = ev?;
                handle_event(&mut index, &mut queue, &ev)?;
            }
        }
        tokio::select! {
            ev = events.next() => {
                let Some(ev) = ev else { return Ok(()) };
                handle_event(&mut index, &mut queue, &ev?)?;
            }
            _ = retry.tick() => {
                // Deletions waiting on dependents or graceful pods are re-checked periodically.
                for key in &index.deleting {
                    queue.insert(Work::Deleting(key.clone()));
                }
            }
        }
    }
}

/// Only the metadata of a stored object: the collector reads every write, and skipping the
/// rest of the object is cheaper than building it.
fn metadata_of(kv: &KeyValue) -> Result<Value, ApiError> {
    #[derive(serde::Deserialize)]
    struct MetadataOnly {
        #[serde(default)]
        metadata: Value,
    }
    let m: MetadataOnly = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::Internal(format!("stored object at {} is corrupt: {e}", kv.key)))?;
    Ok(json!({"metadata": m.metadata}))
}

fn handle_event(
    index: &mut Index,
    queue: &mut BTreeSet<Work>,
    ev: &brume_store::Event,
) -> Result<(), ApiError> {
    match ev.kind {
        EventType::Put => observe(index, queue, &ev.kv),
        EventType::Delete => {
            let obj = metadata_of(&ev.kv)?;
            index.remove(&ev.kv.key);
            let uid = meta_str(&obj, "uid");
            index.keys.remove(uid);
            for dep in index.dependents.get(uid).cloned().unwrap_or_default() {
                queue.insert(Work::Owners(dep));
            }
            // An owner in foreground deletion may now have no dependents left.
            for owner in owner_uids(&obj) {
                if let Some(key) = index.keys.get(&owner) {
                    queue.insert(Work::Deleting(key.clone()));
                }
            }
            // A terminating namespace may now be empty.
            let ns = meta_str(&obj, "namespace");
            if !ns.is_empty() {
                queue.insert(Work::Deleting(crate::handlers::namespace_key(ns)));
            }
            Ok(())
        }
    }
}

fn observe(index: &mut Index, queue: &mut BTreeSet<Work>, kv: &KeyValue) -> Result<(), ApiError> {
    let obj = metadata_of(kv)?;
    index.put(&kv.key, &obj);
    if !owner_uids(&obj).is_empty() {
        queue.insert(Work::Owners(kv.key.clone()));
    }
    if is_deleting(&obj) {
        queue.insert(Work::Deleting(kv.key.clone()));
    }
    Ok(())
}

async fn process(state: &Arc<AppState>, index: &Index, work: &Work) -> Result<(), ApiError> {
    match work {
        Work::Owners(key) => check_owners(state, key).await,
        Work::Deleting(key) => advance_deletion(state, index, key).await,
    }
}

/// Is the owner named by `reference` (seen from a dependent in `namespace`) alive?
async fn owner_alive(
    state: &Arc<AppState>,
    namespace: Option<&str>,
    reference: &Value,
) -> Result<bool, ApiError> {
    let api_version = reference
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = reference.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = reference.get("name").and_then(Value::as_str).unwrap_or("");
    let uid = reference.get("uid").and_then(Value::as_str).unwrap_or("");
    // A kind this server does not serve cannot be checked; leave the dependent alone.
    let Some(info) = resource::by_kind(api_version, kind) else {
        return Ok(true);
    };
    let ns = if info.namespaced() { namespace } else { None };
    match state.store.get(&info.key(ns, name)).await? {
        Some(kv) => Ok(meta_str(&object::from_kv(&kv)?, "uid") == uid),
        None => Ok(false),
    }
}

async fn check_owners(state: &Arc<AppState>, key: &str) -> Result<(), ApiError> {
    let Some((info, ns, name)) = parse_key(key) else {
        return Ok(());
    };
    let Some(kv) = state.store.get(key).await? else {
        return Ok(());
    };
    let obj = object::from_kv(&kv)?;
    // Already on its way out: nothing more to do, and no reason to delete it again.
    if is_deleting(&obj) {
        return Ok(());
    }
    let refs = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if refs.is_empty() {
        return Ok(());
    }
    let mut dead = HashSet::new();
    for r in &refs {
        if !owner_alive(state, ns.as_deref(), r).await? {
            dead.insert(
                r.get("uid")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    if dead.is_empty() {
        return Ok(());
    }
    if dead.len() == refs.len() {
        tracing::info!(%key, "deleting object whose owners are gone");
        let opts = DeleteOptions {
            propagation: Some(Propagation::Background),
            ..DeleteOptions::default()
        };
        match delete_object(state, info, ns.as_deref(), &name, &opts).await {
            Ok(_) | Err(ApiError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    remove_owner_refs(state, info, ns.as_deref(), &name, &dead).await
}

async fn remove_owner_refs(
    state: &Arc<AppState>,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    name: &str,
    uids: &HashSet<String>,
) -> Result<(), ApiError> {
    let result = update_object(state, info, ns, name, Some("gc"), false, |cur| {
        let mut new = cur.clone();
        let refs: Vec<Value> = owner_refs(cur)
            .into_iter()
            .filter(|r| !uids.contains(r.get("uid").and_then(Value::as_str).unwrap_or("")))
            .collect();
        let meta = object::metadata_mut(&mut new);
        if refs.is_empty() {
            meta.remove("ownerReferences");
        } else {
            meta.insert("ownerReferences".into(), json!(refs));
        }
        Ok(Mutation::Replace(new))
    })
    .await;
    match result {
        Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn owner_refs(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn advance_deletion(state: &Arc<AppState>, index: &Index, key: &str) -> Result<(), ApiError> {
    let Some((info, ns, name)) = parse_key(key) else {
        return Ok(());
    };
    let Some(kv) = state.store.get(key).await? else {
        return Ok(());
    };
    let obj = object::from_kv(&kv)?;
    if !is_deleting(&obj) {
        return Ok(());
    }
    let uid = meta_str(&obj, "uid").to_string();
    let dependents: Vec<String> = index
        .dependents
        .get(&uid)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let fins = finalizers(&obj);
    if fins.iter().any(|f| f == ORPHAN) {
        for dep in &dependents {
            if let Some((dinfo, dns, dname)) = parse_key(dep) {
                let uids = HashSet::from([uid.clone()]);
                remove_owner_refs(state, dinfo, dns.as_deref(), &dname, &uids).await?;
            }
        }
        return drop_finalizer(state, info, ns.as_deref(), &name, ORPHAN).await;
    }
    if fins.iter().any(|f| f == FOREGROUND) {
        let opts = DeleteOptions {
            propagation: Some(Propagation::Foreground),
            ..DeleteOptions::default()
        };
        let mut remaining = 0;
        for dep in &dependents {
            if let Some((dinfo, dns, dname)) = parse_key(dep) {
                match delete_object(state, dinfo, dns.as_deref(), &dname, &opts).await {
                    Ok(Deleted::Pending(_)) => remaining += 1,
                    Ok(Deleted::Gone(_)) | Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if remaining == 0 {
            return drop_finalizer(state, info, ns.as_deref(), &name, FOREGROUND).await;
        }
        return Ok(());
    }
    if info.kind == "Namespace" {
        return finish_namespace(state, &name).await;
    }
    Ok(())
}

async fn drop_finalizer(
    state: &Arc<AppState>,
    info: &'static ResourceInfo,
    ns: Option<&str>,
    name: &str,
    finalizer: &str,
) -> Result<(), ApiError> {
    let result = update_object(state, info, ns, name, Some("gc"), false, |cur| {
        let fins: Vec<String> = finalizers(cur)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        let mut new = cur.clone();
        let meta = object::metadata_mut(&mut new);
        if fins.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), json!(fins));
        }
        Ok(Mutation::Replace(new))
    })
    .await;
    match result {
        Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes everything in a terminating namespace; once it is empty, removes the namespace's
/// `kubernetes` finalizer so the namespace itself goes.
async fn finish_namespace(state: &Arc<AppState>, ns: &str) -> Result<(), ApiError> {
    let mut remaining = 0usize;
    for info in KINDS.iter().filter(|k| k.namespaced()) {
        let page = state
            .store
            .range(RangeRequest {
                prefix: info.key_prefix(Some(ns)),
                start_after: None,
                limit: 0,
            })
            .await?;
        for kv in &page.kvs {
            let obj = object::from_kv(kv)?;
            let opts = DeleteOptions::default();
            match delete_object(state, info, Some(ns), meta_str(&obj, "name"), &opts).await {
                Ok(Deleted::Pending(_)) => remaining += 1,
                Ok(Deleted::Gone(_)) | Err(ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    if remaining > 0 {
        return Ok(());
    }
    let nsinfo = crate::handlers::namespaces();
    let result = update_object(state, nsinfo, None, ns, Some("finalize"), false, |cur| {
        let mut new = cur.clone();
        new["spec"] = json!({"finalizers": []});
        Ok(Mutation::Replace(new))
    })
    .await;
    match result {
        Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_to_kinds() {
        let (info, ns, name) = parse_key("/registry/apps/replicasets/default/web-1").unwrap();
        assert_eq!(
            (info.kind, ns.as_deref(), name.as_str()),
            ("ReplicaSet", Some("default"), "web-1")
        );
        let (info, ns, _) = parse_key("/registry/core/nodes/n1").unwrap();
        assert_eq!((info.kind, ns), ("Node", None));
        assert!(parse_key("/registry/core/widgets/a/b").is_none());
    }

    #[test]
    fn index_tracks_dependents_through_changes() {
        let mut index = Index::default();
        let child =
            json!({"metadata": {"uid": "c", "ownerReferences": [{"uid": "o1"}, {"uid": "o2"}]}});
        index.put("/k/child", &child);
        assert!(index.dependents["o1"].contains("/k/child"));
        index.put(
            "/k/child",
            &json!({"metadata": {"uid": "c", "ownerReferences": [{"uid": "o2"}]}}),
        );
        assert!(!index.dependents.contains_key("o1"));
        index.remove("/k/child");
        assert!(index.dependents.is_empty());
    }
}
