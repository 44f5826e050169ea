//! The behaviour every backend must share, run against each of them through `Arc<dyn Store>`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brume_store::{
    Event, EventType, KeyValue, Precondition, RangeRequest, Revision, Store, StoreError,
    WatchStream, WriteOutcome,
};
use bytes::Bytes;
use futures::StreamExt;

/// Long enough for any event on a loaded CI machine; only hit when a test is failing.
const PATIENCE: Duration = Duration::from_secs(20);

fn val(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn done(outcome: WriteOutcome) -> KeyValue {
    match outcome {
        WriteOutcome::Done(kv) => kv,
        WriteOutcome::Failed(cur) => panic!("expected Done, got Failed({cur:?})"),
    }
}

async fn put(store: &Arc<dyn Store>, key: &str, value: &str) -> KeyValue {
    done(
        store
            .put(key, val(value), Precondition::None)
            .await
            .expect("put"),
    )
}

async fn next_event(stream: &mut WatchStream) -> Event {
    match tokio::time::timeout(PATIENCE, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(other) => panic!("expected an event, got {other:?}"),
        Err(_) => panic!("no event within {PATIENCE:?}"),
    }
}

async fn put_if_absent_creates_once(store: Arc<dyn Store>) {
    let created = done(
        store
            .put("/r/a", val("1"), Precondition::Absent)
            .await
            .expect("create"),
    );
    assert_eq!(created.mod_revision, 2, "an empty store is at revision 1");
    assert_eq!(created.create_revision, 2);
    let again = store
        .put("/r/a", val("2"), Precondition::Absent)
        .await
        .expect("second create");
    assert_eq!(again, WriteOutcome::Failed(Some(created.clone())));
    let missing = store
        .put("/r/b", val("x"), Precondition::Exists)
        .await
        .expect("update of a missing key");
    assert_eq!(missing, WriteOutcome::Failed(None));
    assert_eq!(store.get("/r/a").await.expect("get"), Some(created));
    assert_eq!(store.get("/r/b").await.expect("get"), None);
}

async fn one_of_many_conditional_updates_wins(store: Arc<dyn Store>) {
    let base = put(&store, "/r/contended", "0").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        let expected = base.mod_revision;
        tasks.push(tokio::spawn(async move {
            store
                .put(
                    "/r/contended",
                    val(&i.to_string()),
                    Precondition::ModRevision(expected),
                )
                .await
                .expect("conditional put")
        }));
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            WriteOutcome::Done(kv) => winners.push(kv),
            WriteOutcome::Failed(cur) => losers.push(cur),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one update may win: {winners:?}");
    let winner = &winners[0];
    assert_eq!(winner.mod_revision, base.mod_revision + 1);
    assert_eq!(winner.create_revision, base.create_revision);
    for cur in losers {
        assert_eq!(
            cur.as_ref(),
            Some(winner),
            "a loser sees the winner's value"
        );
    }
    assert_eq!(
        store.current_revision().await.expect("rev"),
        winner.mod_revision
    );
}

async fn revision_grows_by_one_per_successful_write(store: Arc<dyn Store>) {
    let start = store.current_revision().await.expect("rev");
    assert_eq!(start, 1);
    for i in 0..5 {
        let kv = put(&store, &format!("/r/k{i}"), "v").await;
        assert_eq!(kv.mod_revision, start + 1 + i);
    }
    let failed = store
        .put("/r/k0", val("v"), Precondition::Absent)
        .await
        .expect("failed create");
    assert!(matches!(failed, WriteOutcome::Failed(Some(_))));
    assert_eq!(store.current_revision().await.expect("rev"), start + 5);
    let deleted = done(
        store
            .delete("/r/k1", Precondition::None)
            .await
            .expect("delete"),
    );
    assert_eq!(deleted.mod_revision, start + 6);
    assert_eq!(store.current_revision().await.expect("rev"), start + 6);
}

async fn delete_returns_the_old_value(store: Arc<dyn Store>) {
    let first = put(&store, "/r/d", "old").await;
    let second = put(&store, "/r/d", "newer").await;
    let stale = store
        .delete("/r/d", Precondition::ModRevision(first.mod_revision))
        .await
        .expect("stale delete");
    assert_eq!(stale, WriteOutcome::Failed(Some(second.clone())));
    let deleted = done(
        store
            .delete("/r/d", Precondition::ModRevision(second.mod_revision))
            .await
            .expect("delete"),
    );
    assert_eq!(deleted.value, val("newer"));
    assert_eq!(deleted.create_revision, first.create_revision);
    assert_eq!(deleted.mod_revision, second.mod_revision + 1);
    assert_eq!(store.get("/r/d").await.expect("get"), None);
    let again = store
        .delete("/r/d", Precondition::None)
        .await
        .expect("delete missing");
    assert_eq!(again, WriteOutcome::Failed(None));
}

async fn range_pages_cover_every_key_once(store: Arc<dyn Store>) {
    let mut expected = BTreeSet::new();
    for i in 0..103 {
        let key = format!("/registry/pods/ns/p{i:03}");
        put(&store, &key, "v").await;
        expected.insert(key);
    }
    // Neighbours that share a prefix with the range but lie outside it.
    put(&store, "/registry/pods/nt/x", "v").await;
    put(&store, "/registry/pods/ns", "v").await;
    put(&store, "/registry/podsx/ns/q", "v").await;
    let revision = store.current_revision().await.expect("rev");

    let mut seen = Vec::new();
    let mut start_after = None;
    let mut pages = 0;
    loop {
        let page = store
            .range(RangeRequest {
                prefix: "/registry/pods/ns/".into(),
                start_after: start_after.clone(),
                limit: 10,
            })
            .await
            .expect("range");
        pages += 1;
        assert_eq!(page.revision, revision);
        assert!(page.kvs.len() <= 10);
        seen.extend(page.kvs.iter().map(|kv| kv.key.clone()));
        if !page.more {
            break;
        }
        start_after = page.kvs.last().map(|kv| kv.key.clone());
    }
    assert_eq!(pages, 11, "103 keys in pages of 10");
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no key twice");
    assert_eq!(unique, expected);

    let all = store
        .range(RangeRequest {
            prefix: "/registry/pods/ns/".into(),
            ..Default::default()
        })
        .await
        .expect("unlimited range");
    assert_eq!((all.kvs.len(), all.more), (103, false));
    let exact = store
        .range(RangeRequest {
            prefix: "/registry/pods/ns/".into(),
            start_after: None,
            limit: 103,
        })
        .await
        .expect("exact range");
    assert!(
        !exact.more,
        "a limit equal to the count leaves nothing more"
    );
}

async fn watch_replays_history_then_live_events(store: Arc<dyn Store>) {
    let before = put(&store, "/w/x", "0").await;
    let created = put(&store, "/w/a", "1").await;
    let updated = put(&store, "/w/a", "2").await;
    let mut watch = store
        .watch("/w/", before.mod_revision)
        .await
        .expect("watch");
    let e = next_event(&mut watch).await;
    assert_eq!((e.kind, &e.kv, &e.prev), (EventType::Put, &created, &None));
    let e = next_event(&mut watch).await;
    assert_eq!(
        (e.kind, &e.kv, &e.prev),
        (EventType::Put, &updated, &Some(created.clone()))
    );
    let deleted = done(
        store
            .delete("/w/a", Precondition::None)
            .await
            .expect("delete"),
    );
    let e = next_event(&mut watch).await;
    assert_eq!(e.kind, EventType::Delete);
    assert_eq!(e.kv, deleted);
    assert_eq!(e.prev, Some(updated));
    let recreated = put(&store, "/w/a", "3").await;
    let e = next_event(&mut watch).await;
    assert_eq!(
        (e.kind, &e.kv, &e.prev),
        (EventType::Put, &recreated, &None)
    );
    assert_eq!(recreated.create_revision, recreated.mod_revision);
}

async fn watch_starting_during_writes_has_no_gap_or_duplicate(store: Arc<dyn Store>) {
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = Arc::clone(&store);
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    put(&store, &format!("/g/{w}/{i}"), "v").await;
                    i += 1;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    // Start watching while writes are landing, then let as many land after the start.
    let mut after = store.current_revision().await.expect("rev");
    while after < 30 {
        tokio::task::yield_now().await;
        after = store.current_revision().await.expect("rev");
    }
    let mut watch = store.watch("/g/", after).await.expect("watch");
    while store.current_revision().await.expect("rev") < after + 30 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    let last = store.current_revision().await.expect("rev");
    for want in after + 1..=last {
        assert_eq!(next_event(&mut watch).await.kv.mod_revision, want);
    }
}

async fn watch_from_compacted_revision_fails(store: Arc<dyn Store>) {
    for i in 0..5 {
        put(&store, &format!("/c/{i}"), "v").await;
    }
    let at = store.current_revision().await.expect("rev");
    store.compact(at - 2).await.expect("compact");
    match store.watch("/c/", at - 3).await {
        Err(StoreError::Compacted { requested, oldest }) => {
            assert_eq!((requested, oldest), (at - 3, at - 2));
        }
        Err(e) => panic!("expected Compacted, got {e}"),
        Ok(_) => panic!("expected Compacted, got a stream"),
    }
    let mut watch = store.watch("/c/", at - 2).await.expect("oldest kept");
    assert_eq!(next_event(&mut watch).await.kv.mod_revision, at - 1);
    assert_eq!(next_event(&mut watch).await.kv.mod_revision, at);
    let mut current = store.watch("/c/", at).await.expect("from now");
    let live = put(&store, "/c/live", "v").await;
    assert_eq!(next_event(&mut current).await.kv, live);
}

async fn watch_filters_by_prefix(store: Arc<dyn Store>) {
    let start = store.current_revision().await.expect("rev");
    let mut pods = store.watch("/p/pods/", start).await.expect("watch");
    put(&store, "/p/pods/a", "v").await;
    put(&store, "/p/podsx/b", "v").await;
    put(&store, "/p/nodes/c", "v").await;
    let want = put(&store, "/p/pods/d", "v").await;
    assert_eq!(next_event(&mut pods).await.kv.key, "/p/pods/a");
    assert_eq!(next_event(&mut pods).await.kv, want);
    let mut replay = store.watch("/p/nodes/", start).await.expect("replay");
    assert_eq!(next_event(&mut replay).await.kv.key, "/p/nodes/c");
}

async fn a_thousand_watchers_all_see_an_event(store: Arc<dyn Store>) {
    let start = store.current_revision().await.expect("rev");
    let mut watches = Vec::new();
    for _ in 0..1000 {
        watches.push(store.watch("/many/", start).await.expect("watch"));
    }
    let kv = put(&store, "/many/x", "v").await;
    let seen: Vec<Revision> = futures::future::join_all(
        watches
            .iter_mut()
            .map(|w| async { next_event(w).await.kv.mod_revision }),
    )
    .await;
    assert_eq!(seen.len(), 1000);
    assert!(seen.iter().all(|&rev| rev == kv.mod_revision));
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(std::sync::Arc::new(brume_store::MemoryStore::new())).await;
                }
            )*
        }
        mod redb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("temporary directory");
                    let store = brume_store::RedbStore::open(&dir.path().join("store.redb"))
                        .expect("open redb store");
                    super::$name(std::sync::Arc::new(store)).await;
                }
            )*
        }
    };
}

both_backends!(
    put_if_absent_creates_once,
    one_of_many_conditional_updates_wins,
    revision_grows_by_one_per_successful_write,
    delete_returns_the_old_value,
    range_pages_cover_every_key_once,
    watch_replays_history_then_live_events,
    watch_starting_during_writes_has_no_gap_or_duplicate,
    watch_from_compacted_revision_fails,
    watch_filters_by_prefix,
    a_thousand_watchers_all_see_an_event,
);
