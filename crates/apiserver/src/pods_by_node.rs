//! Pods by node: an in-memory index from `spec.nodeName` to pod keys, kept current from the
//! store's watch, so that a list with `fieldSelector=spec.nodeName=<node>` reads that node's
//! pods instead of decoding every pod of the cluster.
//!
//! Those lists are frequent: every agent lists its own pods, the node lifecycle controller lists
//! the pods of each unreachable node, pod GC those of each deleted node. Without the index each
//! one decoded every stored pod. With 5,000 nodes and 80,000 pods, lists of the pods of the ~130
//! nodes whose leases ran late took a third of the server's CPU, which made more leases late
//! (`docs/BENCHMARKS.md`, scheduler). Kubernetes' watch cache indexes pods by `spec.nodeName`
//! for the same reason.
//!
//! A list answered from the index is as fresh as a scan: it first waits until the index has
//! applied every event up to the store's current revision (it follows every key, so that
//! revision is always reached), then reads each indexed key and applies the whole selector to
//! what it reads. If the index is not ready in time (while it is first built) the list scans.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use brume_api::ResourceInfo;
use brume_store::{EventType, RangeRequest, Revision, StoreError};
use futures::StreamExt;
use serde::Deserialize;

use crate::AppState;

/// The index and how far it has followed the store.
pub struct PodsByNode {
    /// Where pods live in the store (the pods kind's key prefix, every namespace).
    prefix: String,
    inner: Mutex<Inner>,
    /// Every store event up to this revision is applied; -1 until the first build is done.
    applied: AtomicI64,
    advanced: tokio::sync::Notify,
}

#[derive(Default)]
struct Inner {
    by_node: HashMap<String, BTreeSet<String>>,
    node_of: HashMap<String, String>,
}

impl Inner {
    /// Records that the pod at `key` is bound to `node` (`None`: unbound or gone).
    fn set(&mut self, key: &str, node: Option<String>) {
        let old = match &node {
            Some(n) if self.node_of.get(key) == Some(n) => return,
            Some(n) => self.node_of.insert(key.to_string(), n.clone()),
            None => self.node_of.remove(key),
        };
        if let Some(old) = old
            && let Some(keys) = self.by_node.get_mut(&old)
        {
            keys.remove(key);
            if keys.is_empty() {
                self.by_node.remove(&old);
            }
        }
        if let Some(n) = node {
            self.by_node.entry(n).or_default().insert(key.to_string());
        }
    }
}

#[derive(Deserialize)]
struct PodNode {
    #[serde(default)]
    spec: Option<SpecNode>,
}

#[derive(Deserialize)]
struct SpecNode {
    #[serde(default, rename = "nodeName")]
    node_name: Option<String>,
}

/// The node a stored pod is bound to, if any (a value that does not parse counts as unbound).
fn node_of(value: &[u8]) -> Option<String> {
    serde_json::from_slice::<PodNode>(value)
        .ok()?
        .spec?
        .node_name
        .filter(|n| !n.is_empty())
}

impl Default for PodsByNode {
    fn default() -> Self {
        let pods = brume_api::resource::by_plural("", "v1", "pods")
            .expect("the registry of kinds has pods");
        PodsByNode {
            prefix: pods.key_prefix(None),
            inner: Mutex::new(Inner::default()),
            applied: AtomicI64::new(-1),
            advanced: tokio::sync::Notify::new(),
        }
    }
}

impl PodsByNode {
    /// Whether lists of this kind can be answered from the index.
    pub fn indexes(&self, info: &ResourceInfo) -> bool {
        info.key_prefix(None) == self.prefix
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each update is one `set`, complete or not started: a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn advance(&self, rev: Revision) {
        self.applied.fetch_max(rev, Ordering::AcqRel);
        self.advanced.notify_waiters();
    }

    /// The keys of the pods bound to `node`, in key order, once the index has applied every
    /// event up to revision `fresh_at`; `None` if that takes longer than `wait`.
    pub async fn keys_on(
        &self,
        node: &str,
        fresh_at: Revision,
        wait: Duration,
    ) -> Option<Vec<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.advanced.notified();
            if self.applied.load(Ordering::Acquire) >= fresh_at {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
        let inner = self.lock();
        Some(
            inner
                .by_node
                .get(node)
                .map(|keys| keys.iter().cloned().collect())
                .unwrap_or_default(),
        )
    }

    /// Rebuilds the index from the store's pods and returns the revision to follow from.
    async fn build(&self, state: &AppState) -> Result<Revision, StoreError> {
        let from = state.store.current_revision().await?;
        let mut fresh = Inner::default();
        let mut start_after = None;
        loop {
            let page = state
                .store
                .range(RangeRequest {
                    prefix: self.prefix.clone(),
                    start_after: start_after.take(),
                    limit: 1000,
                })
                .await?;
            for kv in &page.kvs {
                fresh.set(&kv.key, node_of(&kv.value));
            }
            if !page.more {
                break;
            }
            start_after = page.kvs.last().map(|kv| kv.key.clone());
        }
        // The pages may be newer than `from`; replaying the events after `from` on top of them
        // converges on the same state, and `applied` only moves past `from` as they are replayed.
        *self.lock() = fresh;
        Ok(from)
    }

    /// Builds the index, then follows every store event (pods update it, the rest only move
    /// `applied`), rebuilding when the store's history no longer reaches back far enough.
    async fn follow(&self, state: &AppState) -> Result<(), StoreError> {
        let mut last = self.build(state).await?;
        self.advance(last);
        loop {
            let mut events = match state.store.watch("/registry/", last).await {
                Ok(events) => events,
                Err(StoreError::Compacted { .. }) => {
                    last = self.build(state).await?;
                    self.advance(last);
                    continue;
                }
                Err(e) => return Err(e),
            };
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(ev) => {
                        if ev.kv.key.starts_with(&self.prefix) {
                            let node = match ev.kind {
                                EventType::Put => node_of(&ev.kv.value),
                                EventType::Delete => None,
                            };
                            self.lock().set(&ev.kv.key, node);
                        }
                        last = ev.kv.mod_revision;
                        self.advance(last);
                    }
                    // Fell off the live fan-out: resume from the history at `last`.
                    Err(StoreError::WatcherLagged(_)) => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// Starts following the store; on an error the index is rebuilt after a pause.
pub fn spawn(state: Arc<AppState>) {
    tokio::spawn(async move {
        loop {
            match state.pods_by_node.follow(&state).await {
                Ok(()) => {}
                Err(StoreError::Closed) => return,
                Err(e) => tracing::warn!(error = %e, "the pods-by-node index stopped; rebuilding"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(inner: &Inner, node: &str) -> Vec<String> {
        inner
            .by_node
            .get(node)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn set_moves_and_removes_keys() {
        let mut inner = Inner::default();
        inner.set("/p/a", Some("n1".into()));
        inner.set("/p/b", Some("n1".into()));
        inner.set("/p/c", None);
        assert_eq!(keys(&inner, "n1"), ["/p/a", "/p/b"]);
        inner.set("/p/a", Some("n2".into()));
        assert_eq!(keys(&inner, "n1"), ["/p/b"]);
        assert_eq!(keys(&inner, "n2"), ["/p/a"]);
        inner.set("/p/b", None);
        assert!(
            !inner.by_node.contains_key("n1"),
            "an empty node is dropped"
        );
        assert_eq!(inner.node_of.len(), 1);
    }

    #[test]
    fn the_node_comes_from_spec_node_name() {
        assert_eq!(
            node_of(br#"{"spec":{"nodeName":"n1","containers":[]}}"#).as_deref(),
            Some("n1")
        );
        assert_eq!(node_of(br#"{"spec":{"nodeName":""}}"#), None);
        assert_eq!(node_of(br#"{"spec":{}}"#), None);
        assert_eq!(node_of(b"not json"), None);
    }
}
