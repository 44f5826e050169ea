//! A watch on a collection that hands every event, with the instant it was read, to a channel.

use std::time::Instant;

use anyhow::Context;
use futures::{AsyncBufReadExt, StreamExt};
use http::Request;
use serde_json::Value;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::task::JoinHandle;

use super::kit::get_json;

/// One watch event and when this process read it.
pub(crate) struct Seen {
    /// `ADDED`, `MODIFIED`, `DELETED` (an `ERROR` ends the watch with an error instead).
    pub kind: String,
    /// The object as JSON.
    pub object: Value,
    /// When the event's line was read.
    pub at: Instant,
}

/// Lists `path` (a collection, optionally with a `?query`) for its resourceVersion, opens a
/// watch from there and returns once the server has answered, so no event after the list is
/// missed or seen late. The task ends with an error if the watch fails or ends.
pub(crate) async fn watch(
    client: &kube::Client,
    path: &str,
) -> anyhow::Result<(JoinHandle<anyhow::Result<()>>, UnboundedReceiver<Seen>)> {
    let list = get_json(client, path).await?;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!("{path}{sep}watch=true&resourceVersion={rv}&timeoutSeconds=3600");
    let stream = client
        .request_stream(Request::get(&url).body(Vec::new())?)
        .await
        .with_context(|| format!("watching {path}"))?;
    let (tx, rx) = unbounded_channel();
    let path = path.to_string();
    let task = tokio::spawn(async move {
        let mut lines = stream.lines();
        while let Some(line) = lines.next().await {
            let line = line.with_context(|| format!("reading the watch of {path}"))?;
            let at = Instant::now();
            let mut ev: Value = serde_json::from_str(&line)
                .with_context(|| format!("decoding a watch event of {path}: {line}"))?;
            let kind = ev["type"].as_str().unwrap_or_default().to_string();
            anyhow::ensure!(kind != "ERROR", "the watch of {path} failed: {line}");
            let object = ev["object"].take();
            if tx.send(Seen { kind, object, at }).is_err() {
                return Ok(());
            }
        }
        anyhow::bail!("the watch of {path} ended")
    });
    Ok((task, rx))
}
