//! Kubernetes strategic merge patch, written from its documented semantics
//! (community/contributors/devel/sig-api-machinery/strategic-merge-patch.md): maps merge key by
//! key and `null` deletes a key; lists merge as [`meta`](super::meta) says — item by item on a
//! merge key, as a set of primitives, or replaced. The directives are `$patch` (`replace`,
//! `delete`, `merge`) on maps and list items, `$retainKeys`, `$setElementOrder/<list>` and
//! `$deleteFromPrimitiveList/<list>`.
//!
//! Where Brume differs from Kubernetes, on purpose:
//! - `$patch: merge` is accepted as the explicit default (Kubernetes rejects it).
//! - A value the object does not have yet is merged into an empty value, so directives inside it
//!   are applied rather than stored.
//! - `{"$patch": "delete"}` on a map removes the field (Kubernetes leaves `{}`); at the top it
//!   leaves `{}`.
//! - A list with no metadata that comes with `$setElementOrder` is merged as the order list
//!   implies (by its single key, or as primitives), since a client only sends that for lists
//!   Kubernetes merges.

mod order;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use super::meta::{Field, ListStrategy, Schema};
use super::{PatchError, PatchType, kind_of};
use order::Identity;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const DIRECTIVES: &str = "$patch, $retainKeys, $setElementOrder/<list> or \
     $deleteFromPrimitiveList/<list>";

/// Applies a strategic merge patch (already parsed) to a copy of an object of `kind`.
pub(super) fn apply(kind: &str, original: &Value, patch: Value) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::WrongShape {
            patch_type: PatchType::StrategicMerge,
            expected: "a JSON object",
            found: kind_of(&patch),
        });
    };
    let original = original.as_object().cloned().unwrap_or_default();
    merge_map(original, patch, Schema::for_kind(kind), "").map(Value::Object)
}

/// How one list merges here.
#[derive(Clone, Copy, Debug)]
enum Mode<'a> {
    Replace,
    ByKey(&'a str),
    Primitives,
}

impl From<ListStrategy> for Mode<'static> {
    fn from(s: ListStrategy) -> Self {
        match s {
            ListStrategy::Replace => Mode::Replace,
            ListStrategy::MergeByKey(k) => Mode::ByKey(k),
            ListStrategy::MergePrimitives => Mode::Primitives,
        }
    }
}

impl<'a> Mode<'a> {
    fn identity(self) -> Identity<'a> {
        match self {
            Mode::ByKey(k) => Identity::Key(k),
            _ => Identity::Whole,
        }
    }
}

fn error(path: &str, detail: impl Into<String>) -> PatchError {
    PatchError::Strategic {
        path: if path.is_empty() {
            "<root>".to_string()
        } else {
            path.to_string()
        },
        detail: detail.into(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The `$patch` directive of a map, if it has one.
fn directive<'a>(map: &'a Map<String, Value>, path: &str) -> Result<Option<&'a str>, PatchError> {
    match map.get(PATCH) {
        None => Ok(None),
        Some(Value::String(d)) if matches!(d.as_str(), "replace" | "delete" | "merge") => {
            Ok(Some(d.as_str()))
        }
        Some(other) => Err(error(
            path,
            format!(
                "unknown $patch directive {other}; valid: \"replace\", \"delete\" or \"merge\""
            ),
        )),
    }
}

/// Merges `patch` into the map `original`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Schema,
    path: &str,
) -> Result<Map<String, Value>, PatchError> {
    match directive(&patch, path)? {
        Some("replace") => {
            patch.shift_remove(PATCH);
            original = Map::new();
        }
        Some("delete") => return Ok(Map::new()),
        Some(_) => {
            patch.shift_remove(PATCH);
        }
        None => {}
    }
    if let Some(keys) = patch.shift_remove(RETAIN_KEYS) {
        retain_keys(&mut original, &keys, &join(path, RETAIN_KEYS))?;
    }
    let ordered: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in ordered {
        let order = patch.shift_remove(&key).unwrap_or_default();
        let name = &key[SET_ELEMENT_ORDER.len()..];
        let Value::Array(order) = order else {
            return Err(error(
                &join(path, &key),
                format!(
                    "must be a list giving the order of {name}, not {}",
                    kind_of(&order)
                ),
            ));
        };
        set_element_order(
            &mut original,
            &mut patch,
            name,
            &order,
            schema.field(name),
            path,
        )?;
    }
    for (key, value) in patch {
        if let Some(name) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let Value::Array(remove) = value else {
                return Err(error(
                    &join(path, &key),
                    format!(
                        "must be the list of values to remove from {name}, not {}",
                        kind_of(&value)
                    ),
                ));
            };
            if let Some(Value::Array(list)) = original.get_mut(name) {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            return Err(error(
                &join(path, &key),
                format!("unknown directive {key:?}; valid: {DIRECTIVES}"),
            ));
        }
        let child = join(path, &key);
        let current = original.get_mut(&key).map(std::mem::take);
        match merge_field(current, value, schema.field(&key), &child)? {
            // Inserting over an existing key keeps its place in the map.
            Some(v) => {
                original.insert(key, v);
            }
            None => {
                original.shift_remove(&key);
            }
        }
    }
    Ok(original)
}

/// `$retainKeys`: drops every key of the original map that the list does not name.
fn retain_keys(
    original: &mut Map<String, Value>,
    keys: &Value,
    path: &str,
) -> Result<(), PatchError> {
    let names: Option<Vec<&str>> = keys
        .as_array()
        .map(|list| list.iter().map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(names) = names else {
        return Err(error(path, "must be a list of the field names to keep"));
    };
    original.retain(|k, _| names.contains(&k.as_str()));
    Ok(())
}

/// Merges one field: `current` is the object's value (if any), `patch` the patch's.
/// `None` means the field is removed.
fn merge_field(
    current: Option<Value>,
    patch: Value,
    field: Field,
    path: &str,
) -> Result<Option<Value>, PatchError> {
    Ok(match (current, patch) {
        (_, Value::Null) => None,
        (_, Value::Object(p)) if directive(&p, path)? == Some("delete") => None,
        (Some(Value::Object(o)), Value::Object(p)) => {
            Some(Value::Object(merge_map(o, p, field.schema, path)?))
        }
        (_, Value::Object(p)) => Some(Value::Object(merge_map(Map::new(), p, field.schema, path)?)),
        (Some(Value::Array(o)), Value::Array(p)) => Some(Value::Array(merge_list(
            o,
            p,
            field.list.into(),
            field.schema,
            path,
        )?)),
        (_, Value::Array(p)) => Some(Value::Array(merge_list(
            Vec::new(),
            p,
            field.list.into(),
            field.schema,
            path,
        )?)),
        (_, scalar) => Some(scalar),
    })
}

/// Merges a list according to its mode.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    mode: Mode<'_>,
    schema: Schema,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    match mode {
        Mode::Replace => replace_list(patch, schema, path),
        Mode::Primitives => merge_primitives(original, patch, path),
        Mode::ByKey(key) => merge_keyed(original, patch, key, schema, path),
    }
}

/// A replaced list is the patch's list, with directives applied inside its items.
fn replace_list(patch: Vec<Value>, schema: Schema, path: &str) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(patch.len());
    for (i, item) in patch.into_iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        match item {
            Value::Object(m) => {
                if m.len() == 1 && directive(&m, &item_path)?.is_some() {
                    continue;
                }
                if directive(&m, &item_path)? == Some("delete") {
                    continue;
                }
                out.push(Value::Object(merge_map(Map::new(), m, schema, &item_path)?));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Merges lists of primitives as sets: the patch's values are added, duplicates dropped.
/// `{"$patch": "replace"}` among them replaces the list with the other values.
fn merge_primitives(
    original: Vec<Value>,
    patch: Vec<Value>,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    let mut replace = false;
    let mut items = Vec::with_capacity(patch.len());
    for (i, item) in patch.into_iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        match item {
            Value::Object(m) if m.len() == 1 && directive(&m, &item_path)? == Some("replace") => {
                replace = true;
            }
            Value::Object(_) | Value::Array(_) => {
                return Err(error(
                    &item_path,
                    format!(
                        "expected a primitive value, not {}: this list is merged as a set of values",
                        kind_of(&item)
                    ),
                ));
            }
            v => items.push(v),
        }
    }
    let live = if replace { Vec::new() } else { original };
    let mut merged: Vec<Value> = Vec::with_capacity(live.len() + items.len());
    for v in live.iter().chain(items.iter()) {
        if !merged.contains(v) {
            merged.push(v.clone());
        }
    }
    Ok(order::arrange(merged, &items, &live, Identity::Whole))
}

/// Merges lists of maps on `key`: a patch item merges into the live item with the same key, or
/// is added; `$patch: delete` items remove, a `$patch: replace` item makes the list the patch's.
fn merge_keyed(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    schema: Schema,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    let mut replace = false;
    let mut items = Vec::with_capacity(patch.len());
    for (i, item) in patch.into_iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Value::Object(mut m) = item else {
            return Err(error(
                &item_path,
                format!(
                    "expected an object with the merge key {key:?}, not {}",
                    kind_of(&item)
                ),
            ));
        };
        match directive(&m, &item_path)? {
            Some("delete") => {
                let Some(k) = m.get(key) else {
                    return Err(error(
                        &item_path,
                        format!(
                            "a $patch: delete item must give the merge key {key:?} of the item to delete"
                        ),
                    ));
                };
                original.retain(|o| o.get(key) != Some(k));
                continue;
            }
            Some("replace") => {
                replace = true;
                continue;
            }
            Some(_) => {
                m.shift_remove(PATCH);
                if m.is_empty() {
                    continue;
                }
            }
            None => {}
        }
        if !m.contains_key(key) {
            return Err(error(
                &item_path,
                format!("missing the merge key {key:?}, which every item of this list needs"),
            ));
        }
        items.push((item_path, m));
    }
    if replace {
        original.clear();
    }
    let live = original.clone();
    let wanted: Vec<Value> = items
        .iter()
        .map(|(_, m)| {
            let mut id = Map::new();
            id.insert(key.to_string(), m[key].clone());
            Value::Object(id)
        })
        .collect();
    for (item_path, m) in items {
        let found = original.iter().position(|o| o.get(key) == m.get(key));
        match found {
            Some(at) => {
                let base = match std::mem::take(&mut original[at]) {
                    Value::Object(o) => o,
                    _ => Map::new(),
                };
                original[at] = Value::Object(merge_map(base, m, schema, &item_path)?);
            }
            None => original.push(Value::Object(merge_map(Map::new(), m, schema, &item_path)?)),
        }
    }
    Ok(order::arrange(original, &wanted, &live, Identity::Key(key)))
}

/// Merges the list `name` and orders it as `$setElementOrder/<name>` says. The list is taken out
/// of `patch` so the main loop does not merge it again.
fn set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    name: &str,
    order: &[Value],
    field: Field,
    path: &str,
) -> Result<(), PatchError> {
    let list_path = join(path, name);
    let mode = infer_mode(field.list.into(), order);
    let live = match original.get(name) {
        Some(Value::Array(list)) => Some(list.clone()),
        _ => None,
    };
    let patch_list = match patch.get(name) {
        Some(Value::Array(_)) => match patch.shift_remove(name) {
            Some(Value::Array(list)) => Some(list),
            _ => None,
        },
        _ => None,
    };
    if let Some(list) = &patch_list {
        check_order_covers_patch(list, order, mode, name, &list_path)?;
    }
    let merged = match (live.clone(), patch_list) {
        (Some(l), Some(p)) => merge_list(l, p, mode, field.schema, &list_path)?,
        (Some(l), None) => l,
        (None, Some(p)) => merge_list(Vec::new(), p, mode, field.schema, &list_path)?,
        (None, None) => return Ok(()),
    };
    let live = live.unwrap_or_default();
    let arranged = order::arrange(merged, order, &live, mode.identity());
    original.insert(name.to_string(), Value::Array(arranged));
    Ok(())
}

/// The mode of a list with `$setElementOrder`: from the metadata, or, for a list the metadata
/// does not know, from the shape of the order list (`[{"name": ..}]` means merge on `name`).
fn infer_mode<'a>(mode: Mode<'static>, order: &'a [Value]) -> Mode<'a> {
    if !matches!(mode, Mode::Replace) || order.is_empty() {
        return mode;
    }
    if order.iter().all(|v| !v.is_object() && !v.is_array()) {
        return Mode::Primitives;
    }
    let single_key = |v: &'a Value| match v.as_object() {
        Some(m) if m.len() == 1 => m.keys().next().map(String::as_str),
        _ => None,
    };
    let first = single_key(&order[0]);
    match first {
        Some(k) if order.iter().all(|v| single_key(v) == Some(k)) => Mode::ByKey(k),
        _ => Mode::Replace,
    }
}

/// Every item the patch list sets must appear in `$setElementOrder`, in the same relative order.
fn check_order_covers_patch(
    list: &[Value],
    order: &[Value],
    mode: Mode<'_>,
    name: &str,
    path: &str,
) -> Result<(), PatchError> {
    let mut last = None;
    for (i, item) in list.iter().enumerate() {
        if let Value::Object(m) = item
            && matches!(
                m.get(PATCH).and_then(Value::as_str),
                Some("delete" | "replace")
            )
        {
            continue;
        }
        let at = order::position(order, item, mode.identity());
        let what = match mode {
            Mode::ByKey(k) => format!("{k}={}", item.get(k).unwrap_or(&Value::Null)),
            _ => item.to_string(),
        };
        match at {
            None => {
                return Err(error(
                    &format!("{path}[{i}]"),
                    format!(
                        "$setElementOrder/{name} does not list {what}; it must list every item the patch sets"
                    ),
                ));
            }
            Some(at) if last.is_some_and(|l| at < l) => {
                return Err(error(
                    &format!("{path}[{i}]"),
                    format!(
                        "{what} comes in a different order in $setElementOrder/{name} than in the patch"
                    ),
                ));
            }
            Some(at) => last = Some(at),
        }
    }
    Ok(())
}
