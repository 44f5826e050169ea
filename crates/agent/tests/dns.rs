//! The agent's DNS server, queried over real sockets by a client no one here wrote: Hickory
//! DNS's `hickory-net` client, over UDP and over TCP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use brume_agent::dns::{self, DnsRecords, DnsServer};
use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::{DnsResponse, ResponseCode};
use hickory_net::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::sync::watch;

const NODE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

fn port(name: Option<&str>, port: i32, node_port: Option<i32>) -> ServicePort {
    ServicePort {
        name: name.map(Into::into),
        port,
        node_port,
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn service(ns: &str, name: &str, ports: Vec<ServicePort>) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("NodePort".into()),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn records(services: &[Service]) -> Arc<DnsRecords> {
    Arc::new(DnsRecords::from_services(
        "cluster.local",
        IpAddr::V4(NODE),
        services,
    ))
}

fn cluster() -> Vec<Service> {
    vec![
        service("default", "web", vec![port(Some("http"), 80, Some(30080))]),
        // A ClusterIP Service: no node port, so not reachable in Brume, so no name.
        service("default", "internal", vec![port(Some("http"), 80, None)]),
    ]
}

async fn start(services: &[Service]) -> (DnsServer, watch::Sender<Arc<DnsRecords>>) {
    let (tx, rx) = watch::channel(records(services));
    let server = dns::serve("127.0.0.1:0".parse().unwrap(), rx)
        .await
        .expect("the DNS server binds an ephemeral port");
    assert_ne!(server.local_addr().port(), 0, "the bound port is reported");
    (server, tx)
}

#[derive(Clone, Copy, Debug)]
enum Via {
    Udp,
    Tcp,
}

async fn client(addr: SocketAddr, via: Via, edns: bool) -> Client<TokioRuntimeProvider> {
    let mut client = match via {
        Via::Udp => {
            let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default()).build();
            let (client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
            tokio::spawn(background);
            client
        }
        Via::Tcp => {
            let (connect, handle) =
                TcpClientStream::new(addr, None, None, TokioRuntimeProvider::default());
            let stream = connect.await.expect("TCP connects");
            let (client, background) = Client::<TokioRuntimeProvider>::new(stream, handle);
            tokio::spawn(background);
            client
        }
    };
    if !edns {
        client.disable_edns();
    }
    client
}

async fn ask(
    client: &mut Client<TokioRuntimeProvider>,
    name: &str,
    qtype: RecordType,
) -> DnsResponse {
    client
        .query(Name::from_str(name).unwrap(), DNSClass::IN, qtype)
        .await
        .unwrap_or_else(|e| panic!("{qtype} {name}: {e}"))
}

fn a_records(response: &DnsResponse) -> Vec<Ipv4Addr> {
    response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn srv_records(response: &DnsResponse) -> Vec<(u16, u16, u16, String)> {
    response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some((s.priority, s.weight, s.port, s.target.to_ascii())),
            _ => None,
        })
        .collect()
}

async fn assert_the_cluster_is_answered(via: Via) {
    let (server, _tx) = start(&cluster()).await;
    let mut c = client(server.local_addr(), via, true).await;

    let a = ask(&mut c, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(a.response_code, ResponseCode::NoError, "{via:?}: {a:?}");
    assert!(a.authoritative);
    assert_eq!(a_records(&a), [NODE], "{via:?}: the node's own address");
    assert_eq!(a.answers[0].ttl, 5);

    let upper = ask(&mut c, "WEB.Default.SVC.cluster.LOCAL.", RecordType::A).await;
    assert_eq!(
        a_records(&upper),
        [NODE],
        "{via:?}: names are case-insensitive"
    );

    let srv = ask(
        &mut c,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert_eq!(srv.response_code, ResponseCode::NoError, "{via:?}: {srv:?}");
    assert_eq!(
        srv_records(&srv),
        [(0, 100, 30080, "web.default.svc.cluster.local.".to_string())],
        "{via:?}: the SRV port is the nodePort, not the Service port"
    );
    assert!(
        srv.additionals
            .iter()
            .any(|r| matches!(&r.data, RData::A(a) if a.0 == NODE)),
        "{via:?}: the target's address is in the additional section: {srv:?}"
    );

    let aaaa = ask(&mut c, "web.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(aaaa.response_code, ResponseCode::NoError, "{via:?}: NODATA");
    assert!(aaaa.answers.is_empty());

    for missing in [
        "nope.default.svc.cluster.local.",
        "internal.default.svc.cluster.local.",
    ] {
        let r = ask(&mut c, missing, RecordType::A).await;
        assert_eq!(
            r.response_code,
            ResponseCode::NXDomain,
            "{via:?}: {missing}"
        );
        assert!(r.answers.is_empty());
    }

    let outside = ask(&mut c, "example.com.", RecordType::A).await;
    assert_eq!(outside.response_code, ResponseCode::Refused, "{via:?}");
    assert!(!outside.recursion_available, "{via:?}: no recursion");
    server.shutdown();
}

#[tokio::test]
async fn udp_answers_a_srv_nxdomain_and_refused() {
    assert_the_cluster_is_answered(Via::Udp).await;
}

#[tokio::test]
async fn tcp_answers_a_srv_nxdomain_and_refused() {
    assert_the_cluster_is_answered(Via::Tcp).await;
}

#[tokio::test]
async fn swapping_the_records_changes_the_answer() {
    let (server, tx) = start(&cluster()).await;
    let mut udp = client(server.local_addr(), Via::Udp, true).await;
    let mut tcp = client(server.local_addr(), Via::Tcp, true).await;
    let name = "_http._tcp.web.default.svc.cluster.local.";
    assert_eq!(
        srv_records(&ask(&mut udp, name, RecordType::SRV).await)[0].2,
        30080
    );

    // The node port changes, and `internal` gets one.
    tx.send_replace(records(&[
        service("default", "web", vec![port(Some("http"), 80, Some(31999))]),
        service(
            "default",
            "internal",
            vec![port(Some("http"), 80, Some(30001))],
        ),
    ]));
    for c in [&mut udp, &mut tcp] {
        assert_eq!(
            srv_records(&ask(c, name, RecordType::SRV).await)[0].2,
            31999
        );
        let internal = ask(c, "internal.default.svc.cluster.local.", RecordType::A).await;
        assert_eq!(a_records(&internal), [NODE]);
    }

    // The Service goes away.
    tx.send_replace(records(&[]));
    let gone = ask(&mut tcp, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(gone.response_code, ResponseCode::NXDomain);
    server.shutdown();
}

#[tokio::test]
async fn a_large_answer_is_truncated_over_udp_without_edns_and_whole_over_tcp() {
    // An SRV record of this Service's name is ~50 bytes (the target is never compressed): 40 ports are well over 512.
    let ports = (0..40)
        .map(|i| port(Some(&format!("p{i}")), 8000 + i, Some(30100 + i)))
        .collect();
    let (server, _tx) = start(&[service("default", "big", ports)]).await;
    let name = "big.default.svc.cluster.local.";

    let mut udp = client(server.local_addr(), Via::Udp, false).await;
    let truncated = ask(&mut udp, name, RecordType::SRV).await;
    assert!(truncated.truncation, "{truncated:?}");
    assert!(truncated.answers.is_empty());

    let mut tcp = client(server.local_addr(), Via::Tcp, false).await;
    let whole = ask(&mut tcp, name, RecordType::SRV).await;
    assert!(!whole.truncation);
    let mut ports: Vec<u16> = srv_records(&whole).into_iter().map(|s| s.2).collect();
    ports.sort_unstable();
    assert_eq!(ports, (30100..30140).collect::<Vec<u16>>());
    server.shutdown();
}

#[tokio::test]
async fn garbage_is_dropped_and_the_server_keeps_answering() {
    let (server, _tx) = start(&cluster()).await;
    let raw = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    raw.send_to(b"\x00\x01", server.local_addr()).await.unwrap();
    let mut buf = [0u8; 512];
    let reply = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        raw.recv_from(&mut buf),
    )
    .await;
    assert!(
        reply.is_err(),
        "a datagram without a DNS header gets no reply"
    );

    let mut c = client(server.local_addr(), Via::Udp, true).await;
    let a = ask(&mut c, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(a_records(&a), [NODE]);
    server.shutdown();
}

#[tokio::test]
async fn shutdown_stops_answering() {
    let (server, _tx) = start(&cluster()).await;
    let addr = server.local_addr();
    server.shutdown();
    // Let the aborted tasks drop their sockets.
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "TCP is closed"
    );
}
