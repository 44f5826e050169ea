//! Small pieces every benchmark uses: JSON requests, a concurrent loop and percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use http::{Method, Request, header};
use serde_json::Value;

/// A request with a JSON body.
pub(crate) fn json_request(
    method: Method,
    path: &str,
    content_type: &str,
    body: &Value,
) -> Request<Vec<u8>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(serde_json::to_vec(body).unwrap_or_default())
        .expect("a valid request")
}

/// A create (`POST`) of `body` at `path`.
pub(crate) fn post(path: &str, body: &Value) -> Request<Vec<u8>> {
    json_request(Method::POST, path, "application/json", body)
}

/// A JSON merge patch of `body` at `path`.
pub(crate) fn merge_patch(path: &str, body: &Value) -> Request<Vec<u8>> {
    json_request(Method::PATCH, path, "application/merge-patch+json", body)
}

/// `GET path`, decoded as JSON.
pub(crate) async fn get_json(client: &kube::Client, path: &str) -> anyhow::Result<Value> {
    let text = client
        .request_text(Request::get(path).body(Vec::new())?)
        .await
        .with_context(|| format!("GET {path}"))?;
    serde_json::from_str(&text).with_context(|| format!("decoding the answer to GET {path}"))
}

/// `DELETE path`.
pub(crate) async fn delete(client: &kube::Client, path: &str) -> anyhow::Result<()> {
    client
        .request_text(
            Request::builder()
                .method(Method::DELETE)
                .uri(path)
                .body(Vec::new())?,
        )
        .await
        .with_context(|| format!("DELETE {path}"))?;
    Ok(())
}

/// The value at quantile `p` of a sorted sample, in milliseconds.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// Runs `f(i)` for every `i` in `0..n` with `concurrency` workers.
pub(crate) async fn for_each_concurrent<F, Fut>(
    n: usize,
    concurrency: usize,
    f: F,
) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let next = next.clone();
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                f(i).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 0.5), 51.0);
        assert_eq!(percentile(&s, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[tokio::test]
    async fn the_concurrent_loop_visits_every_index_once() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        for_each_concurrent(100, 7, move |i| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(i);
                Ok(())
            }
        })
        .await
        .unwrap();
        let mut v = seen.lock().unwrap().clone();
        v.sort();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
