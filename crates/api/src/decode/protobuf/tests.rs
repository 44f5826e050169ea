//! Bodies encoded by prost from k8s-pb's structs, as Go's generated marshallers write them: plain
//! fields present with their zero values, pointer fields only when set.

use std::collections::BTreeMap;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message as _;
use serde_json::{Value, json};

use super::*;
use crate::decode::protobuf_schema::CORE_V1_POD_SECURITY_CONTEXT;
use crate::decode::{FieldValidation, check_fields, decode, parse_body};
use crate::resource::by_kind;

/// The body kubectl sends for `object`: magic, then `runtime.Unknown` around the typed bytes.
fn body(api_version: &str, kind: &str, object: &impl prost::Message) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object.encode_to_vec()),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

/// Decodes `body` and checks that the result passes strict field validation untouched.
fn decoded_strict(body: &[u8]) -> Value {
    let value = decode_protobuf(body).unwrap();
    let info = by_kind(
        value["apiVersion"].as_str().unwrap(),
        value["kind"].as_str().unwrap(),
    )
    .unwrap();
    let checked = check_fields(info, value.clone(), FieldValidation::Strict).unwrap();
    assert_eq!(checked.object, value);
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
    value
}

/// Object metadata as Go writes it for `ObjectMeta{Name: name}`: every plain field, zero.
fn meta(name: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: Some(name.into()),
        generate_name: Some(String::new()),
        namespace: Some(String::new()),
        self_link: Some(String::new()),
        uid: Some(String::new()),
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn quantity(s: &str) -> Quantity {
    Quantity {
        string: Some(s.into()),
    }
}

fn int(i: i32) -> IntOrString {
    IntOrString {
        r#type: Some(0),
        int_val: Some(i),
        str_val: Some(String::new()),
    }
}

fn string(s: &str) -> IntOrString {
    IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: Some(s.into()),
    }
}

#[test]
fn a_configmap_with_data() {
    let cm = core::ConfigMap {
        metadata: Some(meta("c")),
        data: labels(&[("a", "b"), ("empty", "")]),
        ..Default::default()
    };
    let v = decoded_strict(&body("v1", "ConfigMap", &cm));
    // The empty value is data, not an unset field: it stays.
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
               "data": {"a": "b", "empty": ""}})
    );
}

#[test]
fn a_namespace_keeps_its_empty_spec_and_status() {
    let ns = core::Namespace {
        metadata: Some(meta("x")),
        spec: Some(core::NamespaceSpec::default()),
        status: Some(core::NamespaceStatus {
            phase: Some(String::new()),
            ..Default::default()
        }),
    };
    let v = decoded_strict(&body("v1", "Namespace", &ns));
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"},
               "spec": {}, "status": {}})
    );
}

#[test]
fn secret_bytes_are_base64_and_immutable_false_is_kept() {
    let secret = core::Secret {
        metadata: Some(meta("s")),
        data: [
            ("p".to_string(), b"q".to_vec()),
            ("bin".into(), vec![0, 255, 1]),
        ]
        .into(),
        string_data: labels(&[("plain", "text")]),
        r#type: Some("Opaque".into()),
        // A pointer in Go: false on the wire was set on purpose.
        immutable: Some(false),
    };
    let v = decoded_strict(&body("v1", "Secret", &secret));
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "immutable": false, "data": {"bin": "AP8B", "p": "cQ=="},
               "type": "Opaque", "stringData": {"plain": "text"}})
    );
}

fn web_container() -> core::Container {
    core::Container {
        name: Some("web".into()),
        image: Some("nginx:1.27".into()),
        ports: vec![core::ContainerPort {
            name: Some(String::new()),
            host_port: Some(0),
            container_port: Some(80),
            protocol: Some("TCP".into()),
            host_ip: Some(String::new()),
        }],
        resources: Some(core::ResourceRequirements {
            limits: [("cpu".to_string(), quantity("500m"))].into(),
            requests: [("memory".to_string(), quantity("128Mi"))].into(),
            ..Default::default()
        }),
        termination_message_path: Some(String::new()),
        image_pull_policy: Some(String::new()),
        stdin: Some(false),
        tty: Some(false),
        ..Default::default()
    }
}

#[test]
fn a_deployment_with_template_quantities_and_int_or_string() {
    let d = apps::Deployment {
        metadata: Some(meta("web")),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(2),
            selector: Some(meta::LabelSelector {
                match_labels: labels(&[("app", "web")]),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: labels(&[("app", "web")]),
                    ..meta("")
                }),
                spec: Some(core::PodSpec {
                    containers: vec![web_container()],
                    restart_policy: Some(String::new()),
                    dns_policy: Some(String::new()),
                    host_network: Some(false),
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: Some("RollingUpdate".into()),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_unavailable: Some(int(0)),
                    max_surge: Some(string("25%")),
                }),
            }),
            min_ready_seconds: Some(0),
            paused: Some(false),
            ..Default::default()
        }),
        status: Some(apps::DeploymentStatus {
            observed_generation: Some(0),
            replicas: Some(0),
            ..Default::default()
        }),
    };
    let v = decoded_strict(&body("apps/v1", "Deployment", &d));
    let container = json!({
        "name": "web", "image": "nginx:1.27",
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "128Mi"}},
    });
    assert_eq!(
        v,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [container]}},
                        "strategy": {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}},
               "status": {}})
    );
}

#[test]
fn zero_replicas_is_a_value() {
    let d = apps::Deployment {
        metadata: Some(meta("idle")),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            ..Default::default()
        }),
        status: None,
    };
    let v = decode_protobuf(&body("apps/v1", "Deployment", &d)).unwrap();
    assert_eq!(v["spec"], json!({"replicas": 0}));
}

#[test]
fn a_pod_with_a_creation_time_and_a_probe() {
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            // Time drops the nanoseconds, as Kubernetes' Time does.
            creation_timestamp: Some(meta::Time {
                seconds: Some(1_767_323_045),
                nanos: Some(5),
            }),
            ..meta("p")
        }),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: Some("p".into()),
                image: Some("busybox".into()),
                args: vec!["sleep".into(), "10".into()],
                liveness_probe: Some(core::Probe {
                    handler: Some(core::ProbeHandler {
                        http_get: Some(core::HttpGetAction {
                            path: Some("/healthz".into()),
                            port: Some(int(8080)),
                            host: Some(String::new()),
                            scheme: Some(String::new()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    initial_delay_seconds: Some(0),
                    period_seconds: Some(5),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            termination_grace_period_seconds: Some(0),
            automount_service_account_token: Some(false),
            security_context: Some(core::PodSecurityContext {
                run_as_user: Some(0),
                supplemental_groups: vec![10, 20],
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    };
    let v = decoded_strict(&body("v1", "Pod", &pod));
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "creationTimestamp": "2026-01-02T03:04:05Z"},
               "spec": {"containers": [{"name": "p", "image": "busybox", "args": ["sleep", "10"],
                                        "livenessProbe": {
                                            "httpGet": {"path": "/healthz", "port": 8080},
                                            "periodSeconds": 5}}],
                        "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                        "securityContext": {"runAsUser": 0, "supplementalGroups": [10, 20]},
                        "automountServiceAccountToken": false}})
    );
}

#[test]
fn micro_time_keeps_microseconds() {
    let lease = coordination::Lease {
        metadata: Some(meta("l")),
        spec: Some(coordination::LeaseSpec {
            holder_identity: Some("node-1".into()),
            lease_duration_seconds: Some(40),
            renew_time: Some(meta::MicroTime {
                seconds: Some(1_767_323_045),
                nanos: Some(123_456_789),
            }),
            ..Default::default()
        }),
    };
    let v = decoded_strict(&body("coordination.k8s.io/v1", "Lease", &lease));
    assert_eq!(
        v["spec"],
        json!({"holderIdentity": "node-1", "leaseDurationSeconds": 40,
               "renewTime": "2026-01-02T03:04:05.123456Z"})
    );
}

#[test]
fn embedded_structs_write_into_their_host() {
    let env = core::EnvVar {
        name: Some("KEY".into()),
        value_from: Some(core::EnvVarSource {
            config_map_key_ref: Some(core::ConfigMapKeySelector {
                local_object_reference: Some(core::LocalObjectReference {
                    name: Some("settings".into()),
                }),
                key: Some("k".into()),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod = core::Pod {
        metadata: Some(meta("p")),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: Some("c".into()),
                image: Some("busybox".into()),
                env: vec![env],
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let v = decoded_strict(&body("v1", "Pod", &pod));
    assert_eq!(
        v["spec"]["containers"][0]["env"],
        json!([{"name": "KEY", "valueFrom": {"configMapKeyRef":
            {"name": "settings", "key": "k", "optional": false}}}])
    );
}

#[test]
fn decode_and_parse_body_read_protobuf() {
    let cm = core::ConfigMap {
        metadata: Some(meta("c")),
        data: labels(&[("a", "b")]),
        ..Default::default()
    };
    let bytes = body("v1", "ConfigMap", &cm);
    let info = by_kind("v1", "ConfigMap").unwrap();
    let ct = Some("application/vnd.kubernetes.protobuf");
    let decoded = decode(&bytes, ct, info, FieldValidation::Strict).unwrap();
    assert_eq!(decoded.object["data"], json!({"a": "b"}));
    assert_eq!(parse_body(&bytes, ct).unwrap(), decoded.object);
    // The endpoint's kind still rules.
    let err = decode(
        &bytes,
        ct,
        by_kind("v1", "Secret").unwrap(),
        FieldValidation::Strict,
    );
    assert!(
        matches!(err, Err(DecodeError::KindMismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn unknown_field_numbers_are_skipped() {
    let mut raw = core::ConfigMap {
        metadata: Some(meta("c")),
        ..Default::default()
    }
    .encode_to_vec();
    // Field 99 of each wire type: varint, 64-bit, length-delimited, 32-bit.
    raw.extend([0x98, 0x06, 0x01]);
    raw.extend([0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
    raw.extend([0x9a, 0x06, 0x02, b'h', b'i']);
    raw.extend([0x9d, 0x06, 1, 2, 3, 4]);
    let mut bytes = MAGIC.to_vec();
    bytes.extend(
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some("v1".into()),
                kind: Some("ConfigMap".into()),
            }),
            raw: Some(raw),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    assert_eq!(
        decode_protobuf(&bytes).unwrap(),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    );
}

#[test]
fn packed_and_negative_numbers() {
    // supplementalGroups (field 4 of PodSecurityContext) packed: [1, 300]; runAsUser (2) = -1.
    let mut ctx = vec![0x22, 0x03, 0x01, 0xac, 0x02];
    ctx.push(0x10);
    ctx.extend([0xff; 9]);
    ctx.push(0x01);
    let v = read(&CORE_V1_POD_SECURITY_CONTEXT, &ctx).unwrap();
    assert_eq!(v, json!({"supplementalGroups": [1, 300], "runAsUser": -1}));
}

fn read(message: &Message, bytes: &[u8]) -> Result<Value, String> {
    let mut out = Map::new();
    read_message(message, bytes, &mut out).map_err(|e| e.to_string())?;
    Ok(Value::Object(out))
}

#[test]
fn bad_bodies_say_what_is_wrong() {
    let err = |bytes: &[u8]| decode_protobuf(bytes).unwrap_err().to_string();
    assert!(err(b"{}").contains("magic"), "{}", err(b"{}"));
    let cm = core::ConfigMap {
        metadata: Some(meta("c")),
        ..Default::default()
    };
    let good = body("v1", "ConfigMap", &cm);
    let truncated = err(&good[..good.len() - 3]);
    assert!(truncated.contains("truncated"), "{truncated}");
    let unknown = err(&body("example.com/v1", "Widget", &cm));
    assert!(unknown.contains("\"Widget\""), "{unknown}");
    let e = decode_protobuf(b"nope").unwrap_err();
    assert_eq!(e.status_code(), 400);
    // A string where a number belongs names the field.
    let bad = read(&CORE_V1_POD_SECURITY_CONTEXT, &[0x10 | 2, 0x01, b'x']).unwrap_err();
    assert!(bad.starts_with("runAsUser: wire type Len"), "{bad}");
}

#[test]
fn go_durations() {
    let cases = [
        (0, "0s"),
        (999, "999ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (1_000_000_000, "1s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_500_000_000, "1h2m3.5s"),
        (-90_000_000_000, "-1m30s"),
    ];
    for (nanos, text) in cases {
        assert_eq!(go_duration(nanos), text, "{nanos}");
    }
}
