//! LIST of a collection: label and field selectors, `limit` and `continue` paging, Tables.

use axum::http::StatusCode;
use axum::response::Response;
use brume_api::selector::field::FieldSelector;
use brume_api::selector::label::LabelSelector;
use brume_store::{RangeRequest, Revision};
use serde_json::{Value, json};

use super::Ctx;
use crate::response::{Render, json_response, table};
use crate::{ApiError, object};

/// How many keys one store read fetches while filtering.
const BATCH: usize = 500;

/// The label and field selectors of a list or watch.
pub struct Filter {
    label: LabelSelector,
    field: FieldSelector,
}

impl Filter {
    /// Parses `labelSelector` and `fieldSelector`; a bad one is a 400 that says why.
    pub fn from_ctx(ctx: &Ctx) -> Result<Self, ApiError> {
        let bad = |e: brume_api::selector::SelectorError| ApiError::BadRequest(e.to_string());
        Ok(Filter {
            label: LabelSelector::parse(ctx.query.get("labelSelector").unwrap_or(""))
                .map_err(bad)?,
            field: FieldSelector::parse(
                ctx.query.get("fieldSelector").unwrap_or(""),
                ctx.target.info,
            )
            .map_err(bad)?,
        })
    }

    /// True when there is no selector, so every object matches.
    pub fn is_everything(&self) -> bool {
        self.label.is_empty() && self.field.is_empty()
    }

    /// True when the object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").unwrap_or(&Value::Null);
        self.label.matches(labels) && self.field.matches(obj)
    }
}

fn encode_continue(rev: Revision, key: &str) -> String {
    format!("{rev}|{key}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Result<(Revision, String), ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "continue token {token:?} is not valid: pass the metadata.continue value of the previous page unchanged"
        ))
    };
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
        .collect();
    let text = String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())?;
    let (rev, key) = text.split_once('|').ok_or_else(bad)?;
    Ok((rev.parse().map_err(|_| bad())?, key.to_string()))
}

/// One page of matching objects, the revision it was read at, and the continue token.
pub(super) async fn page(
    ctx: &Ctx,
    filter: &Filter,
    limit: usize,
) -> Result<(Vec<Value>, Revision, Option<String>), ApiError> {
    let info = ctx.target.info;
    let prefix = info.key_prefix(ctx.target.namespace.as_deref());
    let (mut start_after, mut list_rev) = match ctx.query.get("continue") {
        Some(token) if !token.is_empty() => {
            let (rev, key) = decode_continue(token)?;
            if !key.starts_with(&prefix) {
                return Err(ApiError::BadRequest(
                    "continue token belongs to another list".into(),
                ));
            }
            (Some(key), Some(rev))
        }
        _ => (None, None),
    };
    if let Some(node) = indexed_node(ctx, filter) {
        let rev = ctx.state.store.current_revision().await?;
        if let Some(keys) = ctx.state.pods_by_node.keys_on(node, rev, INDEX_WAIT).await {
            let start_after = start_after.as_deref().unwrap_or("");
            let list_rev = list_rev.unwrap_or(rev);
            let keys = keys
                .into_iter()
                .filter(|k| k.starts_with(&prefix) && k.as_str() > start_after);
            return from_keys(ctx, filter, keys, list_rev, limit).await;
        }
    }
    let mut items = Vec::new();
    loop {
        let batch = if limit == 0 { 0 } else { BATCH.max(limit) };
        let res = ctx
            .state
            .store
            .range(RangeRequest {
                prefix: prefix.clone(),
                start_after: start_after.clone(),
                limit: batch,
            })
            .await?;
        list_rev.get_or_insert(res.revision);
        for kv in &res.kvs {
            let obj = object::from_kv(kv)?;
            if filter.matches(&obj) {
                items.push(obj);
                if limit > 0 && items.len() == limit {
                    let more = res.more
                        || kv.key != res.kvs.last().map(|k| k.key.clone()).unwrap_or_default();
                    let token = more.then(|| encode_continue(list_rev.unwrap_or(0), &kv.key));
                    return Ok((items, list_rev.unwrap_or(0), token));
                }
            }
        }
        if !res.more {
            return Ok((items, list_rev.unwrap_or(0), None));
        }
        start_after = res.kvs.last().map(|kv| kv.key.clone());
    }
}

/// How long a list waits for the pods-by-node index to catch up before it scans instead.
const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The node whose pods a list selects with `spec.nodeName=<node>`, when the index can answer.
fn indexed_node<'a>(ctx: &Ctx, filter: &'a Filter) -> Option<&'a str> {
    if !ctx.state.pods_by_node.indexes(ctx.target.info) {
        return None;
    }
    filter
        .field
        .required_value(&["spec", "nodeName"])
        .filter(|n| !n.is_empty())
}

/// One page read key by key (the keys come in order), with the selectors applied to each.
async fn from_keys(
    ctx: &Ctx,
    filter: &Filter,
    keys: impl Iterator<Item = String>,
    list_rev: Revision,
    limit: usize,
) -> Result<(Vec<Value>, Revision, Option<String>), ApiError> {
    let mut items = Vec::new();
    let mut keys = keys.peekable();
    while let Some(key) = keys.next() {
        let Some(kv) = ctx.state.store.get(&key).await? else {
            continue; // deleted since the index saw it
        };
        let obj = object::from_kv(&kv)?;
        if filter.matches(&obj) {
            items.push(obj);
            if limit > 0 && items.len() == limit {
                let token = keys
                    .peek()
                    .is_some()
                    .then(|| encode_continue(list_rev, &key));
                return Ok((items, list_rev, token));
            }
        }
    }
    Ok((items, list_rev, None))
}

/// Every matching object (used by deletecollection).
pub async fn select(ctx: &Ctx) -> Result<Vec<Value>, ApiError> {
    let filter = Filter::from_ctx(ctx)?;
    Ok(page(ctx, &filter, 0).await?.0)
}

/// Lists a collection.
pub async fn handle(ctx: Ctx) -> Result<Response, ApiError> {
    let info = ctx.target.info;
    let filter = Filter::from_ctx(&ctx)?;
    let limit = ctx.query.int("limit")?.unwrap_or(0).max(0) as usize;
    let (items, rev, token) = page(&ctx, &filter, limit).await?;
    let mut meta = json!({"resourceVersion": rev.to_string()});
    if let Some(t) = token {
        meta["continue"] = json!(t);
    }
    let body = match ctx.render {
        Render::Table(include) => table(info, &items, meta, include),
        Render::Object => json!({
            "kind": format!("{}List", info.kind),
            "apiVersion": info.api_version(),
            "metadata": meta,
            "items": items,
        }),
    };
    Ok(json_response(StatusCode::OK, &body, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(42, "/registry/core/pods/default/web-1");
        assert_eq!(
            decode_continue(&t).unwrap(),
            (42, "/registry/core/pods/default/web-1".into())
        );
        assert!(decode_continue("zz").is_err());
        assert!(decode_continue("abc").is_err());
    }
}
