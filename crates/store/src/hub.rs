//! Watch history and fan-out shared by the in-process backends.
//!
//! A backend publishes each committed batch of events here, in revision order. The hub keeps a
//! bounded history for replay and forwards every event on one `broadcast` channel; each watcher
//! filters that channel by prefix, so a thousand watchers cost one send per event.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use tokio::sync::broadcast;

use crate::{Event, Revision, StoreError, WatchStream};

/// How much watch history a store keeps and how far a live watcher may fall behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchOptions {
    /// How many recent events are kept for watches that start in the past.
    pub history: usize,
    /// How many events a live watcher may fall behind before it is dropped with
    /// [`StoreError::WatcherLagged`]. Keep it well above the redb writer's largest batch
    /// (1,024 writes), which is published at once.
    pub buffer: usize,
}

impl Default for WatchOptions {
    /// 50,000 events of history (a few minutes of a busy cluster, like the apiserver's watch
    /// cache) and a 16,384-event live buffer, well above the largest write batch. The buffer
    /// stays well below the history on purpose: a watcher cut off for lagging re-watches from
    /// its last revision, which the history still holds, instead of relisting everything
    /// (measured: with a buffer as deep as the history the scheduler fell behind by more than
    /// the history at 150,000 pods and had to relist, `docs/BENCHMARKS.md`).
    fn default() -> Self {
        WatchOptions {
            history: 50_000,
            buffer: 16_384,
        }
    }
}

/// The shared watch machinery: bounded history plus live fan-out.
pub(crate) struct Hub {
    state: Mutex<HubState>,
    /// The revision of the newest published event, readable without the lock.
    revision: AtomicI64,
}

struct HubState {
    /// Recent events in revision order.
    history: VecDeque<Arc<Event>>,
    capacity: usize,
    /// Every event with a revision above this one is still in `history`.
    compacted: Revision,
    /// `None` once the store has shut down.
    live: Option<broadcast::Sender<Arc<Event>>>,
}

impl Hub {
    /// A hub for a store whose current revision is `revision` and whose earlier history is gone.
    pub(crate) fn new(revision: Revision, options: WatchOptions) -> Self {
        let (live, _) = broadcast::channel(options.buffer.max(1));
        // An empty store (revision 1, etcd's convention) has no history to lose: every write
        // is still to come, so a watch may start after any revision from 0 on.
        let compacted = if revision <= 1 { 0 } else { revision };
        Hub {
            state: Mutex::new(HubState {
                history: VecDeque::new(),
                capacity: options.history.max(1),
                compacted,
                live: Some(live),
            }),
            revision: AtomicI64::new(revision),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic while holding the lock cannot leave the history half-updated in a way that
        // breaks later readers (each push is one operation), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The revision of the newest published event (or the revision the hub started at).
    pub(crate) fn revision(&self) -> Revision {
        self.revision.load(Ordering::Acquire)
    }

    /// The oldest revision a watch may still start after.
    #[cfg(test)]
    pub(crate) fn compacted(&self) -> Revision {
        self.lock().compacted
    }

    /// Records committed events, which must be in revision order and newer than any published
    /// before, and sends them to live watchers.
    pub(crate) fn publish(&self, events: impl IntoIterator<Item = Event>) {
        let mut state = self.lock();
        let mut newest = None;
        for event in events {
            let event = Arc::new(event);
            newest = Some(event.kv.mod_revision);
            if state.history.len() == state.capacity
                && let Some(dropped) = state.history.pop_front()
            {
                state.compacted = dropped.kv.mod_revision;
            }
            state.history.push_back(Arc::clone(&event));
            if let Some(live) = &state.live {
                // An error only means that nobody is watching right now.
                let _ = live.send(event);
            }
        }
        if let Some(rev) = newest {
            self.revision.store(rev, Ordering::Release);
        }
    }

    /// Drops history at and below `revision` (clamped to the newest published revision).
    pub(crate) fn compact(&self, revision: Revision) {
        let mut state = self.lock();
        let revision = revision.min(self.revision());
        while state
            .history
            .front()
            .is_some_and(|e| e.kv.mod_revision <= revision)
        {
            state.history.pop_front();
        }
        state.compacted = state.compacted.max(revision);
    }

    /// Ends every live watch with [`StoreError::Closed`] and refuses new ones.
    pub(crate) fn close(&self) {
        self.lock().live = None;
    }

    /// Every event under `prefix` after revision `after`: the kept history, then live events.
    pub(crate) fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        // Replay and subscription happen under the lock that `publish` holds, so the live
        // receiver starts exactly where the replayed history ends: no gap and no duplicate.
        let (replay, rx) = {
            let state = self.lock();
            if after < state.compacted {
                return Err(StoreError::Compacted {
                    requested: after,
                    oldest: state.compacted,
                });
            }
            let live = state.live.as_ref().ok_or(StoreError::Closed)?;
            let start = state
                .history
                .partition_point(|e| e.kv.mod_revision <= after);
            let replay: Vec<Event> = state
                .history
                .range(start..)
                .filter(|e| e.kv.key.starts_with(prefix))
                .map(|e| Event::clone(e))
                .collect();
            (replay, live.subscribe())
        };
        let live = live_events(rx, prefix.to_owned(), after);
        Ok(futures::stream::iter(replay.into_iter().map(Ok))
            .chain(live)
            .boxed())
    }
}

/// The live part of a watch. Events at or below `after` are skipped: a backend may serve a read
/// at a revision it has committed but not yet published, and a watch from that revision must
/// not see those events twice.
fn live_events(
    rx: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    after: Revision,
) -> impl futures::Stream<Item = Result<Event, StoreError>> + Send + 'static {
    futures::stream::unfold(Some(rx), move |rx| {
        let prefix = prefix.clone();
        async move {
            let mut rx = rx?;
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if event.kv.mod_revision > after && event.kv.key.starts_with(&prefix) {
                            return Some((Ok(Event::clone(&event)), Some(rx)));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        return Some((Err(StoreError::WatcherLagged(n)), None));
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        return Some((Err(StoreError::Closed), None));
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventType, KeyValue};
    use bytes::Bytes;

    fn event(key: &str, rev: Revision) -> Event {
        Event {
            kind: EventType::Put,
            kv: KeyValue {
                key: key.into(),
                value: Bytes::new(),
                create_revision: rev,
                mod_revision: rev,
            },
            prev: None,
        }
    }

    fn options(history: usize, buffer: usize) -> WatchOptions {
        WatchOptions { history, buffer }
    }

    async fn next_rev(stream: &mut WatchStream) -> Revision {
        match stream.next().await {
            Some(Ok(e)) => e.kv.mod_revision,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn full_history_evicts_oldest_and_moves_compacted() {
        let hub = Hub::new(1, options(3, 16));
        hub.publish((2..=6).map(|r| event("/a", r)));
        assert_eq!(hub.revision(), 6);
        assert_eq!(hub.compacted(), 3, "revisions 2 and 3 were evicted");
        assert!(matches!(
            hub.watch("/", 2),
            Err(StoreError::Compacted {
                requested: 2,
                oldest: 3
            })
        ));
        let mut w = hub
            .watch("/", 3)
            .expect("revision 3 is the oldest allowed start");
        for want in 4..=6 {
            assert_eq!(next_rev(&mut w).await, want);
        }
    }

    #[tokio::test]
    async fn slow_watcher_ends_with_lagged() {
        let hub = Hub::new(1, options(100, 4));
        let mut w = hub.watch("/", 1).expect("watch");
        hub.publish((2..=20).map(|r| event("/a", r)));
        match w.next().await {
            Some(Err(StoreError::WatcherLagged(n))) => assert!(n > 0),
            other => panic!("expected WatcherLagged, got {other:?}"),
        }
        assert!(w.next().await.is_none(), "the stream ends after the error");
    }

    #[tokio::test]
    async fn close_ends_watches_with_closed_and_refuses_new_ones() {
        let hub = Hub::new(1, WatchOptions::default());
        let mut w = hub.watch("/", 1).expect("watch");
        hub.close();
        assert!(matches!(w.next().await, Some(Err(StoreError::Closed))));
        assert!(matches!(hub.watch("/", 1), Err(StoreError::Closed)));
    }

    #[tokio::test]
    async fn compact_clamps_to_newest_revision() {
        let hub = Hub::new(1, WatchOptions::default());
        hub.publish((2..=4).map(|r| event("/a", r)));
        hub.compact(100);
        assert_eq!(hub.compacted(), 4);
        let mut w = hub.watch("/", 4).expect("watch from the newest revision");
        hub.publish([event("/a", 5)]);
        assert_eq!(next_rev(&mut w).await, 5);
    }

    #[tokio::test]
    async fn live_events_already_replayed_or_older_are_skipped() {
        // A watch from a revision the hub has not published yet must start after it.
        let hub = Hub::new(1, WatchOptions::default());
        let mut w = hub.watch("/", 3).expect("watch");
        hub.publish((2..=5).map(|r| event("/a", r)));
        assert_eq!(next_rev(&mut w).await, 4);
        assert_eq!(next_rev(&mut w).await, 5);
    }
}
