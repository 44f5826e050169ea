//! What only the durable backend promises: acknowledged writes and the revision survive a
//! reopen, concurrent writes share commits, and closing is clean.

use std::path::Path;
use std::sync::Arc;

use brume_store::{Precondition, RedbStore, Store, StoreError, WriteOutcome};
use bytes::Bytes;
use futures::StreamExt;

fn open(path: &Path) -> Arc<RedbStore> {
    Arc::new(RedbStore::open(path).expect("open redb store"))
}

/// Creates `n` keys from `n` concurrent tasks released together; returns each key with the
/// revision its write was acknowledged at.
async fn put_all(store: &Arc<RedbStore>, n: usize, prefix: &str) -> Vec<(String, i64)> {
    let start = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = Arc::clone(store);
            let start = Arc::clone(&start);
            let key = format!("{prefix}{i:04}");
            tokio::spawn(async move {
                start.wait().await;
                match store
                    .put(&key, Bytes::from(key.clone()), Precondition::Absent)
                    .await
                    .expect("put")
                {
                    WriteOutcome::Done(kv) => (key, kv.mod_revision),
                    WriteOutcome::Failed(cur) => panic!("create of {key} failed: {cur:?}"),
                }
            })
        })
        .collect();
    let mut acked = Vec::new();
    for task in tasks {
        acked.push(task.await.expect("writer task"));
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_share_commits() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = open(&dir.path().join("store.redb"));
    let acked = put_all(&store, 200, "/g/").await;
    let mut revisions: Vec<i64> = acked.iter().map(|(_, rev)| *rev).collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (2..202).collect::<Vec<_>>(), "one revision each");
    let stats = store.stats();
    assert_eq!(stats.writes, 200);
    assert!(
        stats.commits <= 50,
        "200 concurrent puts should need far fewer than 200 commits: {stats:?}"
    );
    assert!(stats.largest_batch > 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_every_acknowledged_write_and_the_revision() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store.redb");

    let store = open(&path);
    let acked = put_all(&store, 100, "/k/").await;
    let deleted = store
        .delete("/k/0000", Precondition::None)
        .await
        .expect("delete");
    assert!(matches!(deleted, WriteOutcome::Done(_)));
    let before = store.current_revision().await.expect("rev");
    assert_eq!(before, 102);
    drop(store);

    let store = open(&path);
    assert_eq!(store.current_revision().await.expect("rev"), before);
    for (key, rev) in &acked[1..] {
        let kv = store
            .get(key)
            .await
            .expect("get")
            .expect("acknowledged key");
        assert_eq!((&kv.value[..], kv.mod_revision), (key.as_bytes(), *rev));
    }
    assert_eq!(store.get("/k/0000").await.expect("get"), None);

    let next = store
        .put("/k/after", Bytes::from_static(b"v"), Precondition::None)
        .await
        .expect("put after reopen");
    match next {
        WriteOutcome::Done(kv) => assert_eq!(kv.mod_revision, before + 1),
        WriteOutcome::Failed(cur) => panic!("unexpected failure: {cur:?}"),
    }
    store.close();
    let store = open(&path);
    assert_eq!(
        store.current_revision().await.expect("rev"),
        before + 1,
        "the revision never goes backwards"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_does_not_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("store.redb");
    let store = open(&path);
    put_all(&store, 3, "/h/").await;
    drop(store);

    let store = open(&path);
    let current = store.current_revision().await.expect("rev");
    match store.watch("/h/", current - 1).await {
        Err(StoreError::Compacted { requested, oldest }) => {
            assert_eq!((requested, oldest), (current - 1, current));
        }
        Err(e) => panic!("expected Compacted, got {e}"),
        Ok(_) => panic!("expected Compacted, got a stream"),
    }
    assert!(store.watch("/h/", current).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_watches_and_refuses_writes() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = open(&dir.path().join("store.redb"));
    let mut watch = store.watch("/", 1).await.expect("watch");
    store.close();
    assert!(matches!(watch.next().await, Some(Err(StoreError::Closed))));
    assert!(watch.next().await.is_none());
    let put = store
        .put("/x", Bytes::from_static(b"v"), Precondition::None)
        .await;
    assert!(matches!(put, Err(StoreError::Closed)), "{put:?}");
    assert!(matches!(store.get("/x").await, Err(StoreError::Closed)));
}

#[test]
fn opening_a_file_that_is_not_a_database_names_the_path() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("garbage.redb");
    std::fs::write(&path, vec![0x5a; 8192]).expect("write garbage");
    match RedbStore::open(&path) {
        Err(StoreError::Backend(message)) => {
            assert!(message.contains("garbage.redb"), "{message}");
        }
        Err(e) => panic!("expected a backend error, got {e}"),
        Ok(_) => panic!("opened a file that is not a database"),
    }
}
