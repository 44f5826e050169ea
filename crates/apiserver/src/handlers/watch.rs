//! WATCH of a collection: a chunked stream of JSON lines `{"type","object"}` (ADDED, MODIFIED,
//! DELETED, BOOKMARK, ERROR), from a resourceVersion, with selectors applied to transitions.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brume_api::ResourceInfo;
use brume_store::{Event, EventType, Revision, StoreError};
use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Ctx;
use super::list::Filter;
use crate::decoded::{self, Decoded, DecodedEvents};
use crate::response::{Render, table};
use crate::{ApiError, AppState};

/// Buffered events per watcher before the writer waits for the client.
const CHANNEL_DEPTH: usize = 256;

struct Watch {
    info: &'static ResourceInfo,
    filter: Filter,
    render: Render,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
}

impl Watch {
    fn render(&self, obj: Value) -> Value {
        match self.render {
            Render::Object => obj,
            Render::Table(include) => {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(json!(""));
                table(self.info, &[obj], json!({"resourceVersion": rv}), include)
            }
        }
    }

    /// Sends one event line; false when the client is gone.
    async fn send(&self, kind: &str, obj: Value) -> bool {
        self.send_line(decoded::line(kind, &obj)).await
    }

    async fn send_line(&self, line: Bytes) -> bool {
        self.tx.send(Ok(line)).await.is_ok()
    }

    async fn bookmark(&self, rev: Revision, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": rev.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": meta});
        self.send("BOOKMARK", obj).await
    }

    /// The watch event type the client sees for a store event, if any: an object that starts
    /// matching the selectors is ADDED, one that stops matching is DELETED.
    fn translate(&self, ev: &Event, decoded: &Decoded) -> Option<&'static str> {
        let now = self.filter.matches(&decoded.obj);
        // Without selectors the previous state needs no parsing: it matched if it existed.
        let before = match &ev.prev {
            Some(_) if self.filter.is_everything() => true,
            Some(_) => decoded.prev().is_some_and(|p| self.filter.matches(p)),
            None => false,
        };
        match (ev.kind, before, now) {
            (EventType::Delete, _, true) => Some("DELETED"),
            (EventType::Put, true, true) => Some("MODIFIED"),
            (EventType::Put, false, true) => Some("ADDED"),
            (EventType::Put, true, false) => Some("DELETED"),
            _ => None,
        }
    }

    /// Sends the client's view of a store event; false when the client is gone.
    async fn forward(&self, ev: &Event, events: &DecodedEvents) -> Result<bool, ApiError> {
        let decoded = events.get(ev)?;
        let Some(kind) = self.translate(ev, &decoded) else {
            return Ok(true);
        };
        Ok(match self.render {
            // The common case shares the serialized line with every other watch.
            Render::Object => self.send_line(decoded.line(kind)).await,
            Render::Table(_) => self.send(kind, self.render(decoded.obj.clone())).await,
        })
    }
}

/// Starts a watch.
pub async fn handle(ctx: Ctx) -> Result<Response, ApiError> {
    let info = ctx.target.info;
    let filter = Filter::from_ctx(&ctx)?;
    let rv_param = ctx.query.get("resourceVersion").unwrap_or("").to_string();
    let explicit_initial = ctx.query.flag("sendInitialEvents");
    let send_initial = explicit_initial || rv_param.is_empty() || rv_param == "0";
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    let timeout = match ctx.query.int("timeoutSeconds")? {
        Some(t) if t > 0 => Duration::from_secs(t as u64),
        // Kubernetes spreads unbounded watches over 30 to 60 minutes so clients reconnect
        // at different times.
        _ => Duration::from_secs(rand::rng().random_range(1800..3600)),
    };
    let (initial, start) = if send_initial {
        let (objs, rev, _) = super::list::page(&ctx, &filter, 0).await?;
        (objs, rev)
    } else {
        let rev: Revision = rv_param.parse().map_err(|_| {
            ApiError::BadRequest(format!(
                "resourceVersion {rv_param:?} is not valid: use a metadata.resourceVersion returned by this server"
            ))
        })?;
        (Vec::new(), rev)
    };
    let prefix = info.key_prefix(ctx.target.namespace.as_deref());
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let watch = Watch {
        info,
        filter,
        render: ctx.render,
        tx,
    };
    match ctx.state.store.watch(&prefix, start).await {
        Ok(events) => {
            let interval = ctx.state.config.bookmark_interval;
            let state = ctx.state.clone();
            tokio::spawn(async move {
                let ended = run(
                    state,
                    watch,
                    initial,
                    events,
                    start,
                    Options {
                        prefix,
                        bookmarks,
                        explicit_initial,
                        interval,
                        timeout,
                    },
                )
                .await;
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "watch ended");
                }
            });
        }
        // Too old: the stream carries one ERROR event with 410 Gone, as Kubernetes sends it,
        // and clients relist.
        Err(e) => {
            let status = ApiError::from(e).status();
            tokio::spawn(async move { watch.send("ERROR", status).await });
        }
    }
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

struct Options {
    /// The store prefix the watch follows, to resume from if the watch lags.
    prefix: String,
    bookmarks: bool,
    explicit_initial: bool,
    interval: Duration,
    timeout: Duration,
}

async fn run(
    state: Arc<AppState>,
    watch: Watch,
    initial: Vec<Value>,
    mut events: brume_store::WatchStream,
    start: Revision,
    opts: Options,
) -> Result<(), ApiError> {
    for obj in initial {
        let obj = watch.render(obj);
        if !watch.send("ADDED", obj).await {
            return Ok(());
        }
    }
    let mut last = start;
    if opts.explicit_initial && opts.bookmarks && !watch.bookmark(last, true).await {
        return Ok(());
    }
    let deadline = tokio::time::sleep(opts.timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(opts.interval);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = &mut deadline => return Ok(()),
            _ = watch.tx.closed() => return Ok(()),
            _ = ticker.tick(), if opts.bookmarks => {
                if !watch.bookmark(last, false).await {
                    return Ok(());
                }
            }
            next = events.next() => {
                let Some(ev) = next else { return Ok(()) };
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(StoreError::WatcherLagged(missed)) => {
                        // The client read too slowly for the live fan-out (its connection or
                        // its process was busy). The store's history still holds what it
                        // missed, unless it fell further behind than that: resume from the
                        // last event it was sent, so it sees neither a gap nor an error.
                        match state.store.watch(&opts.prefix, last).await {
                            Ok(resumed) => {
                                tracing::debug!(missed, from = last, "a lagging watch resumes from the history");
                                events = resumed;
                                continue;
                            }
                            Err(e) => {
                                // 410 Gone when the history no longer reaches back: the
                                // client relists, as it would after an etcd compaction.
                                watch.send("ERROR", ApiError::from(e).status()).await;
                                return Ok(());
                            }
                        }
                    }
                    Err(e) => {
                        watch.send("ERROR", ApiError::from(e).status()).await;
                        return Ok(());
                    }
                };
                last = ev.kv.mod_revision;
                if !watch.forward(&ev, &state.decoded).await? {
                    return Ok(());
                }
            }
        }
    }
}
