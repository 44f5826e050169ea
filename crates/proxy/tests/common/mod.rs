//! Real backends and helpers on 127.0.0.1 shared by the integration tests.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brume_proxy::{
    Demand, Endpoint, Gateway, ListenMode, ListenerSpec, ListenerState, PolicyKind, Proxy,
    ProxyConfig, RoutingSpec, RoutingTable, ServicePort, ServicePortKey,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bounds every wait so a broken test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A port that was free a moment ago.
pub async fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// An address with nothing listening: connects are refused.
pub async fn dead_address() -> SocketAddr {
    free_port().await
}

/// A TCP backend that sends `name\n` on accept, then echoes; counts connections.
pub struct EchoBackend {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
}

pub async fn echo_backend(name: &'static str) -> EchoBackend {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                s.write_all(format!("{name}\n").as_bytes()).await.unwrap();
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    EchoBackend { addr, accepted }
}

/// Reads the backend's greeting line from a proxied connection.
pub async fn greeting(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = tokio::time::timeout(PATIENCE, s.read(&mut byte))
            .await
            .expect("greeting in time")
            .unwrap();
        if n == 0 || byte[0] == b'\n' {
            return String::from_utf8(out).unwrap();
        }
        out.push(byte[0]);
    }
}

/// An HTTP/1.1 backend answering `name xff=<X-Forwarded-For> hop=<X-Hop> body=<request body>`.
pub struct HttpBackend {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicUsize>,
}

pub async fn http_backend(name: &'static str) -> HttpBackend {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    count.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let header = |n: &str| {
                            let v = req.headers().get(n).and_then(|v| v.to_str().ok());
                            v.unwrap_or("-").to_owned()
                        };
                        let (xff, hop) = (header("x-forwarded-for"), header("x-hop"));
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let body = String::from_utf8_lossy(&body).into_owned();
                        let text = format!("{name} xff={xff} hop={hop} body={body}");
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    HttpBackend { addr, requests }
}

pub fn key() -> ServicePortKey {
    ServicePortKey::tcp("default", "web", "", 80)
}

pub fn port(endpoints: Vec<Endpoint>, policy: PolicyKind) -> ServicePort {
    ServicePort {
        app_protocol: None,
        endpoints,
        routing: RoutingSpec {
            policy,
            ..RoutingSpec::default()
        },
    }
}

/// A proxy on node `n1` with the given config, and the listener address it will serve.
pub async fn proxy(config: ProxyConfig, mode: ListenMode) -> (Proxy, SocketAddr) {
    let table = RoutingTable::new(Gateway {
        node: "n1".into(),
        zone: None,
    });
    let demand = Demand::new("n1", Duration::from_secs(10));
    let proxy = Proxy::new(table, demand, config);
    let bind = free_port().await;
    proxy
        .set_listeners([ListenerSpec {
            bind,
            service: key(),
            mode,
        }])
        .await;
    (proxy, bind)
}

pub async fn wait(proxy: &Proxy, bind: SocketAddr, f: impl Fn(&ListenerState) -> bool) {
    tokio::time::timeout(PATIENCE, proxy.wait_for(bind, f))
        .await
        .expect("listener reached the expected state in time");
}

pub async fn wait_listening(proxy: &Proxy, bind: SocketAddr) {
    wait(proxy, bind, |s| matches!(s, ListenerState::Listening(_))).await;
}

/// Records the listener states reported through `on_event`.
pub fn recorder() -> (ProxyConfig, Arc<Mutex<Vec<ListenerState>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let config = ProxyConfig {
        on_event: Some(Arc::new(move |s: &brume_proxy::ListenerStatus| {
            log.lock().unwrap().push(s.state.clone());
        })),
        ..ProxyConfig::default()
    };
    (config, seen)
}
