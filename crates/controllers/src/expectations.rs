//! Create and delete expectations: what a controller did that its informer has not shown yet.
//!
//! Kubernetes' `ControllerExpectations` counts pending adds and deletes per owner so that watch
//! lag cannot make a ReplicaSet create the same pods twice. This version remembers names instead
//! of counts, which keeps it level-triggered: a pod created but not yet listed still counts as
//! existing, and a pod deleted but still listed counts as gone, until the list catches up or the
//! expectation expires (`EXPECTATION_TTL`, Kubernetes' `ExpectationsTimeout` is 5 minutes; a
//! shorter one suits fog nodes that restart often).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How long an unobserved creation or deletion is trusted before the list wins.
pub const EXPECTATION_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Pending {
    created: HashMap<String, Instant>,
    deleted: HashMap<String, Instant>,
}

/// The pods an owner created or deleted whose effect a list may not show yet, keyed by owner uid.
#[derive(Debug, Default)]
pub struct Expectations {
    by_owner: Mutex<HashMap<String, Pending>>,
}

/// What an owner has done that the observed list may not reflect yet.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unobserved {
    /// Pods created but not listed yet: they count as existing.
    pub created: HashSet<String>,
    /// Pods deleted but still listed: they count as gone.
    pub deleted: HashSet<String>,
}

impl Expectations {
    /// Records that `owner` created the pod `name`.
    pub fn created(&self, owner: &str, name: &str, now: Instant) {
        let mut map = self.by_owner.lock().expect("expectations lock");
        map.entry(owner.into())
            .or_default()
            .created
            .insert(name.into(), now);
    }

    /// Records that `owner` deleted the pod `name`.
    pub fn deleted(&self, owner: &str, name: &str, now: Instant) {
        let mut map = self.by_owner.lock().expect("expectations lock");
        map.entry(owner.into())
            .or_default()
            .deleted
            .insert(name.into(), now);
    }

    /// Settles the owner's expectations against the names a fresh list shows (`listed`: every
    /// listed pod that counts), dropping what the list now reflects or what has expired, and
    /// returns what is still unobserved.
    pub fn observe(&self, owner: &str, listed: &HashSet<String>, now: Instant) -> Unobserved {
        let mut map = self.by_owner.lock().expect("expectations lock");
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < EXPECTATION_TTL;
        // Owners deleted with expectations pending are never observed again: drop whatever
        // has expired everywhere (the map only holds owners with pending work, so it is small).
        map.retain(|_, p| p.created.values().any(fresh) || p.deleted.values().any(fresh));
        let Some(p) = map.get_mut(owner) else {
            return Unobserved::default();
        };
        p.created.retain(|n, t| !listed.contains(n) && fresh(t));
        p.deleted.retain(|n, t| listed.contains(n) && fresh(t));
        let out = Unobserved {
            created: p.created.keys().cloned().collect(),
            deleted: p.deleted.keys().cloned().collect(),
        };
        if p.created.is_empty() && p.deleted.is_empty() {
            map.remove(owner);
        }
        out
    }

    /// Forgets an owner that is gone.
    pub fn forget(&self, owner: &str) {
        self.by_owner
            .lock()
            .expect("expectations lock")
            .remove(owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_created_pod_counts_until_listed() {
        let e = Expectations::default();
        let t = Instant::now();
        e.created("rs", "a", t);
        assert_eq!(e.observe("rs", &set(&[]), t).created, set(&["a"]));
        assert!(e.observe("rs", &set(&["a"]), t).created.is_empty());
        // Once seen, a later list without it is a real disappearance.
        assert!(e.observe("rs", &set(&[]), t).created.is_empty());
    }

    #[test]
    fn a_deleted_pod_is_gone_until_the_list_drops_it() {
        let e = Expectations::default();
        let t = Instant::now();
        e.deleted("rs", "a", t);
        assert_eq!(e.observe("rs", &set(&["a"]), t).deleted, set(&["a"]));
        assert!(e.observe("rs", &set(&[]), t).deleted.is_empty());
    }

    #[test]
    fn expectations_expire() {
        let e = Expectations::default();
        let t = Instant::now();
        e.created("rs", "a", t);
        e.created("gone", "b", t);
        let later = t + EXPECTATION_TTL + Duration::from_secs(1);
        assert!(e.observe("rs", &set(&[]), later).created.is_empty());
        // The other owner's stale entry went too.
        assert!(e.by_owner.lock().unwrap().is_empty());
    }
}
