//! Store events decoded once for every watch of the server.
//!
//! A pod write reaches every pod watcher: the scheduler, several controllers, agents, kubectl.
//! Each used to parse the stored JSON and serialize its own `{"type","object"}` line. Watches
//! now look an event up here by revision: the first one parses it and the others reuse the
//! object, and the line of each event type is serialized once and shared as [`Bytes`]. Only the
//! most recent events are kept (watchers move together, near the head of the stream); a watcher
//! further behind decodes for itself, with the same result.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use brume_store::{Event, Revision};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::{ApiError, object};

/// How many recent events stay decoded. Watchers within this distance of the newest write
/// share work; a pod is a few KiB, so this bounds the memory to a few tens of MiB.
const KEPT: usize = 2048;

/// The watch event types, in the order of [`Decoded`]'s lines.
const KINDS: [&str; 3] = ["ADDED", "MODIFIED", "DELETED"];

/// One store event, decoded.
pub struct Decoded {
    /// The store key it is for.
    key: String,
    /// The object after the event (for a delete: the last state), with its resourceVersion.
    pub obj: Value,
    /// The object before the event, parsed on first use (only selectors need it).
    prev: OnceLock<Option<Value>>,
    prev_bytes: Option<brume_store::KeyValue>,
    /// The serialized watch line of each event type, made on first use.
    lines: [OnceLock<Bytes>; 3],
}

impl Decoded {
    fn new(ev: &Event) -> Result<Decoded, ApiError> {
        Ok(Decoded {
            key: ev.kv.key.clone(),
            obj: object::from_kv(&ev.kv)?,
            prev: OnceLock::new(),
            prev_bytes: ev.prev.clone(),
            lines: Default::default(),
        })
    }

    /// The object before the event, if the key existed.
    pub fn prev(&self) -> Option<&Value> {
        self.prev
            .get_or_init(|| {
                self.prev_bytes
                    .as_ref()
                    .and_then(|kv| object::from_kv(kv).ok())
            })
            .as_ref()
    }

    /// The line `{"type": kind, "object": obj}` and a newline, serialized once per kind.
    pub fn line(&self, kind: &str) -> Bytes {
        let i = KINDS.iter().position(|k| *k == kind).unwrap_or(1);
        self.lines[i].get_or_init(|| line(kind, &self.obj)).clone()
    }
}

/// A watch line for `obj`.
pub fn line(kind: &str, obj: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": obj})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

#[derive(Default)]
struct Inner {
    by_revision: HashMap<Revision, Arc<Decoded>>,
    order: VecDeque<Revision>,
}

/// The recently decoded events, by revision.
#[derive(Default)]
pub struct DecodedEvents(Mutex<Inner>);

impl DecodedEvents {
    /// `ev` decoded: shared if a watch decoded it already, else decoded now and kept.
    pub fn get(&self, ev: &Event) -> Result<Arc<Decoded>, ApiError> {
        let rev = ev.kv.mod_revision;
        if let Ok(inner) = self.0.lock()
            && let Some(d) = inner.by_revision.get(&rev)
            && d.key == ev.kv.key
        {
            return Ok(d.clone());
        }
        // Decoded outside the lock; two watchers racing both decode, and one copy is kept.
        let decoded = Arc::new(Decoded::new(ev)?);
        if let Ok(mut inner) = self.0.lock() {
            let newest = inner.order.back().copied().unwrap_or(Revision::MIN);
            // Only events near the head are worth keeping: a watcher far behind is alone.
            if rev > newest.saturating_sub(KEPT as Revision)
                && !inner.by_revision.contains_key(&rev)
            {
                inner.by_revision.insert(rev, decoded.clone());
                if rev > newest {
                    inner.order.push_back(rev);
                } else {
                    let at = inner.order.partition_point(|r| *r < rev);
                    inner.order.insert(at, rev);
                }
                while inner.order.len() > KEPT {
                    if let Some(old) = inner.order.pop_front() {
                        inner.by_revision.remove(&old);
                    }
                }
            }
        }
        Ok(decoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brume_store::{EventType, KeyValue};

    fn event(key: &str, rev: Revision, value: &str) -> Event {
        Event {
            kind: EventType::Put,
            kv: KeyValue {
                key: key.into(),
                value: Bytes::from(value.to_string()),
                create_revision: rev,
                mod_revision: rev,
            },
            prev: None,
        }
    }

    #[test]
    fn watchers_share_one_decode_and_one_line() {
        let cache = DecodedEvents::default();
        let ev = event("/registry/core/pods/a/p", 7, r#"{"metadata":{"name":"p"}}"#);
        let a = cache.get(&ev).unwrap();
        let b = cache.get(&ev).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.obj["metadata"]["resourceVersion"], "7");
        let line = a.line("ADDED");
        assert!(line.ends_with(b"\n"));
        let parsed: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(parsed["type"], "ADDED");
        assert_eq!(parsed["object"]["metadata"]["name"], "p");
        assert_eq!(b.line("ADDED").as_ptr(), line.as_ptr());
    }

    #[test]
    fn old_events_are_dropped_and_a_key_mismatch_decodes_afresh() {
        let cache = DecodedEvents::default();
        for rev in 1..=(KEPT as i64 + 10) {
            cache.get(&event("/k", rev, "{}")).unwrap();
        }
        let inner = cache.0.lock().unwrap();
        assert_eq!(inner.order.len(), KEPT);
        assert!(!inner.by_revision.contains_key(&1));
        drop(inner);
        let other = cache.get(&event("/other", 100, r#"{"x":1}"#)).unwrap();
        assert_eq!(other.obj["x"], 1);
    }
}
