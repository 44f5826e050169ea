//! The scheduling queue: the pods waiting for a node, each in one named state, and when the
//! unschedulable ones get another try. Time comes in as an argument (the time since the loop
//! started), so the rules are tested without a clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::framework::PodInfo;

/// Unschedulable pods are retried after a cluster change, but at most this often, so a flood of
/// node heartbeats or pod updates does not rescan them over and over.
pub(crate) const MIN_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Where a waiting pod stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// In the active queue, to be tried.
    Active,
    /// A node was picked and the binding is under way (or done, not yet seen by the watch).
    Binding,
    /// No node fit at the last try, or the binding failed; waits for a cluster change or the
    /// periodic retry.
    Unschedulable,
}

struct Waiting {
    info: Arc<PodInfo>,
    stage: Stage,
    /// The last failure message reported for the pod, so an unchanged one is not re-sent.
    reported: Option<String>,
}

/// A pod taken from the queue.
pub(crate) struct Popped {
    /// The pod.
    pub info: Arc<PodInfo>,
    /// A failure was reported for it before (its `PodScheduled=False` must be cleared).
    pub was_reported: bool,
}

/// The pods waiting for a node.
pub(crate) struct Queue {
    active: VecDeque<String>,
    waiting: HashMap<String, Waiting>,
    /// Something changed that may make an unschedulable pod fit.
    changed: bool,
    last_retry: Duration,
    retry_every: Duration,
}

impl Queue {
    /// An empty queue retrying unschedulable pods at least every `retry_every`.
    pub(crate) fn new(retry_every: Duration) -> Queue {
        Queue {
            active: VecDeque::new(),
            waiting: HashMap::new(),
            changed: false,
            last_retry: Duration::ZERO,
            retry_every,
        }
    }

    /// A pod that needs a node, new or updated: a new one becomes active; an updated one keeps
    /// its stage. An unschedulable pod whose scheduling facts changed is retried like after any
    /// cluster change; a status-only update (such as our own `PodScheduled` patch) is not.
    pub(crate) fn upsert(&mut self, info: Arc<PodInfo>) {
        let key = info.key();
        match self.waiting.get_mut(&key) {
            Some(w) => {
                if w.stage == Stage::Unschedulable && w.info != info {
                    self.changed = true;
                }
                w.info = info;
            }
            None => {
                self.active.push_back(key.clone());
                self.waiting.insert(
                    key,
                    Waiting {
                        info,
                        stage: Stage::Active,
                        reported: None,
                    },
                );
            }
        }
    }

    /// The pod no longer waits (it was bound, deleted or finished).
    pub(crate) fn remove(&mut self, key: &str) {
        self.waiting.remove(key);
    }

    /// Forgets the waiting pods whose keys are not in `keys` (after a relist that no longer
    /// shows them).
    pub(crate) fn retain(&mut self, keys: &HashSet<String>) {
        self.waiting.retain(|k, _| keys.contains(k));
    }

    /// The next active pod; it moves to `Binding` (the caller reports the outcome with
    /// [`Queue::unschedulable`] or [`Queue::binding_failed`]).
    pub(crate) fn pop(&mut self) -> Option<Popped> {
        while let Some(key) = self.active.pop_front() {
            if let Some(w) = self.waiting.get_mut(&key)
                && w.stage == Stage::Active
            {
                w.stage = Stage::Binding;
                return Some(Popped {
                    info: w.info.clone(),
                    was_reported: w.reported.is_some(),
                });
            }
        }
        None
    }

    /// No node fit the pod. Returns true when this message was not reported before, so the
    /// caller sets the condition and records an event.
    pub(crate) fn unschedulable(&mut self, key: &str, message: &str) -> bool {
        let Some(w) = self.waiting.get_mut(key) else {
            return false;
        };
        w.stage = Stage::Unschedulable;
        if w.reported.as_deref() == Some(message) {
            return false;
        }
        w.reported = Some(message.to_string());
        true
    }

    /// The binding failed: the pod is tried again at the next retry (at least
    /// [`MIN_RETRY_INTERVAL`] later), so a request the API server keeps refusing does not spin.
    pub(crate) fn binding_failed(&mut self, key: &str) {
        if let Some(w) = self.waiting.get_mut(key)
            && w.stage == Stage::Binding
        {
            w.stage = Stage::Unschedulable;
            self.changed = true;
        }
    }

    /// Notes a change in the cluster that may let an unschedulable pod fit.
    pub(crate) fn cluster_changed(&mut self) {
        self.changed = true;
    }

    /// Moves the unschedulable pods back to the active queue when the cluster changed (at most
    /// once per [`MIN_RETRY_INTERVAL`]) or when `retry_every` has passed; returns how many.
    pub(crate) fn maybe_retry(&mut self, now: Duration) -> usize {
        let since = now.saturating_sub(self.last_retry);
        let due = (self.changed && since >= MIN_RETRY_INTERVAL) || since >= self.retry_every;
        if !due {
            return 0;
        }
        self.changed = false;
        self.last_retry = now;
        let mut moved = 0;
        for (key, w) in &mut self.waiting {
            if w.stage == Stage::Unschedulable {
                w.stage = Stage::Active;
                self.active.push_back(key.clone());
                moved += 1;
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn pods_are_tried_in_arrival_order_once() {
        let mut q = Queue::new(secs(5));
        q.upsert(Arc::new(pod("a", 0, 0)));
        q.upsert(Arc::new(pod("b", 0, 0)));
        q.upsert(Arc::new(pod("a", 1, 0)));
        assert_eq!(q.pop().unwrap().info.name, "a");
        assert_eq!(q.pop().unwrap().info.name, "b");
        assert!(q.pop().is_none());
        // A stale update while binding does not queue it again.
        q.upsert(Arc::new(pod("a", 0, 0)));
        assert!(q.pop().is_none());
        q.binding_failed("default/a");
        assert!(q.pop().is_none());
        assert_eq!(q.maybe_retry(secs(1)), 1);
        let again = q.pop().unwrap();
        assert_eq!(again.info.name, "a");
        assert!(!again.was_reported);
        q.remove("default/a");
        q.binding_failed("default/a");
        assert!(q.pop().is_none());
        q.upsert(Arc::new(pod("c", 0, 0)));
        q.retain(&["default/b".to_string()].into());
        assert!(q.pop().is_none());
    }

    #[test]
    fn a_failure_is_reported_once_per_message() {
        let mut q = Queue::new(secs(5));
        q.upsert(Arc::new(pod("a", 0, 0)));
        q.pop();
        assert!(q.unschedulable("default/a", "0/1 nodes are available: 1 Insufficient cpu."));
        q.maybe_retry(secs(10));
        assert!(q.pop().unwrap().was_reported);
        assert!(!q.unschedulable("default/a", "0/1 nodes are available: 1 Insufficient cpu."));
        q.maybe_retry(secs(20));
        q.pop();
        assert!(q.unschedulable("default/a", "0/2 nodes are available: 2 Insufficient cpu."));
    }

    #[test]
    fn unschedulable_pods_retry_on_change_at_most_each_second_and_periodically() {
        let mut q = Queue::new(secs(5));
        q.upsert(Arc::new(pod("a", 0, 0)));
        q.pop();
        q.unschedulable("default/a", "m");
        assert_eq!(q.maybe_retry(secs(1)), 0);
        // The same pod again (a status update) is no change; a new request is.
        q.upsert(Arc::new(pod("a", 0, 0)));
        assert_eq!(q.maybe_retry(Duration::from_millis(1500)), 0);
        q.upsert(Arc::new(pod("a", 10, 0)));
        assert_eq!(q.maybe_retry(Duration::from_millis(1500)), 1);
        q.pop();
        q.unschedulable("default/a", "m");
        q.cluster_changed();
        assert_eq!(q.maybe_retry(Duration::from_millis(2000)), 0);
        assert_eq!(q.maybe_retry(Duration::from_millis(2500)), 1);
        q.pop();
        q.unschedulable("default/a", "m");
        assert_eq!(q.maybe_retry(secs(7)), 0);
        assert_eq!(q.maybe_retry(Duration::from_millis(7500)), 1);
    }
}
