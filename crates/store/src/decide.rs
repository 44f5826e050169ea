//! The pure rules every backend shares: whether a conditional write goes ahead, what it produces,
//! and where a range read starts. Backends only fetch the current key-value and apply the result.

use std::ops::Bound;

use bytes::Bytes;

use crate::{Event, EventType, KeyValue, Precondition, RangeRequest, Revision, WriteOutcome};

/// One write request, as queued by a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteOp {
    /// Store `value` at `key` if `cond` holds.
    Put {
        key: String,
        value: Bytes,
        cond: Precondition,
    },
    /// Remove `key` if `cond` holds.
    Delete { key: String, cond: Precondition },
}

impl WriteOp {
    /// The key the write touches.
    pub(crate) fn key(&self) -> &str {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Delete { key, .. } => key,
        }
    }

    fn cond(&self) -> Precondition {
        match self {
            WriteOp::Put { cond, .. } | WriteOp::Delete { cond, .. } => *cond,
        }
    }
}

/// What a backend must do for one write, decided from the key's current value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing is written; the caller gets `Failed(current)`.
    Reject(Option<KeyValue>),
    /// The write goes ahead at the given event's revision.
    Apply(Event),
}

impl Decision {
    /// The answer the caller receives once the decision is durable.
    pub(crate) fn outcome(&self) -> WriteOutcome {
        match self {
            Decision::Reject(current) => WriteOutcome::Failed(current.clone()),
            Decision::Apply(event) => WriteOutcome::Done(event.kv.clone()),
        }
    }
}

/// Whether `cond` holds for a key whose current value is `current`.
pub(crate) fn precondition_holds(cond: Precondition, current: Option<&KeyValue>) -> bool {
    match (cond, current) {
        (Precondition::None, _) => true,
        (Precondition::Absent, current) => current.is_none(),
        (Precondition::Exists, current) => current.is_some(),
        (Precondition::ModRevision(rev), Some(kv)) => kv.mod_revision == rev,
        (Precondition::ModRevision(_), None) => false,
    }
}

/// Decides `op` against the key's current value; `revision` is the revision the write gets if it
/// goes ahead (the store's current revision plus one).
pub(crate) fn decide(op: &WriteOp, current: Option<KeyValue>, revision: Revision) -> Decision {
    if !precondition_holds(op.cond(), current.as_ref()) {
        return Decision::Reject(current);
    }
    match op {
        WriteOp::Put { key, value, .. } => {
            let create_revision = current.as_ref().map_or(revision, |kv| kv.create_revision);
            Decision::Apply(Event {
                kind: EventType::Put,
                kv: KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision,
                    mod_revision: revision,
                },
                prev: current,
            })
        }
        WriteOp::Delete { .. } => match current {
            // Deleting a missing key is `Failed(None)` whatever the precondition (trait docs).
            None => Decision::Reject(None),
            Some(prev) => Decision::Apply(Event {
                kind: EventType::Delete,
                kv: KeyValue {
                    mod_revision: revision,
                    ..prev.clone()
                },
                prev: Some(prev),
            }),
        },
    }
}

/// The lower bound of a range read: the prefix itself, or strictly after `start_after` when that
/// lies at or beyond the prefix.
pub(crate) fn range_start(req: &RangeRequest) -> Bound<&str> {
    match req.start_after.as_deref() {
        Some(after) if after >= req.prefix.as_str() => Bound::Excluded(after),
        _ => Bound::Included(req.prefix.as_str()),
    }
}

/// Collects one page of a range read from keys in ascending order starting at
/// [`range_start`]; stops at the first key outside the prefix. Returns the page and `more`.
pub(crate) fn collect_page<E>(
    prefix: &str,
    limit: usize,
    entries: impl Iterator<Item = Result<KeyValue, E>>,
) -> Result<(Vec<KeyValue>, bool), E> {
    let mut kvs = Vec::new();
    for entry in entries {
        let kv = entry?;
        if !kv.key.starts_with(prefix) {
            break;
        }
        if limit != 0 && kvs.len() == limit {
            return Ok((kvs, true));
        }
        kvs.push(kv);
    }
    Ok((kvs, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, create: Revision, modr: Revision) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Bytes::from_static(b"v"),
            create_revision: create,
            mod_revision: modr,
        }
    }

    fn put(cond: Precondition) -> WriteOp {
        WriteOp::Put {
            key: "/a".into(),
            value: Bytes::from_static(b"new"),
            cond,
        }
    }

    #[test]
    fn preconditions_follow_etcd_compare_semantics() {
        let cur = kv("/a", 2, 5);
        assert!(precondition_holds(Precondition::None, None));
        assert!(precondition_holds(Precondition::Absent, None));
        assert!(!precondition_holds(Precondition::Absent, Some(&cur)));
        assert!(precondition_holds(Precondition::Exists, Some(&cur)));
        assert!(!precondition_holds(Precondition::Exists, None));
        assert!(precondition_holds(Precondition::ModRevision(5), Some(&cur)));
        assert!(!precondition_holds(
            Precondition::ModRevision(4),
            Some(&cur)
        ));
        assert!(!precondition_holds(Precondition::ModRevision(5), None));
    }

    #[test]
    fn update_keeps_create_revision_and_reports_prev() {
        let cur = kv("/a", 2, 5);
        let Decision::Apply(ev) = decide(&put(Precondition::ModRevision(5)), Some(cur.clone()), 9)
        else {
            panic!("expected the update to apply");
        };
        assert_eq!(ev.kind, EventType::Put);
        assert_eq!((ev.kv.create_revision, ev.kv.mod_revision), (2, 9));
        assert_eq!(ev.prev, Some(cur));
    }

    #[test]
    fn failed_precondition_returns_current_value() {
        let cur = kv("/a", 2, 5);
        let d = decide(&put(Precondition::Absent), Some(cur.clone()), 9);
        assert_eq!(d.outcome(), WriteOutcome::Failed(Some(cur)));
    }

    #[test]
    fn delete_of_missing_key_fails_even_unconditionally() {
        let op = WriteOp::Delete {
            key: "/a".into(),
            cond: Precondition::None,
        };
        assert_eq!(decide(&op, None, 3), Decision::Reject(None));
    }

    #[test]
    fn delete_reports_last_value_at_delete_revision() {
        let cur = kv("/a", 2, 5);
        let op = WriteOp::Delete {
            key: "/a".into(),
            cond: Precondition::Exists,
        };
        let d = decide(&op, Some(cur.clone()), 7);
        assert_eq!(d.outcome(), WriteOutcome::Done(kv("/a", 2, 7)));
    }

    #[test]
    fn range_start_skips_to_start_after_only_when_inside_or_beyond_prefix() {
        let mut req = RangeRequest {
            prefix: "/p/".into(),
            start_after: Some("/a".into()),
            limit: 0,
        };
        assert_eq!(range_start(&req), Bound::Included("/p/"));
        req.start_after = Some("/p/x".into());
        assert_eq!(range_start(&req), Bound::Excluded("/p/x"));
    }

    #[test]
    fn page_stops_at_prefix_end_and_reports_more() {
        let keys = ["/p/a", "/p/b", "/p/c", "/q/a"];
        let it = || keys.iter().map(|k| Ok::<_, ()>(kv(k, 1, 1)));
        let (page, more) = collect_page("/p/", 2, it()).expect("no error");
        assert_eq!(page.len(), 2);
        assert!(more);
        let (page, more) = collect_page("/p/", 3, it()).expect("no error");
        assert_eq!(page.len(), 3);
        assert!(!more, "the next key is outside the prefix");
        let (page, more) = collect_page("/p/", 0, it()).expect("no error");
        assert_eq!((page.len(), more), (3, false));
    }
}
