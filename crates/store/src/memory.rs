//! The in-memory backend, for tests.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use crate::decide::{Decision, WriteOp, collect_page, decide, range_start};
use crate::hub::{Hub, WatchOptions};
use crate::{
    KeyValue, Precondition, RangeRequest, RangeResult, Revision, Store, StoreError, WatchStream,
    WriteOutcome,
};

/// An in-memory store: the same semantics as the durable backend, nothing on disk.
pub struct MemoryStore {
    state: Mutex<State>,
    hub: Hub,
}

struct State {
    data: BTreeMap<String, KeyValue>,
    revision: Revision,
}

impl MemoryStore {
    /// An empty store at revision 1 with the default watch history.
    pub fn new() -> Self {
        Self::with_options(WatchOptions::default())
    }

    /// An empty store at revision 1 with the given watch history and buffer sizes.
    pub fn with_options(options: WatchOptions) -> Self {
        MemoryStore {
            state: Mutex::new(State {
                data: BTreeMap::new(),
                revision: 1,
            }),
            hub: Hub::new(1, options),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation below is a single map operation plus a counter bump, so a panic
        // elsewhere cannot leave the state half-written.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self, op: WriteOp) -> WriteOutcome {
        let mut state = self.lock();
        let current = state.data.get(op.key()).cloned();
        let decision = decide(&op, current, state.revision + 1);
        let outcome = decision.outcome();
        if let Decision::Apply(event) = decision {
            state.revision = event.kv.mod_revision;
            match &op {
                WriteOp::Put { key, .. } => {
                    state.data.insert(key.clone(), event.kv.clone());
                }
                WriteOp::Delete { key, .. } => {
                    state.data.remove(key);
                }
            }
            // Published under the state lock so that events reach the hub in revision order.
            self.hub.publish([event]);
        }
        outcome
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.lock().revision)
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        Ok(self.lock().data.get(key).cloned())
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResult, StoreError> {
        let state = self.lock();
        let start = range_start(&req);
        let entries = state
            .data
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(_, kv)| Ok::<_, StoreError>(kv.clone()));
        let (kvs, more) = collect_page(&req.prefix, req.limit, entries)?;
        Ok(RangeResult {
            kvs,
            more,
            revision: state.revision,
        })
    }

    async fn put(
        &self,
        key: &str,
        value: Bytes,
        cond: Precondition,
    ) -> Result<WriteOutcome, StoreError> {
        Ok(self.write(WriteOp::Put {
            key: key.to_owned(),
            value,
            cond,
        }))
    }

    async fn delete(&self, key: &str, cond: Precondition) -> Result<WriteOutcome, StoreError> {
        Ok(self.write(WriteOp::Delete {
            key: key.to_owned(),
            cond,
        }))
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        self.hub.watch(prefix, after)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.hub.compact(revision);
        Ok(())
    }
}
