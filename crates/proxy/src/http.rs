//! Per-request HTTP/1.1 proxying for Service ports with `appProtocol: http`.
//!
//! Each accepted client connection is served by hyper with keep-alive; every request picks its
//! own endpoint and goes out through a shared keep-alive pool (hyper-util's legacy client,
//! pooled per endpoint address). A connect failure is retried on another endpoint, but only
//! while the request body has not been touched, so a request is never sent twice.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::context::Context;
use crate::demand::DemandCounter;
use crate::table::{Lease, ServicePortKey};

/// The body of a response the proxy sends to its client.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// The pooled client towards endpoints.
pub(crate) type Upstream = Client<HttpConnector, RetryBody>;

/// Builds the keep-alive client towards endpoints: TCP_NODELAY, the configured connect timeout,
/// idle connections closed after 90 s (hyper-util's default, enforced by the tokio timer).
pub(crate) fn upstream(connect_timeout: std::time::Duration) -> Upstream {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// Hop-by-hop fields that are never forwarded, besides those the `Connection` field names.
/// RFC 9110 §7.6.1 lists Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding and
/// Upgrade; Proxy-Authenticate, Proxy-Authorization and Trailer were hop-by-hop in RFC 2616
/// §13.5.1 and Go's `net/http/httputil.ReverseProxy` still strips them, as does this proxy.
/// Upgrade is stripped, so WebSocket and other upgrades are not proxied.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "trailer",
];

/// Removes the hop-by-hop fields from `headers`: those named in `Connection`, then the fixed
/// list (RFC 9110 §7.6.1).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Appends the client's IP to `X-Forwarded-For`, the de-facto form RFC 7239 §7.5 describes:
/// a comma-separated list, nearest proxy's client last.
pub fn append_forwarded_for(headers: &mut HeaderMap, client: SocketAddr) {
    let ip = client.ip().to_string();
    let value = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) if !prior.trim().is_empty() => format!("{prior}, {ip}"),
        _ => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert("x-forwarded-for", v);
    }
}

/// Serves one accepted client connection, request by request, until the client closes it or
/// the proxy shuts down.
pub(crate) async fn serve(
    ctx: Arc<Context>,
    key: ServicePortKey,
    demand: DemandCounter,
    client: TcpStream,
    peer: SocketAddr,
) {
    let _active = ctx.track();
    let _ = client.set_nodelay(true);
    let mut shutdown = ctx.shutdown.subscribe();
    let service = {
        let ctx = Arc::clone(&ctx);
        service_fn(move |req| {
            let (ctx, key) = (Arc::clone(&ctx), key.clone());
            demand.record_request();
            let demand = demand.clone();
            async move {
                let started = tokio::time::Instant::now();
                let resp = forward(&ctx, &key, peer, req).await;
                let answered = resp.extensions().get::<ProxyAnswer>().is_none();
                demand.record_latency(started.elapsed(), answered);
                Ok::<_, Infallible>(resp)
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(client), service);
    tokio::pin!(conn);
    let stopping = async {
        // Drop the borrow guard at once: it must not live across the connection's `.await`.
        let _ = shutdown.wait_for(|s| *s).await.map(drop);
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(client = %peer, error = %e, "http connection ended with an error");
    }
}

/// Forwards one request to an endpoint of `key` and returns the answer for the client.
async fn forward(
    ctx: &Context,
    key: &ServicePortKey,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    append_forwarded_for(&mut parts.headers, peer);
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let body = RetryBody::new(body);
    let mut tried: Vec<SocketAddr> = Vec::new();
    let mut last_error = None;
    loop {
        let Some(lease) = ctx.pick(key, peer.ip(), &tried) else {
            return match last_error {
                None => answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("no ready endpoint for service port {key}\n"),
                ),
                Some(e) => answer(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "could not connect to any of the {} ready endpoints of {key}: {e}\n",
                        tried.len()
                    ),
                ),
            };
        };
        let endpoint = lease.endpoint().address;
        let Ok(uri) = format!("http://{endpoint}{path}").parse::<Uri>() else {
            return answer(
                StatusCode::BAD_REQUEST,
                format!("bad request target {path:?}\n"),
            );
        };
        let mut out = Request::from_parts(parts.clone(), body.attempt());
        *out.uri_mut() = uri;
        ctx.link_delay(&lease.endpoint().node).await;
        match ctx.upstream.request(out).await {
            Ok(resp) => {
                lease.record_elapsed();
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let body = LeaseBody {
                    inner: body,
                    _lease: lease,
                };
                return Response::from_parts(parts, body.boxed());
            }
            Err(e) if e.is_connect() && body.unsent() => {
                tracing::debug!(service = %key, %endpoint, error = %e, "connect failed; trying another endpoint");
                lease.record_latency(ctx.config.connect_timeout);
                tried.push(endpoint);
                last_error = Some(source_chain(&e));
            }
            Err(e) => {
                lease.record_elapsed();
                return answer(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "endpoint {endpoint} of {key} failed: {}\n",
                        source_chain(&e)
                    ),
                );
            }
        }
    }
}

/// An error and its causes on one line: hyper-util's own message is only "client error
/// (Connect)".
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A plain-text answer from the proxy itself.
/// Marks a response the proxy wrote itself (no endpoint answered), so it is not counted as a
/// served request's latency.
#[derive(Clone, Copy)]
struct ProxyAnswer;

fn answer(status: StatusCode, text: String) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed();
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.extensions_mut().insert(ProxyAnswer);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The client's request body, shared between attempts: each attempt gets a [`RetryBody`] that
/// takes the real body only when hyper first polls it, so after a connect error the body is
/// still in the slot and the request can go to another endpoint.
pub(crate) struct RetryBody {
    slot: Arc<Mutex<Option<Incoming>>>,
    taken: Option<Incoming>,
    hint: SizeHint,
    end: bool,
}

impl RetryBody {
    fn new(body: Incoming) -> Self {
        Self {
            hint: body.size_hint(),
            end: body.is_end_stream(),
            slot: Arc::new(Mutex::new(Some(body))),
            taken: None,
        }
    }

    /// A handle for one more attempt.
    fn attempt(&self) -> Self {
        Self {
            slot: Arc::clone(&self.slot),
            taken: None,
            hint: self.hint,
            end: self.end,
        }
    }

    /// Whether no attempt has started sending the body.
    fn unsent(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

impl Body for RetryBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if self.taken.is_none() {
            let body = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            match body {
                Some(body) => self.taken = Some(body),
                None => return Poll::Ready(None),
            }
        }
        match self.taken.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.taken.as_ref().map_or(self.end, Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.taken.as_ref().map_or(self.hint, Body::size_hint)
    }
}

/// An endpoint's response body that keeps the request counted as in flight until the client
/// has received all of it.
struct LeaseBody {
    inner: Incoming,
    _lease: Lease,
}

impl Body for LeaseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hop_by_hop_and_connection_named_fields() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, X-Trace"));
        h.insert("x-trace", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("host", HeaderValue::from_static("web"));
        h.insert("content-length", HeaderValue::from_static("3"));
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-length", "host"]);
    }

    #[test]
    fn forwarded_for_appends() {
        let peer: SocketAddr = "192.0.2.7:5555".parse().unwrap();
        let mut h = HeaderMap::new();
        append_forwarded_for(&mut h, peer);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        append_forwarded_for(&mut h, peer);
        assert_eq!(h["x-forwarded-for"], "198.51.100.1, 192.0.2.7");
    }
}
