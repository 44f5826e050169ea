//! What this node's DNS server knows and answers: a pure function from a question to an
//! [`Answer`], following the Kubernetes DNS specification
//! (<https://github.com/kubernetes/dns/blob/master/docs/specification.md>, schema 1.1.0) as far
//! as it applies to Brume.
//!
//! Brume has no cluster IPs (DESIGN §7): a Service is reachable through the node-local proxy,
//! which listens on the Service's node ports on every node. So, on every node:
//!
//! - `<svc>.<ns>.svc.<zone>` `A` (or `AAAA`) is **this node's own address**, not a cluster IP;
//! - `_<port>._<proto>.<svc>.<ns>.svc.<zone>` `SRV` is `0 100 <nodePort> <svc>.<ns>.svc.<zone>.`,
//!   with the address record in the additional section (spec §2.3.2). The port is the
//!   **nodePort**, because that is where the proxy listens, not the Service `port`;
//! - `SRV` on `<svc>.<ns>.svc.<zone>` itself lists every node port, named or not. The spec says
//!   unnamed ports have no `SRV` record (§2.3.2); this is an extension (§3 allows them, and
//!   CoreDNS answers the same question the same way), and it is the only way to discover the
//!   node port of a single unnamed port;
//! - `dns-version.<zone>` `TXT` is `"1.1.0"` (§2.2).
//!
//! A Service without node ports is not reachable at all, so it has no name: `NXDOMAIN`. Names
//! outside the zone are `REFUSED` (no recursion, no forwarding). A name that exists but has no
//! record of the asked type is `NOERROR` with no answer (NODATA), as `AAAA` on an IPv4 node.
//! Negative answers carry the zone's `SOA` so resolvers cache them for [`TTL`] only
//! (RFC 2308 §5). Comparisons are case-insensitive (spec §2.1).

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::Service;

/// The time to live of every record, negative answers included, in seconds. Short, because a
/// Service's node ports can change and the agent swaps its records as they do; CoreDNS's
/// kubernetes plugin also defaults to 5 s.
pub const TTL: u32 = 5;

/// The schema version published in `dns-version.<zone>` (spec §1, §2.2).
pub const SCHEMA_VERSION: &str = "1.1.0";

/// The SRV priority and weight: one target per name, so their values carry no choice (RFC 2782;
/// the spec does not prescribe them). These are CoreDNS's values for a single target.
const SRV_PRIORITY: u16 = 0;
const SRV_WEIGHT: u16 = 100;

/// One Service port as DNS sees it: reachable on this node at `node_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPort {
    /// The Service port's `name`, lowercase; empty when the port is unnamed (then it has no
    /// `_<port>._<proto>` SRV name, only a record in the SRV of the Service name).
    pub name: String,
    /// `TCP`, `UDP` or `SCTP`, as in `ServicePort.protocol`; matched against `_<proto>`
    /// without regard to case.
    pub protocol: String,
    /// The Service port's `nodePort`, where this node's proxy listens.
    pub node_port: u16,
}

/// Everything this node's DNS server answers, swapped as a whole when Services change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecords {
    /// The cluster domain without a trailing dot, lowercase, e.g. `cluster.local`.
    pub domain: String,
    /// This node's address, where its proxy listens on the node ports.
    pub node_address: IpAddr,
    /// The reachable Services by (namespace, name), both lowercase, each with its node ports.
    /// A Service with no port here has no name.
    pub services: BTreeMap<(String, String), Vec<DnsPort>>,
}

/// The outcome of one question: the response code and the three record sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `NoError` (with or without answers), `NXDomain` or `Refused`.
    pub rcode: ResponseCode,
    /// Whether the answer comes from the zone this server is the authority for (the AA bit).
    pub authoritative: bool,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section: the zone's SOA on a negative answer.
    pub authorities: Vec<Record>,
    /// The additional section: the address behind SRV targets.
    pub additionals: Vec<Record>,
}

impl Answer {
    fn refused() -> Self {
        Self {
            rcode: ResponseCode::Refused,
            authoritative: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }
}

/// A name in the zone that exists, by what it is (labels are lowercase).
enum Node<'a> {
    /// The zone itself: owns the SOA.
    Apex,
    /// `dns-version.<zone>`: owns the schema TXT.
    DnsVersion,
    /// An empty non-terminal (`svc.<zone>`, `<ns>.svc.<zone>`, `_<proto>.<svc>…`): it exists
    /// because names below it do, and owns nothing.
    Empty,
    /// `<svc>.<ns>.svc.<zone>`: the node address, and an SRV per node port.
    Service(&'a str, &'a str, &'a [DnsPort]),
    /// `_<port>._<proto>.<svc>.<ns>.svc.<zone>`: one SRV.
    Port(&'a str, &'a str, &'a DnsPort),
}

impl DnsRecords {
    /// The records for `services` on a node at `node_address`, in the cluster domain `domain`
    /// (e.g. `cluster.local`; a trailing dot is ignored).
    ///
    /// Only ports with a `nodePort` are kept, because only node ports are reachable in Brume (no
    /// cluster IPs), and a Service with none (a `ClusterIP` or `ExternalName` Service, or one
    /// whose node ports are not allocated yet) is left out, so its name is `NXDOMAIN`. A
    /// Service without a name is left out too. A missing namespace is `default` and a missing
    /// protocol `TCP`, as the API server defaults them.
    pub fn from_services(
        domain: &str,
        node_address: IpAddr,
        services: &[impl std::borrow::Borrow<Service>],
    ) -> Self {
        let mut by_name = BTreeMap::new();
        for service in services {
            let service = service.borrow();
            let Some(name) = service.metadata.name.as_deref() else {
                continue;
            };
            let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
            let ports: Vec<DnsPort> = service
                .spec
                .iter()
                .flat_map(|spec| spec.ports.iter().flatten())
                .filter_map(|port| {
                    let node_port = u16::try_from(port.node_port?).ok().filter(|p| *p != 0)?;
                    Some(DnsPort {
                        name: port.name.as_deref().unwrap_or("").to_ascii_lowercase(),
                        protocol: port.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        node_port,
                    })
                })
                .collect();
            if !ports.is_empty() {
                by_name.insert(
                    (namespace.to_ascii_lowercase(), name.to_ascii_lowercase()),
                    ports,
                );
            }
        }
        Self {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
            node_address,
            services: by_name,
        }
    }

    /// What to answer to `query`: `REFUSED` outside the cluster domain, for another class than
    /// `IN` and for zone transfers; `NXDOMAIN` for a name that does not exist; otherwise
    /// `NOERROR` with the records of the asked type (possibly none).
    pub fn answer(&self, query: &Query) -> Answer {
        let labels: Vec<String> = query
            .name
            .iter()
            .map(|label| String::from_utf8_lossy(label).to_ascii_lowercase())
            .collect();
        let zone: Vec<&str> = self.domain.split('.').filter(|l| !l.is_empty()).collect();
        let in_zone = labels.len() >= zone.len()
            && labels[labels.len() - zone.len()..]
                .iter()
                .zip(&zone)
                .all(|(a, b)| a == b);
        let qtype = query.query_type();
        if !in_zone
            || query.query_class() != DNSClass::IN
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            return Answer::refused();
        }
        let (Ok(apex), Ok(soa)) = (self.fqdn(&[]), self.soa()) else {
            // The configured domain is not a valid name: nothing in it can be answered.
            return Answer::refused();
        };
        let relative: Vec<&str> = labels[..labels.len() - zone.len()]
            .iter()
            .map(String::as_str)
            .collect();
        let Some(node) = self.find(&relative) else {
            return Answer {
                rcode: ResponseCode::NXDomain,
                authoritative: true,
                answers: Vec::new(),
                authorities: vec![Record::from_rdata(apex, TTL, RData::SOA(soa))],
                additionals: Vec::new(),
            };
        };
        let owner = query.name().clone();
        let mut owned = Vec::new();
        let mut targets = Vec::new();
        match node {
            Node::Apex => owned.push(RData::SOA(soa.clone())),
            Node::DnsVersion => owned.push(RData::TXT(TXT::new(vec![SCHEMA_VERSION.into()]))),
            Node::Empty => {}
            Node::Service(ns, svc, ports) => {
                owned.push(self.address());
                if let Ok(target) = self.service_name(ns, svc) {
                    owned.extend(ports.iter().map(|p| srv(p, target.clone())));
                    targets.push(target);
                }
            }
            Node::Port(ns, svc, port) => {
                if let Ok(target) = self.service_name(ns, svc) {
                    owned.push(srv(port, target.clone()));
                    targets.push(target);
                }
            }
        }
        let answers: Vec<Record> = owned
            .into_iter()
            .filter(|rdata| qtype == RecordType::ANY || rdata.record_type() == qtype)
            .map(|rdata| Record::from_rdata(owner.clone(), TTL, rdata))
            .collect();
        let additionals = if answers.iter().any(|r| r.record_type() == RecordType::SRV)
            && qtype != RecordType::ANY
        {
            // RFC 2782: the target's address "may" follow, saving the client a query.
            targets
                .into_iter()
                .map(|t| Record::from_rdata(t, TTL, self.address()))
                .collect()
        } else {
            Vec::new()
        };
        let authorities = if answers.is_empty() {
            vec![Record::from_rdata(apex, TTL, RData::SOA(soa))]
        } else {
            Vec::new()
        };
        Answer {
            rcode: ResponseCode::NoError,
            authoritative: true,
            answers,
            authorities,
            additionals,
        }
    }

    /// The node that `relative` (the query's labels left of the zone, lowercase) names, if it
    /// exists.
    fn find<'a>(&'a self, relative: &[&str]) -> Option<Node<'a>> {
        let in_namespace = |ns: &str| {
            self.services
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .any(|(_, ports)| !ports.is_empty())
        };
        match relative {
            [] => Some(Node::Apex),
            ["dns-version"] => Some(Node::DnsVersion),
            ["svc"] => self
                .services
                .values()
                .any(|p| !p.is_empty())
                .then_some(Node::Empty),
            [ns, "svc"] => in_namespace(ns).then_some(Node::Empty),
            [svc, ns, "svc"] => {
                let ((ns, svc), ports) = self.service(ns, svc)?;
                Some(Node::Service(ns, svc, ports))
            }
            [proto, svc, ns, "svc"] => {
                let proto = proto.strip_prefix('_')?;
                let (_, ports) = self.service(ns, svc)?;
                ports
                    .iter()
                    .any(|p| !p.name.is_empty() && p.protocol.eq_ignore_ascii_case(proto))
                    .then_some(Node::Empty)
            }
            [port, proto, svc, ns, "svc"] => {
                let (name, proto) = (port.strip_prefix('_')?, proto.strip_prefix('_')?);
                let ((ns, svc), ports) = self.service(ns, svc)?;
                let port = ports.iter().find(|p| {
                    !name.is_empty()
                        && p.name.eq_ignore_ascii_case(name)
                        && p.protocol.eq_ignore_ascii_case(proto)
                })?;
                Some(Node::Port(ns, svc, port))
            }
            _ => None,
        }
    }

    /// The Service `ns/svc`, if it has node ports.
    fn service(&self, ns: &str, svc: &str) -> Option<((&str, &str), &[DnsPort])> {
        let ((ns, svc), ports) = self
            .services
            .get_key_value(&(ns.to_string(), svc.to_string()))?;
        (!ports.is_empty()).then_some(((ns.as_str(), svc.as_str()), ports.as_slice()))
    }

    /// The address record of every Service name: this node's address.
    fn address(&self) -> RData {
        match self.node_address {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        }
    }

    /// `<labels>.<zone>.` as a fully qualified name.
    fn fqdn(&self, labels: &[&str]) -> Result<Name, hickory_proto::ProtoError> {
        let mut name = String::new();
        for label in labels.iter().copied().chain(self.domain.split('.')) {
            if !label.is_empty() {
                name.push_str(label);
                name.push('.');
            }
        }
        if name.is_empty() {
            return Ok(Name::root());
        }
        Name::from_ascii(name)
    }

    /// `<svc>.<ns>.svc.<zone>.`, the target of the Service's SRV records.
    fn service_name(&self, ns: &str, svc: &str) -> Result<Name, hickory_proto::ProtoError> {
        self.fqdn(&[svc, ns, "svc"])
    }

    /// The zone's SOA. Its minimum is the negative-caching TTL (RFC 2308 §4). The serial is
    /// fixed: there are no secondaries to tell that the zone changed.
    fn soa(&self) -> Result<SOA, hickory_proto::ProtoError> {
        Ok(SOA::new(
            self.fqdn(&["ns", "dns"])?,
            self.fqdn(&["hostmaster"])?,
            1,
            7200,
            1800,
            86400,
            TTL,
        ))
    }
}

fn srv(port: &DnsPort, target: Name) -> RData {
    RData::SRV(SRV::new(SRV_PRIORITY, SRV_WEIGHT, port.node_port, target))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    const NODE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    fn port(name: Option<&str>, protocol: Option<&str>, node_port: Option<i32>) -> ServicePort {
        ServicePort {
            name: name.map(Into::into),
            protocol: protocol.map(Into::into),
            port: 80,
            node_port,
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
                ports: Some(ports),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn records_at(node: IpAddr) -> DnsRecords {
        DnsRecords::from_services(
            "cluster.local.",
            node,
            &[
                service(
                    "default",
                    "web",
                    vec![
                        port(Some("http"), Some("TCP"), Some(30080)),
                        port(Some("dns"), Some("UDP"), Some(30053)),
                        port(Some("admin"), None, None),
                    ],
                ),
                service("default", "internal", vec![port(Some("http"), None, None)]),
                service("tools", "single", vec![port(None, None, Some(31000))]),
            ],
        )
    }

    fn ask(records: &DnsRecords, name: &str, qtype: RecordType) -> Answer {
        records.answer(&Query::query(Name::from_ascii(name).unwrap(), qtype))
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn srv_of(record: &Record) -> (u16, u16, u16, Name) {
        match &record.data {
            RData::SRV(srv) => (srv.priority, srv.weight, srv.port, srv.target.clone()),
            other => panic!("not an SRV: {other:?}"),
        }
    }

    fn assert_soa_only(answer: &Answer) {
        assert!(answer.answers.is_empty(), "{answer:?}");
        assert_eq!(answer.authorities.len(), 1, "{answer:?}");
        let soa = &answer.authorities[0];
        assert_eq!(soa.name, name("cluster.local."));
        assert!(matches!(&soa.data, RData::SOA(s) if s.minimum == TTL));
    }

    #[test]
    fn from_services_keeps_only_node_ports_and_drops_services_without_any() {
        let records = records_at(NODE);
        assert_eq!(records.domain, "cluster.local");
        assert_eq!(
            records.services.keys().collect::<Vec<_>>(),
            [
                &("default".to_string(), "web".to_string()),
                &("tools".to_string(), "single".to_string())
            ]
        );
        assert_eq!(
            records.services[&("default".into(), "web".into())],
            [
                DnsPort {
                    name: "http".into(),
                    protocol: "TCP".into(),
                    node_port: 30080
                },
                DnsPort {
                    name: "dns".into(),
                    protocol: "UDP".into(),
                    node_port: 30053
                },
            ]
        );
        assert_eq!(
            records.services[&("tools".into(), "single".into())][0].protocol,
            "TCP",
            "a missing protocol is TCP, as the API server defaults it"
        );
    }

    #[test]
    fn a_is_the_node_address_with_a_5s_ttl() {
        let answer = ask(
            &records_at(NODE),
            "web.default.svc.cluster.local.",
            RecordType::A,
        );
        assert_eq!(answer.rcode, ResponseCode::NoError);
        assert!(answer.authoritative);
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(answer.answers[0].data, RData::A(A::new(127, 0, 0, 2)));
        assert_eq!(answer.answers[0].ttl, 5);
        assert!(answer.authorities.is_empty() && answer.additionals.is_empty());
    }

    #[test]
    fn names_are_case_insensitive_and_the_owner_keeps_the_asked_case() {
        let answer = ask(
            &records_at(NODE),
            "WeB.DEFAULT.Svc.Cluster.LOCAL.",
            RecordType::A,
        );
        assert_eq!(answer.rcode, ResponseCode::NoError);
        assert_eq!(answer.answers.len(), 1);
        assert!(
            answer.answers[0]
                .name
                .eq_case(&name("WeB.DEFAULT.Svc.Cluster.LOCAL."))
        );
        let srv = ask(
            &records_at(NODE),
            "_HTTP._Tcp.web.default.svc.cluster.local.",
            RecordType::SRV,
        );
        assert_eq!(srv.answers.len(), 1, "{srv:?}");
    }

    #[test]
    fn aaaa_on_an_ipv4_node_is_nodata() {
        let answer = ask(
            &records_at(NODE),
            "web.default.svc.cluster.local.",
            RecordType::AAAA,
        );
        assert_eq!(answer.rcode, ResponseCode::NoError);
        assert_soa_only(&answer);
    }

    #[test]
    fn an_ipv6_node_answers_aaaa_and_a_is_nodata() {
        let v6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
        let records = records_at(v6);
        let aaaa = ask(&records, "web.default.svc.cluster.local.", RecordType::AAAA);
        assert_eq!(aaaa.answers.len(), 1);
        assert_eq!(
            aaaa.answers[0].data,
            RData::AAAA(AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, 2))
        );
        let a = ask(&records, "web.default.svc.cluster.local.", RecordType::A);
        assert_eq!(a.rcode, ResponseCode::NoError);
        assert_soa_only(&a);
        let srv = ask(
            &records,
            "_http._tcp.web.default.svc.cluster.local.",
            RecordType::SRV,
        );
        assert_eq!(srv.additionals[0].record_type(), RecordType::AAAA);
    }

    #[test]
    fn a_named_port_srv_is_the_node_port_with_the_address_in_additional() {
        let answer = ask(
            &records_at(NODE),
            "_http._tcp.web.default.svc.cluster.local.",
            RecordType::SRV,
        );
        assert_eq!(answer.rcode, ResponseCode::NoError);
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(
            srv_of(&answer.answers[0]),
            (0, 100, 30080, name("web.default.svc.cluster.local."))
        );
        assert_eq!(answer.additionals.len(), 1);
        assert_eq!(
            answer.additionals[0].name,
            name("web.default.svc.cluster.local.")
        );
        assert_eq!(answer.additionals[0].data, RData::A(A::new(127, 0, 0, 2)));

        let udp = ask(
            &records_at(NODE),
            "_dns._udp.web.default.svc.cluster.local.",
            RecordType::SRV,
        );
        assert_eq!(srv_of(&udp.answers[0]).2, 30053);
    }

    #[test]
    fn a_port_under_the_wrong_protocol_or_without_a_node_port_does_not_exist() {
        for missing in [
            "_http._udp.web.default.svc.cluster.local.",
            "_dns._tcp.web.default.svc.cluster.local.",
            "_admin._tcp.web.default.svc.cluster.local.",
            "http._tcp.web.default.svc.cluster.local.",
            "_nope._tcp.web.default.svc.cluster.local.",
        ] {
            let answer = ask(&records_at(NODE), missing, RecordType::SRV);
            assert_eq!(answer.rcode, ResponseCode::NXDomain, "{missing}");
            assert_soa_only(&answer);
        }
    }

    #[test]
    fn srv_on_the_service_name_lists_every_node_port_even_unnamed() {
        let web = ask(
            &records_at(NODE),
            "web.default.svc.cluster.local.",
            RecordType::SRV,
        );
        let ports: Vec<u16> = web.answers.iter().map(|r| srv_of(r).2).collect();
        assert_eq!(ports, [30080, 30053]);
        assert_eq!(web.additionals.len(), 1);

        let single = ask(
            &records_at(NODE),
            "single.tools.svc.cluster.local.",
            RecordType::SRV,
        );
        assert_eq!(single.answers.len(), 1);
        assert_eq!(
            srv_of(&single.answers[0]),
            (0, 100, 31000, name("single.tools.svc.cluster.local."))
        );
    }

    #[test]
    fn an_unnamed_port_has_no_srv_name_of_its_own() {
        // Spec §2.3.2: "Unnamed ports do not have an SRV record", and so no `_proto` node.
        for missing in [
            "_tcp.single.tools.svc.cluster.local.",
            "_._tcp.single.tools.svc.cluster.local.",
        ] {
            let answer = ask(&records_at(NODE), missing, RecordType::SRV);
            assert_eq!(answer.rcode, ResponseCode::NXDomain, "{missing}");
        }
    }

    #[test]
    fn unknown_services_and_services_without_node_ports_are_nxdomain() {
        for missing in [
            "nope.default.svc.cluster.local.",
            "internal.default.svc.cluster.local.",
            "web.other.svc.cluster.local.",
            "web.default.svc.cluster.local.default.svc.cluster.local.",
            "a.web.default.svc.cluster.local.",
            "1-2-3-4.default.pod.cluster.local.",
            "nope.cluster.local.",
        ] {
            let answer = ask(&records_at(NODE), missing, RecordType::A);
            assert_eq!(answer.rcode, ResponseCode::NXDomain, "{missing}");
            assert!(answer.authoritative);
            assert_soa_only(&answer);
        }
    }

    #[test]
    fn names_outside_the_zone_are_refused() {
        for outside in [
            "example.com.",
            "local.",
            ".",
            "web.default.svc.cluster.locals.",
        ] {
            let answer = ask(&records_at(NODE), outside, RecordType::A);
            assert_eq!(answer.rcode, ResponseCode::Refused, "{outside}");
            assert!(!answer.authoritative);
            assert!(answer.answers.is_empty() && answer.authorities.is_empty());
        }
    }

    #[test]
    fn other_classes_and_zone_transfers_are_refused() {
        let mut query = Query::query(name("web.default.svc.cluster.local."), RecordType::A);
        query.set_query_class(DNSClass::CH);
        assert_eq!(records_at(NODE).answer(&query).rcode, ResponseCode::Refused);
        let axfr = ask(&records_at(NODE), "cluster.local.", RecordType::AXFR);
        assert_eq!(axfr.rcode, ResponseCode::Refused);
    }

    #[test]
    fn empty_non_terminals_are_nodata_only_while_something_lives_below() {
        let records = records_at(NODE);
        for present in [
            "svc.cluster.local.",
            "default.svc.cluster.local.",
            "_tcp.web.default.svc.cluster.local.",
            "_udp.web.default.svc.cluster.local.",
        ] {
            let answer = ask(&records, present, RecordType::A);
            assert_eq!(answer.rcode, ResponseCode::NoError, "{present}");
            assert_soa_only(&answer);
        }
        let empty = DnsRecords::from_services("cluster.local", NODE, &[] as &[Service]);
        for gone in ["svc.cluster.local.", "default.svc.cluster.local."] {
            assert_eq!(
                ask(&empty, gone, RecordType::A).rcode,
                ResponseCode::NXDomain
            );
        }
        assert_eq!(
            ask(
                &records,
                "_sctp.web.default.svc.cluster.local.",
                RecordType::A
            )
            .rcode,
            ResponseCode::NXDomain
        );
    }

    #[test]
    fn the_apex_has_the_soa_and_dns_version_has_the_schema() {
        let records = records_at(NODE);
        let soa = ask(&records, "cluster.local.", RecordType::SOA);
        assert_eq!(soa.rcode, ResponseCode::NoError);
        assert_eq!(soa.answers.len(), 1);
        assert_eq!(soa.answers[0].record_type(), RecordType::SOA);
        let version = ask(&records, "dns-version.cluster.local.", RecordType::TXT);
        assert_eq!(
            version.answers[0].data,
            RData::TXT(TXT::new(vec!["1.1.0".into()]))
        );
    }

    #[test]
    fn any_returns_every_record_of_the_name() {
        let answer = ask(
            &records_at(NODE),
            "web.default.svc.cluster.local.",
            RecordType::ANY,
        );
        let types: Vec<RecordType> = answer.answers.iter().map(Record::record_type).collect();
        assert_eq!(types, [RecordType::A, RecordType::SRV, RecordType::SRV]);
        assert!(
            answer.additionals.is_empty(),
            "the address is already an answer"
        );
    }

    #[test]
    fn another_cluster_domain_is_honoured() {
        let records = DnsRecords {
            domain: "fog.example".into(),
            ..records_at(NODE)
        };
        let a = ask(&records, "web.default.svc.fog.example.", RecordType::A);
        assert_eq!(a.answers.len(), 1);
        let old = ask(&records, "web.default.svc.cluster.local.", RecordType::A);
        assert_eq!(old.rcode, ResponseCode::Refused);
    }
}
