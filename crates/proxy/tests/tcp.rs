//! The TCP proxy against real backends on 127.0.0.1.

mod common;

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use brume_proxy::{Endpoint, ListenMode, ListenerState, PolicyKind, ProxyConfig, StaticDelays};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn echoes_through_to_a_backend() {
    let backend = echo_backend("b1").await;
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Tcp).await;
    proxy.table().upsert(
        key(),
        port(
            vec![Endpoint::ready(backend.addr, "n2")],
            PolicyKind::Random,
        ),
    );
    wait_listening(&proxy, bind).await;

    let mut s = TcpStream::connect(bind).await.unwrap();
    assert_eq!(greeting(&mut s).await, "b1");
    s.write_all(b"hello through the fog").await.unwrap();
    let mut buf = [0u8; 21];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello through the fog");
    drop(s);

    let demand = proxy.demand().snapshot(tokio::time::Instant::now());
    assert_eq!(demand[0].service.name, "web");
    assert_eq!(
        (demand[0].connections_total, demand[0].requests_total),
        (1, 0)
    );
    assert_eq!(demand[0].gateway, "n1");
}

#[tokio::test]
async fn a_half_close_reaches_the_backend_and_its_answer_still_comes_back() {
    let backend = echo_backend("b1").await;
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Tcp).await;
    proxy.table().upsert(
        key(),
        port(
            vec![Endpoint::ready(backend.addr, "n2")],
            PolicyKind::Random,
        ),
    );
    wait_listening(&proxy, bind).await;

    let mut s = TcpStream::connect(bind).await.unwrap();
    assert_eq!(greeting(&mut s).await, "b1");
    // Several reads' worth each way, then the client's end of sending.
    let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = s.split();
    let send = async {
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let receive = tokio::time::timeout(PATIENCE, r.read_to_end(&mut back));
    let ((), received) = tokio::join!(send, receive);
    received
        .expect("the backend's close came back through the proxy in time")
        .unwrap();
    assert_eq!(back.len(), sent.len());
    assert!(back == sent, "the echo differs from what was sent");
}

#[tokio::test]
async fn a_dead_endpoint_is_retried_on_another() {
    let dead = dead_address().await;
    let live = echo_backend("live").await;
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Tcp).await;
    // Round robin starts at the dead endpoint, so the first connection must be retried.
    let eps = vec![
        Endpoint::ready(dead, "n2"),
        Endpoint::ready(live.addr, "n3"),
    ];
    proxy
        .table()
        .upsert(key(), port(eps, PolicyKind::RoundRobin));
    wait_listening(&proxy, bind).await;
    for _ in 0..4 {
        let mut s = TcpStream::connect(bind).await.unwrap();
        assert_eq!(greeting(&mut s).await, "live");
    }
    assert_eq!(live.accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn all_endpoints_dead_resets_the_client() {
    let eps = vec![
        Endpoint::ready(dead_address().await, "n2"),
        Endpoint::ready(dead_address().await, "n3"),
    ];
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Tcp).await;
    proxy.table().upsert(key(), port(eps, PolicyKind::Random));
    wait_listening(&proxy, bind).await;
    let mut s = TcpStream::connect(bind).await.unwrap();
    let mut buf = [0u8; 1];
    let r = tokio::time::timeout(PATIENCE, s.read(&mut buf))
        .await
        .unwrap();
    assert_eq!(r.unwrap_err().kind(), ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn no_ready_endpoint_refuses_connections_and_reports_it() {
    let backend = echo_backend("b1").await;
    let (config, events) = recorder();
    let (proxy, bind) = proxy(config, ListenMode::Tcp).await;

    // No route at all, then a route whose only endpoint is not ready: refused both times.
    wait(&proxy, bind, |s| *s == ListenerState::NoEndpoints).await;
    let refused =
        |r: std::io::Result<TcpStream>| r.unwrap_err().kind() == ErrorKind::ConnectionRefused;
    assert!(refused(TcpStream::connect(bind).await));
    let unready = Endpoint {
        ready: false,
        ..Endpoint::ready(backend.addr, "n2")
    };
    proxy
        .table()
        .upsert(key(), port(vec![unready.clone()], PolicyKind::Random));
    assert!(refused(TcpStream::connect(bind).await));
    assert_eq!(proxy.without_endpoints().len(), 1);

    // It becomes ready: the port opens.
    let ready = Endpoint::ready(backend.addr, "n2");
    proxy
        .table()
        .upsert(key(), port(vec![ready], PolicyKind::Random));
    wait_listening(&proxy, bind).await;
    let mut open = TcpStream::connect(bind).await.unwrap();
    assert_eq!(greeting(&mut open).await, "b1");
    assert!(proxy.without_endpoints().is_empty());

    // And not ready again: closed at once, while the open connection drains.
    proxy
        .table()
        .upsert(key(), port(vec![unready], PolicyKind::Random));
    wait(&proxy, bind, |s| *s == ListenerState::NoEndpoints).await;
    assert!(refused(TcpStream::connect(bind).await));
    open.write_all(b"still here").await.unwrap();
    let mut buf = [0u8; 10];
    open.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still here");

    let seen = events.lock().unwrap().clone();
    let listening = ListenerState::Listening(bind);
    assert_eq!(
        seen,
        [
            ListenerState::NoEndpoints,
            listening,
            ListenerState::NoEndpoints
        ]
    );
}

#[tokio::test]
async fn a_terminating_endpoint_gets_no_new_connections_but_drains() {
    let a = echo_backend("a").await;
    let b = echo_backend("b").await;
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Tcp).await;
    let both = vec![Endpoint::ready(a.addr, "n2"), Endpoint::ready(b.addr, "n3")];
    proxy
        .table()
        .upsert(key(), port(both.clone(), PolicyKind::RoundRobin));
    wait_listening(&proxy, bind).await;
    let mut old = TcpStream::connect(bind).await.unwrap();
    assert_eq!(greeting(&mut old).await, "a");

    let draining = vec![both[0].clone().terminating(), both[1].clone()];
    proxy
        .table()
        .upsert(key(), port(draining, PolicyKind::RoundRobin));
    for _ in 0..4 {
        let mut s = TcpStream::connect(bind).await.unwrap();
        assert_eq!(greeting(&mut s).await, "b");
    }
    assert_eq!(a.accepted.load(Ordering::SeqCst), 1);
    old.write_all(b"drain").await.unwrap();
    let mut buf = [0u8; 5];
    old.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"drain");
    assert_eq!(proxy.active_connections(), 1);
    drop(old);
    assert_eq!(proxy.shutdown(PATIENCE).await, 0);
    assert!(
        TcpStream::connect(bind).await.is_err(),
        "closed after shutdown"
    );
}

#[tokio::test]
async fn link_delay_is_asked_for_the_endpoint_node() {
    let backend = echo_backend("b1").await;
    let delays = Arc::new(StaticDelays::new([(
        "far".to_owned(),
        Duration::from_millis(20),
    )]));
    let config = ProxyConfig {
        link_delay: Some(delays.clone()),
        ..ProxyConfig::default()
    };
    let (proxy, bind) = proxy(config, ListenMode::Tcp).await;
    proxy.table().upsert(
        key(),
        port(
            vec![Endpoint::ready(backend.addr, "far")],
            PolicyKind::Random,
        ),
    );
    wait_listening(&proxy, bind).await;
    let started = tokio::time::Instant::now();
    let mut s = TcpStream::connect(bind).await.unwrap();
    assert_eq!(greeting(&mut s).await, "b1");
    // A sleep never ends early, so this lower bound is not a performance assertion.
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert_eq!(delays.asked(), ["far"]);
}

#[tokio::test]
async fn proximity_sends_connections_to_the_nearest_endpoint() {
    let near = echo_backend("near").await;
    let far = echo_backend("far").await;
    let (proxy, bind) = proxy(ProxyConfig::default(), ListenMode::Tcp).await;
    let params = brume_proxy::ProximityParams {
        alpha: 1.0,
        p: 50.0,
        beta: None,
    };
    let eps = vec![
        Endpoint::ready(far.addr, "n3").with_distance_ms(80.0),
        Endpoint::ready(near.addr, "n2").with_distance_ms(3.0),
    ];
    proxy
        .table()
        .upsert(key(), port(eps, PolicyKind::Proximity(params)));
    wait_listening(&proxy, bind).await;
    for _ in 0..5 {
        let mut s = TcpStream::connect(bind).await.unwrap();
        assert_eq!(greeting(&mut s).await, "near");
    }
    assert_eq!(far.accepted.load(Ordering::SeqCst), 0);
}
