//! The HTTP/1.1 proxy against real backends on 127.0.0.1.

mod common;

use std::sync::atomic::Ordering;

use brume_proxy::{Endpoint, ListenMode, ListenerState, PolicyKind, ProxyConfig};
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Opens one keep-alive client connection to the proxy.
async fn client(bind: std::net::SocketAddr) -> SendRequest<Full<Bytes>> {
    let s = TcpStream::connect(bind).await.unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

async fn get(
    send: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (StatusCode, String) {
    send.ready().await.unwrap();
    let resp = tokio::time::timeout(PATIENCE, send.send_request(req))
        .await
        .expect("answer in time")
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn request(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "web")
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn keep_alive_requests_spread_across_backends() {
    let backends = [
        http_backend("a").await,
        http_backend("b").await,
        http_backend("c").await,
    ];
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Http).await;
    let eps = backends
        .iter()
        .map(|b| Endpoint::ready(b.addr, "n2"))
        .collect();
    proxy
        .table()
        .upsert(key(), port(eps, PolicyKind::RoundRobin));
    wait_listening(&proxy, bind).await;

    let mut send = client(bind).await;
    let mut names = Vec::new();
    for i in 0..9 {
        let req = Request::get(format!("/n/{i}"))
            .header("host", "web")
            .header("connection", "x-hop")
            .header("x-hop", "secret")
            .body(Full::default())
            .unwrap();
        let (status, body) = get(&mut send, req).await;
        assert_eq!(status, StatusCode::OK);
        // X-Forwarded-For carries the client; X-Hop was named in Connection, so it is dropped.
        assert!(body.ends_with(" xff=127.0.0.1 hop=- body="), "{body}");
        names.push(body.split(' ').next().unwrap().to_owned());
    }
    assert_eq!(names, ["a", "b", "c", "a", "b", "c", "a", "b", "c"]);
    assert_eq!(
        proxy.active_connections(),
        1,
        "all nine over one client connection"
    );
    for b in &backends {
        assert_eq!(b.requests.load(Ordering::SeqCst), 3);
    }
    let demand = proxy.demand().snapshot(tokio::time::Instant::now());
    assert_eq!(
        (demand[0].requests_total, demand[0].connections_total),
        (9, 0)
    );
}

#[tokio::test]
async fn a_request_with_a_body_is_retried_after_a_connect_failure() {
    let live = http_backend("live").await;
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Http).await;
    let eps = vec![
        Endpoint::ready(dead_address().await, "n2"),
        Endpoint::ready(live.addr, "n3"),
    ];
    proxy
        .table()
        .upsert(key(), port(eps, PolicyKind::RoundRobin));
    wait_listening(&proxy, bind).await;
    let mut send = client(bind).await;
    for _ in 0..2 {
        let req = Request::post("/upload")
            .header("host", "web")
            .body(Full::new(Bytes::from_static(b"payload")))
            .unwrap();
        let (status, body) = get(&mut send, req).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.starts_with("live ") && body.ends_with("body=payload"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn all_connects_failing_answers_502() {
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Http).await;
    let eps = vec![
        Endpoint::ready(dead_address().await, "n2"),
        Endpoint::ready(dead_address().await, "n3"),
    ];
    proxy.table().upsert(key(), port(eps, PolicyKind::Random));
    wait_listening(&proxy, bind).await;
    let (status, body) = get(&mut client(bind).await, request("/")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body.starts_with("could not connect to any of the 2 ready endpoints of default/web:80/TCP"),
        "{body}"
    );
}

#[tokio::test]
async fn no_ready_endpoint_answers_503_on_an_open_connection() {
    let backend = http_backend("a").await;
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Http).await;
    let ep = Endpoint::ready(backend.addr, "n2");
    proxy
        .table()
        .upsert(key(), port(vec![ep.clone()], PolicyKind::Random));
    wait_listening(&proxy, bind).await;
    let mut send = client(bind).await;
    assert_eq!(get(&mut send, request("/")).await.0, StatusCode::OK);

    // The endpoint terminates: the port closes, and a request on the kept-alive connection
    // gets a clear 503 instead of hanging.
    proxy
        .table()
        .upsert(key(), port(vec![ep.terminating()], PolicyKind::Random));
    wait(&proxy, bind, |s| *s == ListenerState::NoEndpoints).await;
    let (status, body) = get(&mut send, request("/")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "no ready endpoint for service port default/web:80/TCP\n"
    );
    assert!(
        TcpStream::connect(bind).await.is_err(),
        "new connections are refused"
    );
}
