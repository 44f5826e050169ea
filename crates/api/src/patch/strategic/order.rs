//! The order of a merged list, following Kubernetes' rules for strategic merge patch
//! (design proposal "preserve order in strategic merge patch"): the items the patch names come
//! in the patch's order (or `$setElementOrder`'s), the items only the server has keep their live
//! order, and the two runs are interleaved by the live order where both items were already live.
//! An item that was not live goes before the server-only item it meets, so an item a patch adds
//! without `$setElementOrder` lands in front, as Kubernetes puts it.

use serde_json::Value;

/// How two items of a list are recognised as the same item.
#[derive(Clone, Copy, Debug)]
pub(super) enum Identity<'a> {
    /// Items of a list merged by key are the same when their merge keys are equal.
    Key(&'a str),
    /// Primitives (and items of replaced lists) are the same when they are equal.
    Whole,
}

impl Identity<'_> {
    fn same(self, a: &Value, b: &Value) -> bool {
        match self {
            Identity::Key(k) => matches!((a.get(k), b.get(k)), (Some(x), Some(y)) if x == y),
            Identity::Whole => a == b,
        }
    }
}

/// Where `item` stands in `list`, if it is there.
pub(super) fn position(list: &[Value], item: &Value, id: Identity<'_>) -> Option<usize> {
    list.iter().position(|x| id.same(x, item))
}

/// Orders `merged`: the items `wanted` names in `wanted`'s order, the others in their `live`
/// order, interleaved by the `live` order.
pub(super) fn arrange(
    merged: Vec<Value>,
    wanted: &[Value],
    live: &[Value],
    id: Identity<'_>,
) -> Vec<Value> {
    let (mut named, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| position(wanted, v, id).is_some());
    // Both sorts are stable, so items the order does not place keep their relative order.
    named.sort_by_cached_key(|v| position(wanted, v, id));
    server_only.sort_by_cached_key(|v| position(live, v, id).unwrap_or(usize::MAX));
    interleave(server_only, named, live, id)
}

/// Merges two ordered runs. A server-only item goes first only when both it and the next named
/// item were live and it stood before that item.
fn interleave(
    server_only: Vec<Value>,
    named: Vec<Value>,
    live: &[Value],
    id: Identity<'_>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(server_only.len() + named.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = named.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (position(live, l, id), position(live, r, id)),
                (Some(a), Some(b)) if a < b
            ),
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(list: &[Value]) -> Vec<&str> {
        list.iter().map(|v| v["name"].as_str().unwrap()).collect()
    }

    fn items(names: &str) -> Vec<Value> {
        names
            .split_whitespace()
            .map(|n| json!({"name": n}))
            .collect()
    }

    #[test]
    fn named_items_follow_the_order_and_server_only_items_their_live_place() {
        // (live, merged, wanted, result), names separated by spaces
        let table = [
            ("a b c", "a b c", "c a b", "c a b"),
            ("a x b", "a x b", "b a", "x b a"),
            ("a web b", "a web b", "web", "a web b"),
            ("a b", "a b new", "new", "new a b"),
            ("a b", "a b new", "b new", "a b new"),
            ("a b", "a c", "a c", "a c"),
            ("", "p q", "q p", "q p"),
        ];
        for (live, merged, wanted, want) in table {
            let out = arrange(
                items(merged),
                &items(wanted),
                &items(live),
                Identity::Key("name"),
            );
            assert_eq!(
                names(&out).join(" "),
                want,
                "live {live:?} wanted {wanted:?}"
            );
        }
    }

    #[test]
    fn primitives_compare_whole() {
        let live = vec![json!("a"), json!("b")];
        let merged = vec![json!("a"), json!("b"), json!("c")];
        let out = arrange(merged, &[json!("c")], &live, Identity::Whole);
        assert_eq!(out, vec![json!("c"), json!("a"), json!("b")]);
    }
}
