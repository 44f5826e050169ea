use super::*;
use crate::pod::fixtures::{pod, ready};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

fn service(target_port: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": target_port, "protocol": "TCP"}]}
    }))
    .unwrap()
}

fn with_container_port(mut p: Pod, name: &str, port: i32) -> Pod {
    p.spec = Some(
        serde_json::from_value(json!({
            "nodeName": "n1",
            "containers": [{"name": "c", "ports": [{"name": name, "containerPort": port, "protocol": "TCP"}]}]
        }))
        .unwrap(),
    );
    p
}

fn with_ip(mut p: Pod, ip: &str) -> Pod {
    p.status.get_or_insert_with(Default::default).pod_ip = Some(ip.into());
    p
}

const WEB: &[(&str, &str)] = &[("app", "web")];

fn by_name(slice: &EndpointSlice) -> BTreeMap<String, (String, EndpointConditions)> {
    slice
        .endpoints
        .iter()
        .flatten()
        .map(|e| {
            let name = e.target_ref.as_ref().unwrap().name.clone().unwrap();
            (
                name,
                (e.addresses[0].clone(), e.conditions.clone().unwrap()),
            )
        })
        .collect()
}

#[test]
fn endpoints_follow_readiness_and_termination() {
    let a = with_ip(ready(pod("a", 1, WEB), 1, "n1"), "10.0.0.1");
    let b = with_ip(pod("b", 1, WEB), "10.0.0.2");
    let mut c = with_ip(ready(pod("c", 1, WEB), 1, "n1"), "10.0.0.3");
    c.metadata.deletion_timestamp = Some(Time(Timestamp::from_second(9).unwrap()));
    let d = pod("d", 1, WEB); // no IP yet
    let e = with_ip(ready(pod("e", 1, &[("app", "db")]), 1, "n1"), "10.0.0.5");
    let want = desired(&service(json!(8080)), &[a, b, c, d, e]).unwrap();
    assert_eq!(want.slices.len(), 1);
    let slice = &want.slices[0];
    assert_eq!(slice.address_type, "IPv4");
    let labels = slice.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[SERVICE_NAME], "web");
    assert_eq!(labels[MANAGED_BY], CONTROLLER_NAME);
    assert_eq!(slice.ports.as_ref().unwrap()[0].port, Some(8080));
    let eps = by_name(slice);
    assert_eq!(eps.keys().cloned().collect::<Vec<_>>(), vec!["a", "b", "c"]);
    let flags = |n: &str| {
        let c = &eps[n].1;
        (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
    };
    assert_eq!(flags("a"), (true, true, false));
    assert_eq!(flags("b"), (false, false, false));
    assert_eq!(flags("c"), (false, true, true));

    let subsets = want.endpoints.subsets.unwrap();
    assert_eq!(subsets.len(), 1);
    let ips = |v: &Option<Vec<EndpointAddress>>| {
        v.iter().flatten().map(|a| a.ip.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ips(&subsets[0].addresses), vec!["10.0.0.1"]);
    assert_eq!(ips(&subsets[0].not_ready_addresses), vec!["10.0.0.2"]);
    assert_eq!(subsets[0].ports.as_ref().unwrap()[0].port, 8080);
}

#[test]
fn named_target_ports_resolve_per_pod_and_host_ports_win() {
    let a = with_ip(
        with_container_port(pod("a", 1, WEB), "http", 8080),
        "10.0.0.1",
    );
    let b = with_ip(
        with_container_port(pod("b", 1, WEB), "http", 9090),
        "10.0.0.2",
    );
    let mut c = with_ip(
        with_container_port(pod("c", 1, WEB), "http", 8080),
        "10.0.0.3",
    );
    c.metadata.annotations =
        Some([(HOST_PORTS.to_string(), r#"{"8080/TCP": 31001}"#.to_string())].into());
    let want = desired(&service(json!("http")), &[a, b, c]).unwrap();
    let mut ports: Vec<(i32, Vec<String>)> = want
        .slices
        .iter()
        .map(|s| {
            (
                s.ports.as_ref().unwrap()[0].port.unwrap(),
                by_name(s).into_keys().collect(),
            )
        })
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        vec![
            (8080, vec!["a".to_string()]),
            (9090, vec!["b".to_string()]),
            (31001, vec!["c".to_string()])
        ]
    );
    let names: std::collections::BTreeSet<_> = want
        .slices
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names.len(), 3);
    assert!(names.iter().all(|n| n.starts_with("web-")));
    // Deterministic: the same input names the same slices.
    let again = desired(&service(json!("http")), &[]).unwrap();
    assert_eq!(again.slices.len(), 1);
    assert_eq!(again.slices[0].endpoints, Some(vec![]));
}

#[test]
fn services_without_selector_are_left_alone() {
    let mut svc = service(json!(80));
    svc.spec.as_mut().unwrap().selector = None;
    assert!(desired(&svc, &[]).is_none());
}

#[test]
fn a_service_left_without_ready_endpoints_is_said_once() {
    let slice = |ready: &[bool]| -> EndpointSlice {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s"}, "addressType": "IPv4",
            "endpoints": ready.iter().map(|r| serde_json::json!(
                {"addresses": ["127.0.0.2"], "conditions": {"ready": r}})).collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    let (none, empty, one) = (slice(&[false]), slice(&[]), slice(&[true, false]));
    assert!(
        lost_all_ready(&[], std::slice::from_ref(&empty)),
        "first slices, none ready"
    );
    assert!(
        lost_all_ready(std::slice::from_ref(&one), std::slice::from_ref(&none)),
        "the last one went"
    );
    assert!(
        !lost_all_ready(std::slice::from_ref(&none), std::slice::from_ref(&empty)),
        "already said"
    );
    assert!(!lost_all_ready(&[], std::slice::from_ref(&one)), "ready");
}
