//! JSON patch (RFC 6902), applied with the `json-patch` crate one operation at a time so that a
//! failure can say which operation failed and what the document held at that moment.

use json_patch::{Patch, PatchErrorKind, PatchOperation};
use serde_json::Value;

use super::{PatchError, PatchType, kind_of};

/// Applies a JSON patch body to a copy of `original`. All operations apply or none do.
pub(super) fn apply(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let value: Value = serde_json::from_slice(body).map_err(|source| PatchError::InvalidBody {
        patch_type: PatchType::Json,
        source,
    })?;
    if !value.is_array() {
        return Err(PatchError::WrongShape {
            patch_type: PatchType::Json,
            expected: "a list of operations such as [{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3}]",
            found: kind_of(&value),
        });
    }
    let patch: Patch = serde_json::from_value(value).map_err(|source| PatchError::InvalidBody {
        patch_type: PatchType::Json,
        source,
    })?;
    let mut doc = original.clone();
    for (index, op) in patch.iter().enumerate() {
        if let Err(source) = json_patch::patch(&mut doc, std::slice::from_ref(op)) {
            return Err(failure(index, op, &doc, source));
        }
    }
    Ok(doc)
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

/// The error for operation `index`, which failed on `doc` (the document before it ran).
fn failure(
    index: usize,
    op: &PatchOperation,
    doc: &Value,
    source: json_patch::PatchError,
) -> PatchError {
    let path = op.path().to_string();
    let reason = match (&source.kind, op) {
        (PatchErrorKind::TestFailed, PatchOperation::Test(t)) => {
            let actual = doc.pointer(&path).map(Value::to_string);
            format!(
                "test failed: the value is {}, the patch expected {}",
                actual.as_deref().unwrap_or("absent"),
                t.value
            )
        }
        (PatchErrorKind::InvalidFromPointer, PatchOperation::Move(m)) => {
            format!("the \"from\" path {:?} does not exist", m.from.to_string())
        }
        (PatchErrorKind::InvalidFromPointer, PatchOperation::Copy(c)) => {
            format!("the \"from\" path {:?} does not exist", c.from.to_string())
        }
        (PatchErrorKind::CannotMoveInsideItself, _) => {
            "cannot move a value inside itself".to_string()
        }
        (PatchErrorKind::InvalidPointer, PatchOperation::Add(_) | PatchOperation::Move(_)) => {
            "the path's parent does not exist, or the list index is out of range (use \"-\" to \
             append); a path is a JSON pointer such as /metadata/labels/app"
                .to_string()
        }
        (PatchErrorKind::InvalidPointer, _) => "the path does not exist in the object, or the \
             list index is out of range; a path is a JSON pointer such as /spec/replicas"
            .to_string(),
        (kind, _) => kind.to_string(),
    };
    PatchError::Operation {
        index,
        op: op_name(op),
        path,
        reason,
        source,
    }
}

#[cfg(test)]
mod tests {
    use crate::patch::{PatchError, PatchType, apply_patch};
    use crate::resource::by_kind;
    use serde_json::{Value, json};

    fn patch(original: &Value, body: Value) -> Result<Value, PatchError> {
        let info = by_kind("apps/v1", "Deployment").unwrap();
        apply_patch(info, original, PatchType::Json, body.to_string().as_bytes())
    }

    fn deployment() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a"}]}}}
        })
    }

    #[test]
    fn every_operation_applies() {
        let out = patch(
            &deployment(),
            json!([
                {"op": "test", "path": "/spec/replicas", "value": 2},
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
                {"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "b"}},
                {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copy"},
                {"op": "move", "from": "/metadata/labels/copy", "path": "/metadata/labels/moved"},
                {"op": "remove", "path": "/metadata/labels/app"}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "metadata": {"name": "web", "labels": {"tier": "front", "moved": "web"}},
                "spec": {"replicas": 3, "template": {"spec": {"containers": [
                    {"name": "a"}, {"name": "b"}
                ]}}}
            })
        );
    }

    #[test]
    fn failures_name_the_operation_index_and_path() {
        // (patch, error text)
        let table = [
            (
                json!([
                    {"op": "replace", "path": "/spec/replicas", "value": 5},
                    {"op": "test", "path": "/spec/replicas", "value": 2}
                ]),
                "JSON patch operation 1 (test at \"/spec/replicas\") failed: test failed: the \
                 value is 5, the patch expected 2",
            ),
            (
                json!([{"op": "remove", "path": "/spec/paused"}]),
                "JSON patch operation 0 (remove at \"/spec/paused\") failed: the path does not exist",
            ),
            (
                json!([{"op": "add", "path": "/status/x", "value": 1}]),
                "JSON patch operation 0 (add at \"/status/x\") failed: the path's parent does not exist",
            ),
            (
                json!([{"op": "replace", "path": "/spec/template/spec/containers/4", "value": {}}]),
                "operation 0 (replace at \"/spec/template/spec/containers/4\")",
            ),
            (
                json!([{"op": "copy", "from": "/nope", "path": "/x"}]),
                "the \"from\" path \"/nope\" does not exist",
            ),
            (
                json!([{"op": "move", "from": "/spec", "path": "/spec/inner"}]),
                "cannot move a value inside itself",
            ),
            (
                json!([{"op": "test", "path": "/missing", "value": 1}]),
                "failed: the path does not exist",
            ),
        ];
        for (body, want) in table {
            let e = patch(&deployment(), body.clone()).expect_err(&body.to_string());
            let msg = e.to_string();
            assert!(msg.contains(want), "{body}: {msg}");
        }
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let e = patch(&deployment(), json!({"op": "add"})).unwrap_err();
        assert!(
            matches!(
                e,
                PatchError::WrongShape {
                    found: "an object",
                    ..
                }
            ),
            "{e}"
        );
        let e = patch(&deployment(), json!([{"op": "frobnicate", "path": "/a"}])).unwrap_err();
        assert!(e.to_string().contains("frobnicate"), "{e}");
        let e = patch(
            &deployment(),
            json!([{"op": "add", "path": "a", "value": 1}]),
        )
        .unwrap_err();
        assert!(matches!(e, PatchError::InvalidBody { .. }), "{e}");
    }

    #[test]
    fn replacing_the_root_with_a_scalar_is_refused() {
        let e = patch(
            &deployment(),
            json!([{"op": "replace", "path": "", "value": 1}]),
        )
        .unwrap_err();
        assert!(matches!(e, PatchError::NotAnObject { .. }), "{e}");
    }
}
