//! Core Events (`ValidateEventCreate`): they must say what they are about, in their namespace.

use k8s_openapi::api::core::v1::Event;
use serde_json::Value;

use super::container::one_of;
use super::errors::invalid_str;
use super::typed;
use crate::error::FieldError;

/// Validates a new or updated Event.
pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let Some(event) = typed::<Event>(obj, "", errs) else {
        return;
    };
    let involved = &event.involved_object;
    let about_something =
        involved.kind.is_some() || involved.name.is_some() || involved.uid.is_some();
    if !about_something {
        errs.push(FieldError::required(
            "involvedObject",
            "the object this event is about (kind, name and namespace)",
        ));
    }
    let namespace = event.metadata.namespace.as_deref().unwrap_or("");
    let involved_ns = involved.namespace.as_deref().unwrap_or("");
    // Events about cluster-scoped objects (Nodes) live in `default` or in no namespace.
    let matches = if involved_ns.is_empty() {
        namespace.is_empty() || namespace == "default"
    } else {
        namespace == involved_ns
    };
    if !matches {
        errs.push(invalid_str(
            "involvedObject.namespace",
            involved_ns,
            "does not match event.namespace",
        ));
    }
    // Kubernetes checks the type of events written by reporting controllers.
    if event
        .reporting_component
        .as_deref()
        .is_some_and(|c| !c.is_empty())
    {
        one_of(event.type_.as_deref(), "type", &["Normal", "Warning"], errs);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(obj: Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate(&obj, &mut errs);
        errs.iter().map(FieldError::message).collect()
    }

    #[test]
    fn events_name_their_object_in_their_namespace() {
        assert!(
            messages(
                json!({"metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Scheduled", "type": "Normal"})
            )
            .is_empty()
        );
        assert!(
            messages(json!({"metadata": {"name": "n.1", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "edge-1"}}))
            .is_empty()
        );
        assert_eq!(
            messages(json!({"metadata": {"name": "e", "namespace": "prod"}, "involvedObject": {}})),
            [
                "involvedObject: Required value: the object this event is about (kind, name and namespace)",
                "involvedObject.namespace: Invalid value: \"\": does not match event.namespace"
            ]
        );
        assert_eq!(
            messages(json!({"metadata": {"name": "e", "namespace": "prod"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "prod"},
                "reportingComponent": "brume-scheduler", "type": "Info"})),
            ["type: Unsupported value: \"Info\": supported values: \"Normal\", \"Warning\""]
        );
    }
}
