//! The store behind the API server, shaped like etcd v3 so that an etcd backend fits without
//! changing the trait (DESIGN §5).
//!
//! - Keys are strings such as `/registry/<group>/<resource>/<namespace>/<name>`.
//! - There is one global revision, an `i64` that starts at 1 for an empty store and grows by
//!   one with every successful write. It is the `resourceVersion` on every object.
//! - Writes are conditional: put if absent, or if the key's `mod_revision` matches.
//! - A watch streams every change under a prefix after a given revision. History is bounded:
//!   asking for a revision that was compacted away yields [`StoreError::Compacted`].
#![warn(missing_docs)]

mod decide;
mod hub;
mod memory;
mod redb_store;

pub use hub::WatchOptions;
pub use memory::MemoryStore;
pub use redb_store::{RedbStore, StoreStats};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

/// The global store revision (etcd's `header.revision`; Kubernetes' `resourceVersion`).
pub type Revision = i64;

/// One stored key with its value and revisions, as etcd's `mvccpb.KeyValue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    /// The full key.
    pub key: String,
    /// The stored bytes (Brume stores JSON objects without `metadata.resourceVersion`).
    pub value: Bytes,
    /// The revision at which the key was created.
    pub create_revision: Revision,
    /// The revision of the last write to the key; it becomes the object's `resourceVersion`.
    pub mod_revision: Revision,
}

/// When a conditional write may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Always (an unconditional put or delete).
    None,
    /// Only if the key does not exist (create).
    Absent,
    /// Only if the key exists with exactly this `mod_revision` (optimistic concurrency).
    ModRevision(Revision),
    /// Only if the key exists, whatever its revision.
    Exists,
}

/// What a conditional write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The write was durably committed. For a put this is the new key-value; for a delete, the
    /// key-value as it was just before the delete, with `mod_revision` set to the delete's
    /// revision.
    Done(KeyValue),
    /// The precondition failed and nothing was written. Carries the current key-value, if any.
    Failed(Option<KeyValue>),
}

/// A page of a range read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeResult {
    /// The matching keys in key order.
    pub kvs: Vec<KeyValue>,
    /// True when `limit` cut the page short and more keys follow.
    pub more: bool,
    /// The store revision at which the read was served.
    pub revision: Revision,
}

/// What to read in [`Store::range`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeRequest {
    /// Every key starting with this prefix.
    pub prefix: String,
    /// Only keys strictly greater than this one (used for `continue` paging).
    pub start_after: Option<String>,
    /// At most this many keys; 0 means no limit.
    pub limit: usize,
}

/// The kind of a change seen by a watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// A key was created or updated.
    Put,
    /// A key was deleted.
    Delete,
}

/// One change to one key, as delivered by [`Store::watch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventType,
    /// For a put, the new key-value. For a delete, the last value with `mod_revision` set to
    /// the delete's revision.
    pub kv: KeyValue,
    /// The key-value before this change, if the key existed (`create_revision` distinguishes
    /// a create from an update).
    pub prev: Option<KeyValue>,
}

/// A stream of events, in revision order. It ends with an error item when the watcher falls too
/// far behind or the store shuts down; the client then re-watches from its last revision.
pub type WatchStream = BoxStream<'static, Result<Event, StoreError>>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The requested revision is older than the oldest one still kept in history.
    #[error("revision {requested} has been compacted; the oldest available is {oldest}")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision a watch may still start after.
        oldest: Revision,
    },
    /// A watcher fell too far behind the writers and was dropped.
    #[error("watcher fell behind by more than {0} events")]
    WatcherLagged(u64),
    /// The backend failed (disk, database or transport).
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// The store is closed.
    #[error("store is shut down")]
    Closed,
}

/// The etcd-v3-shaped store. Every method is safe to call from many tasks at once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The newest committed revision.
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// The current value of one key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// The current values of the keys under a prefix, in key order.
    async fn range(&self, req: RangeRequest) -> Result<RangeResult, StoreError>;

    /// Writes `value` at `key` if `cond` holds. The write is durable before this returns `Done`.
    async fn put(
        &self,
        key: &str,
        value: Bytes,
        cond: Precondition,
    ) -> Result<WriteOutcome, StoreError>;

    /// Deletes `key` if `cond` holds. Deleting a missing key is `Failed(None)`.
    async fn delete(&self, key: &str, cond: Precondition) -> Result<WriteOutcome, StoreError>;

    /// Every change under `prefix` with a revision greater than `after`, in revision order,
    /// followed by live changes. Fails with [`StoreError::Compacted`] when `after` is older than
    /// the kept history.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;

    /// Drops history at and below `revision`; later watches may not start before it.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;
}
