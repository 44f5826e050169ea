//! Unknown fields: keys the kind's typed struct does not keep. The object goes through the typed
//! round trip of [`ResourceInfo`]; a key of the input that is missing from an object the round trip
//! produced at the same place is unknown. Only objects are compared, never scalars, so the ways a
//! typed struct re-spells a value (`cpu: 1` as `"1"`, timestamps, `null` as absent) are not mistaken
//! for unknown fields.

use serde_json::Value;

use super::{DecodeError, Decoded, FieldValidation, finish};
use crate::resource::ResourceInfo;

/// Checks an already parsed object against its kind's schema: wrong types are an error in every
/// mode, unknown fields follow `mode`. The returned object is the input less its unknown fields
/// (not the typed round trip, which would normalise the user's values).
pub fn check_fields(
    info: &ResourceInfo,
    object: Value,
    mode: FieldValidation,
) -> Result<Decoded, DecodeError> {
    let (object, unknown) = prune_unknown(info, object)?;
    let problems = unknown
        .iter()
        .map(|p| format!("unknown field {p:?}"))
        .collect();
    finish(info, object, problems, mode)
}

/// Round-trips `object` through its typed struct and returns it less its unknown fields, with the
/// dotted path of each one (`spec.template.spec.containers[0].imagee`).
pub(super) fn prune_unknown(
    info: &ResourceInfo,
    mut object: Value,
) -> Result<(Value, Vec<String>), DecodeError> {
    let typed = (info.round_trip)(&object).map_err(|message| DecodeError::BadType {
        kind: info.kind,
        version: info.version,
        message,
    })?;
    let mut unknown = Vec::new();
    prune(&mut object, &typed, "", &mut unknown);
    Ok((object, unknown))
}

/// Removes from `input` the keys that `typed` (its round trip) lacks, recording their paths. A key
/// set to `null` is never unknown: it means "not set" and the typed struct drops it.
fn prune(input: &mut Value, typed: &Value, path: &str, unknown: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(input), Value::Object(typed)) => {
            let mut drop = Vec::new();
            for (key, value) in input.iter_mut() {
                if value.is_null() {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match typed.get(key) {
                    Some(typed_value) => prune(value, typed_value, &child, unknown),
                    None => {
                        unknown.push(child);
                        drop.push(key.clone());
                    }
                }
            }
            for key in drop {
                // `shift_remove` keeps the user's key order (plain `remove` swaps).
                input.shift_remove(&key);
            }
        }
        (Value::Array(input), Value::Array(typed)) => {
            for (i, (value, typed_value)) in input.iter_mut().zip(typed).enumerate() {
                prune(value, typed_value, &format!("{path}[{i}]"), unknown);
            }
        }
        // A scalar, or a value the typed struct re-spelled or dropped as a whole: nothing to
        // compare, so nothing below it is reported.
        _ => {}
    }
}
