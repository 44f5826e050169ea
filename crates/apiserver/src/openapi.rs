//! `/openapi/v3`: an index of one document per group-version. Each document names the kinds
//! (`x-kubernetes-group-version-kind`) and offers the `fieldValidation` parameter on writes, so
//! kubectl's default `--validate` leaves validation to the server (DESIGN §11).

use axum::Json;
use axum::extract::Path;
use brume_api::ResourceInfo;
use brume_api::resource::{self, KINDS};
use serde_json::{Map, Value, json};

use crate::ApiError;

/// The URL path (without leading slash) of a group-version's document.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Changes whenever the served documents change, so clients may cache them by it.
const DOC_HASH: &str = concat!("brume-", env!("CARGO_PKG_VERSION"));

/// `/openapi/v3`: the index.
pub async fn index() -> Json<Value> {
    let mut paths = Map::new();
    for (g, v) in resource::groups() {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={DOC_HASH}")}),
        );
    }
    Json(json!({"paths": paths}))
}

/// `/openapi/v3/<api/v1 | apis/group/version>`: one group-version's document.
pub async fn document(Path(rest): Path<String>) -> Result<Json<Value>, ApiError> {
    let rest = rest.trim_end_matches('/');
    let (group, version) = match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), v.to_string()),
        ["apis", g, v] => (g.to_string(), v.to_string()),
        _ => return Err(not_found(rest)),
    };
    let kinds: Vec<&ResourceInfo> = KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return Err(not_found(rest));
    }
    let mut schemas = Map::new();
    let mut paths = Map::new();
    for k in kinds {
        schemas.insert(schema_name(k), schema(k));
        let (collection, item) = url_templates(k);
        let gvk = gvk(k);
        paths.insert(
            collection,
            json!({
                "get": operation(k, "list", &gvk, false),
                "post": operation(k, "post", &gvk, true),
            }),
        );
        paths.insert(
            item,
            json!({
                "get": operation(k, "get", &gvk, false),
                "put": operation(k, "put", &gvk, true),
                "patch": operation(k, "patch", &gvk, true),
                "delete": operation(k, "delete", &gvk, false),
            }),
        );
    }
    Ok(Json(json!({
        "openapi": "3.0.0",
        "info": {"title": "Brume", "version": format!("v1.{}.0", crate::discovery::KUBE_MINOR)},
        "paths": paths,
        "components": {"schemas": schemas},
    })))
}

fn not_found(rest: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("no OpenAPI document for {rest:?}; see /openapi/v3 for the index"),
        details: json!({}),
    }
}

fn gvk(k: &ResourceInfo) -> Value {
    json!([{"group": k.group, "version": k.version, "kind": k.kind}])
}

/// `io.k8s.api.apps.v1.Deployment`, the definition name Kubernetes uses; a group of Brume's own
/// is named by its reversed domain, as the apiserver names custom resources
/// (`io.brume.fog.v1.TrafficReport`).
fn schema_name(k: &ResourceInfo) -> String {
    if is_brume_group(k.group) {
        let reversed: Vec<&str> = k.group.rsplit('.').collect();
        return format!("{}.{}.{}", reversed.join("."), k.version, k.kind);
    }
    if k.group == brume_api::metrics::GROUP {
        // The resource metrics' Go package is k8s.io/metrics, not k8s.io/api.
        return format!("io.k8s.metrics.pkg.apis.metrics.{}.{}", k.version, k.kind);
    }
    let group = match k.group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{group}.{}.{}", k.version, k.kind)
}

/// True for the groups Brume defines (`fog.brume.io`) rather than Kubernetes.
fn is_brume_group(group: &str) -> bool {
    group == "brume.io" || group.ends_with(".brume.io")
}

fn url_templates(k: &ResourceInfo) -> (String, String) {
    let base = format!("/{}", gv_path(k.group, k.version));
    let collection = if k.namespaced() {
        format!("{base}/namespaces/{{namespace}}/{}", k.plural)
    } else {
        format!("{base}/{}", k.plural)
    };
    let item = format!("{collection}/{{name}}");
    (collection, item)
}

fn operation(k: &ResourceInfo, action: &str, gvk: &Value, writes: bool) -> Value {
    let mut params = vec![json!({"name": "dryRun", "in": "query", "schema": {"type": "string"}})];
    if writes {
        params.push(json!({
            "name": "fieldValidation",
            "in": "query",
            "description": "Strict, Warn or Ignore: what the server does with unknown or duplicate fields.",
            "schema": {"type": "string", "enum": ["Strict", "Warn", "Ignore"]},
        }));
        params.push(json!({"name": "fieldManager", "in": "query", "schema": {"type": "string"}}));
    }
    let schema_ref = json!({"$ref": format!("#/components/schemas/{}", schema_name(k))});
    let mut op = json!({
        "operationId": format!("{action}{}", k.kind),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk[0].clone(),
    });
    if writes && action != "patch" {
        op["requestBody"] = json!({"content": {"*/*": {"schema": schema_ref}}, "required": true});
    }
    op
}

fn schema(k: &ResourceInfo) -> Value {
    json!({
        "type": "object",
        "description": if is_brume_group(k.group) {
            format!("{} ({}), a kind of Brume's own (DESIGN §8).", k.kind, k.api_version())
        } else {
            format!("{} ({}), as defined by Kubernetes {}.", k.kind, k.api_version(), crate::discovery::KUBE_MINOR)
        },
        "properties": {
            "apiVersion": {"type": "string", "description": "The versioned schema of this object."},
            "kind": {"type": "string", "description": "The REST resource this object represents."},
            "metadata": {"type": "object", "description": "Standard object metadata."},
            "spec": {"type": "object", "description": "The desired state.", "x-kubernetes-preserve-unknown-fields": true},
            "status": {"type": "object", "description": "The observed state.", "x-kubernetes-preserve-unknown-fields": true},
        },
        "x-kubernetes-group-version-kind": gvk(k),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brume_kinds_are_named_by_their_reversed_group() {
        let name = |api_version, kind| schema_name(resource::by_kind(api_version, kind).unwrap());
        assert_eq!(
            name("fog.brume.io/v1", "TrafficReport"),
            "io.brume.fog.v1.TrafficReport"
        );
        assert_eq!(
            name("discovery.k8s.io/v1", "EndpointSlice"),
            "io.k8s.api.discovery.v1.EndpointSlice"
        );
        assert_eq!(name("v1", "Pod"), "io.k8s.api.core.v1.Pod");
    }
}
