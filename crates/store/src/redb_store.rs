//! The redb backend, the embedded durable default.
//!
//! Writes go through one writer thread that *groups* them: it takes every queued request at
//! once, decides each in order inside a single write transaction (so later requests see earlier
//! ones), commits with fsync, and only then publishes the events and answers the callers. With
//! one fsync per batch instead of per write, the write rate is no longer capped by the disk's
//! sync latency (DESIGN §5). Reads use their own read transactions and never wait for the writer.

use std::fmt::Display;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use crate::decide::{Decision, WriteOp, collect_page, decide, range_start};
use crate::hub::{Hub, WatchOptions};
use crate::{
    EventType, KeyValue, Precondition, RangeRequest, RangeResult, Revision, Store, StoreError,
    WatchStream, WriteOutcome,
};

/// Key → (create_revision, mod_revision, value).
const KV: TableDefinition<&str, (i64, i64, &[u8])> = TableDefinition::new("kv");
/// Store-wide metadata; holds the current revision under [`REVISION_KEY`].
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
const REVISION_KEY: &str = "revision";
/// The revision of an empty store (etcd's convention).
const EMPTY_REVISION: Revision = 1;

/// The most requests one commit takes. It bounds the latency of a batch and stays far below the
/// live watch buffer, so one batch never makes every watcher lag at once.
const MAX_BATCH: usize = 1024;
/// How many write requests may wait for the writer before callers are held back.
const QUEUE_DEPTH: usize = 4096;

/// A store on a redb database file.
pub struct RedbStore {
    /// `None` once closed, so that closing releases the file for a later open.
    db: Mutex<Option<Arc<Database>>>,
    hub: Arc<Hub>,
    /// `None` once closed; callers clone the sender for each write.
    queue: Mutex<Option<mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

/// What the group-commit writer has done since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Write requests answered (applied or with a failed precondition).
    pub writes: u64,
    /// Durable write transactions committed; each may hold many writes.
    pub commits: u64,
    /// The most requests taken in one batch.
    pub largest_batch: u64,
}

#[derive(Default)]
struct Counters {
    writes: AtomicU64,
    commits: AtomicU64,
    largest_batch: AtomicU64,
}

/// One queued write and where its answer goes.
struct Request {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
}

/// Turns a redb error into a message that says what was being done.
fn context<E: Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

fn backend<E: Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Backend(format!("{what}: {e}"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values (a sender, a join handle) stay valid whatever a panicking holder did.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn decode(key: &str, (create_revision, mod_revision, value): (i64, i64, &[u8])) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Bytes::copy_from_slice(value),
        create_revision,
        mod_revision,
    }
}

impl RedbStore {
    /// Opens (or creates) the database at `path` with the default watch history.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, WatchOptions::default())
    }

    /// Opens (or creates) the database at `path`. Watch history starts empty: a watch from a
    /// revision older than the one found on disk fails with [`StoreError::Compacted`].
    pub fn open_with(path: &Path, options: WatchOptions) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| {
            StoreError::Backend(format!("opening redb database {}: {e}", path.display()))
        })?;
        let db = Arc::new(db);
        let revision = init_tables(&db)?;
        let hub = Arc::new(Hub::new(revision, options));
        let counters = Arc::new(Counters::default());
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let writer = Writer {
            db: Arc::clone(&db),
            hub: Arc::clone(&hub),
            counters: Arc::clone(&counters),
            revision,
            rx,
        };
        let handle = std::thread::Builder::new()
            .name("brume-store-writer".into())
            .spawn(move || writer.run())
            .map_err(backend("starting the redb writer thread"))?;
        Ok(RedbStore {
            db: Mutex::new(Some(db)),
            hub,
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(handle)),
            counters,
        })
    }

    /// Counters of the group-commit writer, to check that concurrent writes share commits.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            writes: self.counters.writes.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Stops taking writes, lets the writer commit and answer everything already queued, ends
    /// every watch with [`StoreError::Closed`] and releases the file (once reads already under
    /// way finish), so the same path may be opened again. Later calls fail with `Closed`.
    /// Blocks the calling thread until the queued writes are committed (a few fsyncs).
    pub fn close(&self) {
        // Dropping the last sender ends the writer's loop once the queue is drained.
        drop(lock(&self.queue).take());
        if let Some(handle) = lock(&self.writer).take()
            && handle.join().is_err()
        {
            tracing::error!("the redb writer thread panicked");
        }
        drop(lock(&self.db).take());
        self.hub.close();
    }

    /// The database, unless the store is closed.
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        lock(&self.db).clone().ok_or(StoreError::Closed)
    }

    async fn submit(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        let queue = lock(&self.queue).clone().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        queue
            .send(Request { op, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        // The writer drops the reply sender only if it dies mid-batch.
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Creates the tables if needed and returns the revision stored on disk.
fn init_tables(db: &Database) -> Result<Revision, StoreError> {
    let txn = db
        .begin_write()
        .map_err(backend("beginning the table setup transaction"))?;
    let revision = {
        txn.open_table(KV)
            .map_err(backend("opening the kv table"))?;
        let mut meta = txn
            .open_table(META)
            .map_err(backend("opening the meta table"))?;
        let stored = meta
            .get(REVISION_KEY)
            .map_err(backend("reading the stored revision"))?
            .map(|g| g.value());
        match stored {
            Some(rev) => rev,
            None => {
                meta.insert(REVISION_KEY, EMPTY_REVISION)
                    .map_err(backend("storing the initial revision"))?;
                EMPTY_REVISION
            }
        }
    };
    txn.commit()
        .map_err(backend("committing the table setup transaction"))?;
    Ok(revision)
}

/// Reads one page of keys in a read transaction, with the revision of the same snapshot.
fn read_range(db: &Database, req: &RangeRequest) -> Result<RangeResult, StoreError> {
    let txn = db
        .begin_read()
        .map_err(backend("beginning a read transaction"))?;
    let revision = txn
        .open_table(META)
        .map_err(backend("opening the meta table"))?
        .get(REVISION_KEY)
        .map_err(backend("reading the current revision"))?
        .map_or(EMPTY_REVISION, |g| g.value());
    let table = txn
        .open_table(KV)
        .map_err(backend("opening the kv table"))?;
    let rows = table
        .range::<&str>((range_start(req), Bound::Unbounded))
        .map_err(backend("starting a range scan"))?;
    let entries = rows.map(|row| {
        row.map(|(k, v)| decode(k.value(), v.value()))
            .map_err(backend("reading a range row"))
    });
    let (kvs, more) = collect_page(&req.prefix, req.limit, entries)?;
    Ok(RangeResult {
        kvs,
        more,
        revision,
    })
}

/// The single writer: owns the revision counter and the only write transactions.
struct Writer {
    db: Arc<Database>,
    hub: Arc<Hub>,
    counters: Arc<Counters>,
    /// The newest committed revision.
    revision: Revision,
    rx: mpsc::Receiver<Request>,
}

impl Writer {
    fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = self.rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.process(&mut batch);
        }
        self.hub.close();
    }

    /// Commits one batch, then publishes its events and answers its requests, in that order.
    fn process(&mut self, batch: &mut Vec<Request>) {
        let size = batch.len() as u64;
        match self.apply(batch) {
            Ok((decisions, committed)) => {
                if committed {
                    self.counters.commits.fetch_add(1, Ordering::Relaxed);
                }
                self.counters.writes.fetch_add(size, Ordering::Relaxed);
                self.counters
                    .largest_batch
                    .fetch_max(size, Ordering::Relaxed);
                let outcomes: Vec<WriteOutcome> = decisions.iter().map(Decision::outcome).collect();
                // Publish before answering, so that a caller who sees `Done` also sees the
                // revision in `current_revision` and in new watches.
                self.hub
                    .publish(decisions.into_iter().filter_map(|d| match d {
                        Decision::Apply(event) => Some(event),
                        Decision::Reject(_) => None,
                    }));
                for (request, outcome) in batch.drain(..).zip(outcomes) {
                    // The caller may have given up waiting; the write stands regardless.
                    let _ = request.reply.send(Ok(outcome));
                }
            }
            Err(message) => {
                tracing::error!(batch = size, %message, "write batch failed");
                for request in batch.drain(..) {
                    let _ = request
                        .reply
                        .send(Err(StoreError::Backend(message.clone())));
                }
            }
        }
    }

    /// Decides and writes every request in one transaction and commits it durably. Returns the
    /// decisions and whether anything was committed (a batch of failed preconditions is not).
    fn apply(&mut self, batch: &[Request]) -> Result<(Vec<Decision>, bool), String> {
        let txn = self
            .db
            .begin_write()
            .map_err(context("beginning a write transaction"))?;
        let mut revision = self.revision;
        let mut decisions = Vec::with_capacity(batch.len());
        {
            let mut kv = txn
                .open_table(KV)
                .map_err(context("opening the kv table"))?;
            for request in batch {
                let key = request.op.key();
                let current = kv
                    .get(key)
                    .map_err(context("reading a key before writing it"))?
                    .map(|g| decode(key, g.value()));
                let decision = decide(&request.op, current, revision + 1);
                if let Decision::Apply(event) = &decision {
                    revision = event.kv.mod_revision;
                    match event.kind {
                        EventType::Put => {
                            let row = (
                                event.kv.create_revision,
                                event.kv.mod_revision,
                                event.kv.value.as_ref(),
                            );
                            kv.insert(key, row).map_err(context("writing a key"))?;
                        }
                        EventType::Delete => {
                            kv.remove(key).map_err(context("deleting a key"))?;
                        }
                    }
                }
                decisions.push(decision);
            }
            if revision != self.revision {
                txn.open_table(META)
                    .map_err(context("opening the meta table"))?
                    .insert(REVISION_KEY, revision)
                    .map_err(context("storing the revision"))?;
            }
        }
        if revision == self.revision {
            // Only failed preconditions: they were decided against committed state alone.
            txn.abort()
                .map_err(context("aborting an empty write transaction"))?;
            return Ok((decisions, false));
        }
        txn.commit().map_err(context("committing a write batch"))?;
        self.revision = revision;
        Ok((decisions, true))
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.db()?;
        Ok(self.hub.revision())
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        // A point lookup takes microseconds, so it runs inline rather than on a blocking thread.
        let txn = self
            .db()?
            .begin_read()
            .map_err(backend("beginning a read transaction"))?;
        let table = txn
            .open_table(KV)
            .map_err(backend("opening the kv table"))?;
        let row = table.get(key).map_err(backend("reading a key"))?;
        Ok(row.map(|g| decode(key, g.value())))
    }

    async fn range(&self, req: RangeRequest) -> Result<RangeResult, StoreError> {
        let db = self.db()?;
        tokio::task::spawn_blocking(move || read_range(&db, &req))
            .await
            .map_err(backend("running a range read"))?
    }

    async fn put(
        &self,
        key: &str,
        value: Bytes,
        cond: Precondition,
    ) -> Result<WriteOutcome, StoreError> {
        self.submit(WriteOp::Put {
            key: key.to_owned(),
            value,
            cond,
        })
        .await
    }

    async fn delete(&self, key: &str, cond: Precondition) -> Result<WriteOutcome, StoreError> {
        self.submit(WriteOp::Delete {
            key: key.to_owned(),
            cond,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        self.hub.watch(prefix, after)
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.db()?;
        self.hub.compact(revision);
        Ok(())
    }
}
