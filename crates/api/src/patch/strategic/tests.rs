//! Strategic merge patch behaviour, one test per rule or directive.

use serde_json::{Value, json};

use crate::patch::{PatchError, PatchType, apply_patch};
use crate::resource::by_kind;

fn smp(api_version: &str, kind: &str, original: &Value, patch: Value) -> Result<Value, PatchError> {
    let info = by_kind(api_version, kind).unwrap();
    apply_patch(
        info,
        original,
        PatchType::StrategicMerge,
        patch.to_string().as_bytes(),
    )
}

fn pod(original: &Value, patch: Value) -> Value {
    smp("v1", "Pod", original, patch).unwrap_or_else(|e| panic!("{e}"))
}

fn deployment(original: &Value, patch: Value) -> Value {
    smp("apps/v1", "Deployment", original, patch).unwrap_or_else(|e| panic!("{e}"))
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

fn live_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}], "imagePullPolicy": "IfNotPresent"},
            {"name": "log-agent", "image": "fluent:1"}
        ]}}}
    })
}

#[test]
fn kubectl_apply_updates_only_the_image() {
    let patch: Value = serde_json::from_str(
        r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}"}},"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"image":"nginx:2","name":"web"}]}}}}"#,
    )
    .unwrap();
    let out = deployment(&live_deployment(), patch);
    let mut want = live_deployment();
    want["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!("{\"new\":1}");
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    assert_eq!(out, want);
}

#[test]
fn set_element_order_reorders_and_keeps_server_only_items_in_place() {
    let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "x"}, {"name": "b"}]}});
    let out = pod(
        &live,
        json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
    );
    assert_eq!(names(&out["spec"]["containers"]), ["x", "b", "a"]);

    let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}});
    let out = pod(
        &live,
        json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}}),
    );
    assert_eq!(names(&out["spec"]["containers"]), ["c", "a", "b"]);
}

#[test]
fn set_element_order_with_additions_and_deletions() {
    let live = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}});
    let out = pod(
        &live,
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
            "containers": [{"name": "c", "image": "3"}, {"$patch": "delete", "name": "b"}]
        }}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "c", "image": "3"}, {"name": "a", "image": "1"}])
    );
}

#[test]
fn set_element_order_must_cover_the_patch_list() {
    let live = json!({"spec": {"containers": [{"name": "a"}]}});
    let e = smp(
        "v1",
        "Pod",
        &live,
        json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "z"}]}}),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "strategic merge patch: spec.containers[0]: $setElementOrder/containers does not list \
         name=\"z\"; it must list every item the patch sets"
    );
    let e = smp(
        "v1",
        "Pod",
        &live,
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b"}, {"name": "a"}]
        }}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("different order"), "{e}");
}

#[test]
fn set_element_order_on_primitives_and_unknown_lists() {
    let live = json!({"metadata": {"finalizers": ["a", "b"]}});
    let out = pod(
        &live,
        json!({"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b", "c", "a"]));

    // A list Brume has no metadata for is merged as the order list's single key implies.
    let live = json!({"spec": {"widgets": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]}});
    let out = pod(
        &live,
        json!({"spec": {"$setElementOrder/widgets": [{"id": 2}, {"id": 1}], "widgets": [{"id": 2, "v": "B"}]}}),
    );
    assert_eq!(
        out["spec"]["widgets"],
        json!([{"id": 2, "v": "B"}, {"id": 1, "v": "a"}])
    );
}

#[test]
fn keyed_lists_merge_items_and_put_new_ones_first() {
    let live = json!({"spec": {"containers": [
        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
        {"name": "b", "image": "b:1"}
    ]}});
    let out = pod(
        &live,
        json!({"spec": {"containers": [
            {"name": "a", "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]},
            {"name": "c", "image": "c:1"}
        ]}}),
    );
    // As in the Kubernetes docs' `kubectl patch` example, an added item goes in front of the
    // items only the server had; named items keep the patch's order.
    assert_eq!(names(&out["spec"]["containers"]), ["a", "c", "b"]);
    assert_eq!(out["spec"]["containers"][0]["image"], "a:1");
    assert_eq!(
        out["spec"]["containers"][0]["env"],
        json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}])
    );

    let out = pod(
        &live,
        json!({"spec": {"containers": [{"name": "new", "image": "redis"}]}}),
    );
    assert_eq!(names(&out["spec"]["containers"]), ["new", "a", "b"]);
}

#[test]
fn nested_keyed_lists_use_their_own_keys() {
    let live = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "a",
            "ports": [{"containerPort": 80, "name": "http"}],
            "volumeMounts": [{"mountPath": "/data", "name": "d"}],
            "volumeDevices": [{"devicePath": "/dev/x", "name": "x"}]}],
        "volumes": [{"name": "d", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "s1"}],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
        "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}],
        "initContainers": [{"name": "init", "image": "i:1"}]
    }}}});
    let out = deployment(
        &live,
        json!({"spec": {"template": {"spec": {
            "containers": [{"name": "a",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "volumeMounts": [{"mountPath": "/data", "readOnly": true}],
                "volumeDevices": [{"devicePath": "/dev/x", "name": "y"}]}],
            "volumes": [{"name": "d", "emptyDir": {"medium": "Memory"}}],
            "imagePullSecrets": [{"name": "s2"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
            "initContainers": [{"name": "init", "image": "i:2"}]
        }}}}),
    );
    let spec = &out["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 80, "name": "http", "protocol": "TCP"}])
    );
    assert_eq!(
        c["volumeMounts"],
        json!([{"mountPath": "/data", "name": "d", "readOnly": true}])
    );
    assert_eq!(
        c["volumeDevices"],
        json!([{"devicePath": "/dev/x", "name": "y"}])
    );
    assert_eq!(
        spec["volumes"],
        json!([{"name": "d", "emptyDir": {"medium": "Memory"}}])
    );
    assert_eq!(names(&spec["imagePullSecrets"]), ["s2", "s1"]);
    assert_eq!(
        spec["hostAliases"],
        json!([{"ip": "10.0.0.1", "hostnames": ["b"]}])
    );
    assert_eq!(spec["topologySpreadConstraints"][0]["maxSkew"], 2);
    assert_eq!(spec["initContainers"][0]["image"], "i:2");
}

#[test]
fn lists_without_metadata_are_replaced() {
    let live = json!({"spec": {
        "tolerations": [{"key": "a"}, {"key": "b"}],
        "readinessGates": [{"conditionType": "x"}],
        "containers": [{"name": "a", "args": ["1", "2"]}]
    }});
    let out = pod(
        &live,
        json!({"spec": {
            "tolerations": [{"key": "c", "value": null}],
            "readinessGates": [],
            "containers": [{"name": "a", "args": ["3"]}]
        }}),
    );
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "c"}]));
    assert_eq!(out["spec"]["readinessGates"], json!([]));
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["3"]));

    let ep = json!({"subsets": [{"addresses": [{"ip": "1.1.1.1"}]}]});
    let out = smp(
        "v1",
        "Endpoints",
        &ep,
        json!({"subsets": [{"addresses": [{"ip": "2.2.2.2"}]}]}),
    )
    .unwrap();
    assert_eq!(out["subsets"], json!([{"addresses": [{"ip": "2.2.2.2"}]}]));
    let slice = json!({"endpoints": [{"addresses": ["1.1.1.1"]}]});
    let out = smp(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        &slice,
        json!({"endpoints": [{"addresses": ["2.2.2.2"]}]}),
    )
    .unwrap();
    assert_eq!(out["endpoints"], json!([{"addresses": ["2.2.2.2"]}]));
}

#[test]
fn null_deletes_map_keys() {
    let live =
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"nodeSelector": {"x": "y"}}});
    let out = pod(
        &live,
        json!({"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"nodeSelector": null}}),
    );
    assert_eq!(
        out,
        json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {}})
    );
    // A null for a key the object lacks is dropped, not stored.
    let out = pod(
        &json!({}),
        json!({"metadata": {"labels": {"gone": null, "k": "v"}}}),
    );
    assert_eq!(out, json!({"metadata": {"labels": {"k": "v"}}}));
}

#[test]
fn patch_directive_on_maps() {
    let live = json!({"spec": {"nodeSelector": {"a": "1", "b": "2"}, "securityContext": {"runAsUser": 1}}});
    let out = pod(
        &live,
        json!({"spec": {"nodeSelector": {"$patch": "replace", "c": "3"}}}),
    );
    assert_eq!(out["spec"]["nodeSelector"], json!({"c": "3"}));
    let out = pod(
        &live,
        json!({"spec": {"nodeSelector": {"$patch": "merge", "c": "3"}}}),
    );
    assert_eq!(
        out["spec"]["nodeSelector"],
        json!({"a": "1", "b": "2", "c": "3"})
    );
    let out = pod(
        &live,
        json!({"spec": {"securityContext": {"$patch": "delete"}}}),
    );
    assert_eq!(out["spec"], json!({"nodeSelector": {"a": "1", "b": "2"}}));
    let out = pod(
        &live,
        json!({"$patch": "replace", "metadata": {"name": "p"}}),
    );
    assert_eq!(out, json!({"metadata": {"name": "p"}}));
}

#[test]
fn patch_directive_on_list_items() {
    let live = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}, {"name": "c"}]}});
    let out = pod(
        &live,
        json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}),
    );
    assert_eq!(names(&out["spec"]["containers"]), ["a", "c"]);
    let out = pod(
        &live,
        json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "z"}, {"name": "y"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "z"}, {"name": "y"}])
    );
    let out = pod(
        &live,
        json!({"spec": {"containers": [{"name": "a", "$patch": "merge", "tty": true}]}}),
    );
    assert_eq!(
        out["spec"]["containers"][0],
        json!({"name": "a", "image": "1", "tty": true})
    );
    let out = pod(
        &live,
        json!({"metadata": {"finalizers": [{"$patch": "replace"}, "only"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["only"]));
}

#[test]
fn primitive_sets_merge_and_delete() {
    let live = json!({"metadata": {"finalizers": ["a", "b"]}});
    let out = pod(&live, json!({"metadata": {"finalizers": ["b", "c"]}}));
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    let out = pod(
        &live,
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    let out = pod(
        &json!({}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(out, json!({"metadata": {}}));
    let node = json!({"spec": {"podCIDRs": ["10.0.0.0/24"]}});
    let out = smp(
        "v1",
        "Node",
        &node,
        json!({"spec": {"podCIDRs": ["10.0.1.0/24"]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["podCIDRs"],
        json!(["10.0.1.0/24", "10.0.0.0/24"])
    );
}

#[test]
fn retain_keys_drops_unlisted_fields() {
    let live =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let out = deployment(
        &live,
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
    );
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let e = smp(
        "apps/v1",
        "Deployment",
        &live,
        json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("spec.strategy.$retainKeys"), "{e}");
}

#[test]
fn metadata_status_and_other_kinds() {
    let live = json!({
        "metadata": {"ownerReferences": [{"uid": "u1", "name": "rs1"}, {"uid": "u2", "name": "rs2"}]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Scheduled", "status": "True"}]}
    });
    let out = pod(
        &live,
        json!({
            "metadata": {"ownerReferences": [{"uid": "u2", "controller": true}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }),
    );
    assert_eq!(
        out["metadata"]["ownerReferences"][1],
        json!({"uid": "u2", "name": "rs2", "controller": true})
    );
    assert_eq!(
        out["status"]["conditions"][0],
        json!({"type": "Ready", "status": "True"})
    );
    assert_eq!(out["status"]["conditions"][1]["type"], "Scheduled");

    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let out = smp(
        "v1",
        "Service",
        &svc,
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
    );

    let node = json!({
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]},
        "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                   "conditions": [{"type": "Ready", "status": "True"}]}
    });
    let out = smp(
        "v1",
        "Node",
        &node,
        json!({"spec": {"taints": [{"key": "a", "effect": "NoExecute"}]},
               "status": {"addresses": [{"type": "Hostname", "address": "n1"}],
                          "conditions": [{"type": "Ready", "status": "False"}]}}),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["taints"],
        json!([{"key": "a", "effect": "NoExecute"}])
    );
    assert_eq!(out["status"]["addresses"].as_array().unwrap().len(), 2);
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Ready", "status": "False"}])
    );

    let d = json!({"status": {"conditions": [{"type": "Available", "status": "True"}]}});
    let out = deployment(
        &d,
        json!({"status": {"conditions": [{"type": "Progressing", "status": "True"}]}}),
    );
    assert_eq!(out["status"]["conditions"].as_array().unwrap().len(), 2);
}

#[test]
fn new_values_have_their_directives_applied_not_stored() {
    let out = deployment(
        &json!({"spec": {"replicas": 1}}),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "a"}],
            "containers": [{"name": "a", "image": "x", "env": [{"name": "Q", "$patch": "delete"}]}],
            "securityContext": {"$patch": "delete"}
        }}}}),
    );
    assert_eq!(
        out,
        json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x", "env": []}]}}}})
    );
}

#[test]
fn malformed_patches_say_where() {
    let live = json!({"spec": {"containers": [{"name": "a"}]}});
    // (patch, error text)
    let table = [
        (
            json!([1]),
            "the strategic merge patch body must be a JSON object, not a list",
        ),
        (
            json!({"spec": {"containers": [{"image": "x"}]}}),
            "strategic merge patch: spec.containers[0]: missing the merge key \"name\"",
        ),
        (
            json!({"spec": {"containers": ["a"]}}),
            "spec.containers[0]: expected an object with the merge key \"name\", not a string",
        ),
        (
            json!({"spec": {"containers": [{"$patch": "delete"}]}}),
            "spec.containers[0]: a $patch: delete item must give the merge key",
        ),
        (
            json!({"spec": {"$patch": "squash"}}),
            "spec: unknown $patch directive \"squash\"",
        ),
        (
            json!({"$foo": 1}),
            "strategic merge patch: $foo: unknown directive",
        ),
        (
            json!({"spec": {"$setElementOrder/containers": {}}}),
            "spec.$setElementOrder/containers: must be a list",
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            "metadata.$deleteFromPrimitiveList/finalizers: must be the list of values",
        ),
        (
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
            "metadata.finalizers[0]: expected a primitive value",
        ),
    ];
    for (patch, want) in table {
        let e = smp("v1", "Pod", &live, patch.clone()).expect_err(&patch.to_string());
        let msg = e.to_string();
        assert!(msg.contains(want), "{patch}: {msg}");
    }
}
