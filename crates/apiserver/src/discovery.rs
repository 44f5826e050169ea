//! Discovery: `/api`, `/apis`, the group-version resource lists, `/version` and health.

use axum::Json;
use brume_api::resource::{self, KINDS};
use serde_json::{Value, json};

/// The Kubernetes minor version whose API Brume follows.
pub const KUBE_MINOR: &str = "37";

/// `/healthz`, `/livez`, `/readyz`: plain `ok` as the apiserver answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `/version`, the `version.Info` of the server.
pub async fn version() -> Json<Value> {
    Json(json!({
        "major": "1",
        "minor": KUBE_MINOR,
        "gitVersion": format!("v1.{KUBE_MINOR}.0-brume.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    }))
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/api`: the core group's versions (kubectl also accepts this plain form instead of the
/// aggregated v2 discovery).
pub async fn api_versions() -> Json<Value> {
    Json(json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }))
}

fn group_json(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis`: every named group.
pub async fn api_groups() -> Json<Value> {
    let groups: Vec<Value> = resource::groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| group_json(g, v))
        .collect();
    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

/// `/apis/<group>`: one group, or `None` when it is not served.
pub fn api_group(group: &str) -> Option<Value> {
    let (g, v) = resource::groups().into_iter().find(|(g, _)| *g == group)?;
    let mut out = group_json(g, v);
    out["kind"] = json!("APIGroup");
    out["apiVersion"] = json!("v1");
    Some(out)
}

fn verbs_for(sub: &str) -> Vec<&'static str> {
    match sub {
        "" => vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        "status" | "scale" => vec!["get", "patch", "update"],
        "binding" | "eviction" => vec!["create"],
        "log" => vec!["get"],
        "finalize" => vec!["update"],
        _ => vec![],
    }
}

/// `/api/v1` or `/apis/<group>/<version>`: the resources of one group-version, or `None`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for k in KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
    {
        resources.push(json!({
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced(),
            "kind": k.kind,
            "verbs": verbs_for(""),
            "shortNames": k.short_names,
            "categories": k.categories,
        }));
        for sub in k.subresources {
            let (kind, group, version) = match *sub {
                "scale" => ("Scale", "autoscaling", "v1"),
                "binding" => ("Binding", "", "v1"),
                "eviction" => ("Eviction", "policy", "v1"),
                _ => (k.kind, k.group, k.version),
            };
            let mut r = json!({
                "name": format!("{}/{sub}", k.plural),
                "singularName": "",
                "namespaced": k.namespaced(),
                "kind": kind,
                "verbs": verbs_for(sub),
            });
            if kind != k.kind {
                r["group"] = json!(group);
                r["version"] = json!(version);
            }
            resources.push(r);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}
