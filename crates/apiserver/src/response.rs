//! Building responses: JSON objects and lists, or `meta.k8s.io/v1` Tables when the client asks
//! for them in `Accept`, with `Warning` headers for decode warnings.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brume_api::{ResourceInfo, table};
use serde_json::{Value, json};

use crate::params::Query;

/// How the client wants objects rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Render {
    /// Plain JSON objects.
    Object,
    /// A Table; rows carry nothing, the metadata, or the whole object.
    Table(IncludeObject),
}

/// The `includeObject` parameter of Table requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object in rows.
    None,
    /// A `PartialObjectMetadata` in each row (the default).
    Metadata,
    /// The full object in each row.
    Object,
}

impl Render {
    /// Reads `Accept` and `includeObject`.
    pub fn negotiate(headers: &HeaderMap, query: &Query) -> Render {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !accept.contains("as=Table") {
            return Render::Object;
        }
        Render::Table(match query.get("includeObject") {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        })
    }
}

/// A JSON response with optional `Warning` headers.
pub fn json_response(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    let mut resp = (code, serde_json::to_vec(body).unwrap_or_default()).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
        if let Ok(v) = HeaderValue::from_str(&text) {
            headers.append(header::WARNING, v);
        }
    }
    resp
}

/// One row of a Table for `obj`.
pub fn table_row(info: &ResourceInfo, obj: &Value, include: IncludeObject) -> Value {
    let cells = table::row(info, obj, chrono::Utc::now());
    let object = match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        }),
    };
    let mut row = json!({"cells": cells});
    if !object.is_null() {
        row["object"] = object;
    }
    row
}

/// A Table of `objs`.
pub fn table(
    info: &ResourceInfo,
    objs: &[Value],
    list_meta: Value,
    include: IncludeObject,
) -> Value {
    let rows: Vec<Value> = objs.iter().map(|o| table_row(info, o, include)).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": table::column_definitions_json(info),
        "rows": rows,
    })
}

/// A single object rendered as asked.
pub fn render_object(info: &ResourceInfo, obj: Value, render: Render) -> Value {
    match render {
        Render::Object => obj,
        Render::Table(include) => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(json!(""));
            table(info, &[obj], json!({"resourceVersion": rv}), include)
        }
    }
}
