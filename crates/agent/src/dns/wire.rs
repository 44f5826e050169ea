//! From request bytes to response bytes, without I/O: parsing, the header rules (RFC 1035,
//! RFC 6891 for EDNS), and the size limit of the transport with truncation (RFC 2181 §9).

use hickory_proto::op::{Edns, Header, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::records::DnsRecords;

/// The transport a request came on, which bounds the response size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// 512 bytes, or the client's EDNS payload size up to [`EDNS_PAYLOAD`]; a larger answer is
    /// truncated (TC bit) so the client retries over TCP.
    Udp,
    /// Up to 65535 bytes, the limit of the two-byte length prefix (RFC 1035 §4.2.2).
    Tcp,
}

/// The UDP payload size this server advertises and honours with EDNS: 1232 bytes, the value of
/// DNS Flag Day 2020, which avoids IP fragmentation on common paths.
pub const EDNS_PAYLOAD: u16 = 1232;

/// The classic UDP limit without EDNS (RFC 1035 §2.3.4).
const PLAIN_UDP_PAYLOAD: usize = 512;

/// The response to the DNS message `request` received over `transport`, or `None` when the
/// request is to be dropped: too short for a header, or itself a response (answering one
/// could loop between two servers).
///
/// A request whose header parses but whose body does not is answered `FORMERR`, as is one with
/// no or several questions; an opcode other than `QUERY` is `NOTIMP`, and an EDNS version
/// other than 0 is `BADVERS` (RFC 6891 §6.1.3). Everything else is
/// [`DnsRecords::answer`]ed.
pub fn respond(records: &DnsRecords, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
    let header = Header::read(&mut BinDecoder::new(request)).ok()?;
    if header.metadata.message_type != MessageType::Query {
        return None;
    }
    let error = |rcode| {
        let mut response = Message::new(0, MessageType::Response, header.metadata.op_code);
        response.metadata = Metadata::response_from_request(&header.metadata);
        response.metadata.response_code = rcode;
        response
    };
    let Ok(message) = Message::from_vec(request) else {
        return encode(error(ResponseCode::FormErr), PLAIN_UDP_PAYLOAD);
    };
    let limit = match transport {
        Transport::Tcp => usize::from(u16::MAX),
        Transport::Udp => match &message.edns {
            Some(edns) => usize::from(edns.max_payload().clamp(512, EDNS_PAYLOAD)),
            None => PLAIN_UDP_PAYLOAD,
        },
    };
    let mut response = error(ResponseCode::NoError);
    if let Some(asked) = &message.edns {
        // RFC 6891 §6.1.1: a request with an OPT record gets one back.
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        response.edns = Some(edns);
        if asked.version() != 0 {
            response.metadata.response_code = ResponseCode::BADVERS;
            return encode(response, limit);
        }
    }
    if message.metadata.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return encode(response, limit);
    }
    let [query] = message.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return encode(response, limit);
    };
    let answer = records.answer(query);
    response.metadata.response_code = answer.rcode;
    response.metadata.authoritative = answer.authoritative;
    response.queries.push(query.clone());
    response.answers = answer.answers;
    response.authorities = answer.authorities;
    response.additionals = answer.additionals;
    encode(response, limit)
}

/// `response` in at most `limit` bytes. The additional section goes first, without setting TC
/// (RFC 2181 §9: it is optional); if the answer still does not fit, only the header and the
/// question are sent, with TC set, so the client asks again over TCP.
fn encode(mut response: Message, limit: usize) -> Option<Vec<u8>> {
    match response.to_vec() {
        Ok(bytes) if bytes.len() <= limit => return Some(bytes),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "dns: could not encode a response; answering SERVFAIL");
            response.metadata.response_code = ResponseCode::ServFail;
            response.answers.clear();
            response.authorities.clear();
            response.additionals.clear();
            return response.to_vec().ok();
        }
    }
    if !response.additionals.is_empty() {
        response.additionals.clear();
        if let Ok(bytes) = response.to_vec()
            && bytes.len() <= limit
        {
            return Some(bytes);
        }
    }
    response.answers.clear();
    response.authorities.clear();
    response.metadata.truncation = true;
    response.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::{IpAddr, Ipv4Addr};

    use hickory_proto::op::Query;
    use hickory_proto::rr::{Name, RecordType};

    use super::*;
    use crate::dns::records::DnsPort;

    fn records(ports: usize) -> DnsRecords {
        let ports = (0..ports)
            .map(|i| DnsPort {
                name: format!("port-{i}"),
                protocol: "TCP".into(),
                node_port: 30000 + u16::try_from(i).unwrap(),
            })
            .collect();
        DnsRecords {
            domain: "cluster.local".into(),
            node_address: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            services: BTreeMap::from([(("default".into(), "web".into()), ports)]),
        }
    }

    fn request(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
        let mut message = Message::new(0x1234, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if let Some(payload) = edns {
            let mut e = Edns::new();
            e.set_max_payload(payload);
            message.set_edns(e);
        }
        message
    }

    fn roundtrip(records: &DnsRecords, request: &Message, transport: Transport) -> Message {
        let bytes = respond(records, &request.to_vec().unwrap(), transport).expect("an answer");
        Message::from_vec(&bytes).unwrap()
    }

    #[test]
    fn the_response_echoes_id_question_and_rd_and_is_authoritative() {
        let req = request("web.default.svc.cluster.local.", RecordType::A, None);
        let resp = roundtrip(&records(1), &req, Transport::Udp);
        assert_eq!(resp.metadata.id, 0x1234);
        assert_eq!(resp.metadata.message_type, MessageType::Response);
        assert!(resp.metadata.recursion_desired);
        assert!(!resp.metadata.recursion_available);
        assert!(resp.metadata.authoritative);
        assert_eq!(resp.queries, req.queries);
        assert_eq!(resp.answers.len(), 1);
        assert!(resp.edns.is_none(), "no OPT back to a request without one");
    }

    #[test]
    fn garbage_is_dropped_and_a_bad_body_behind_a_good_header_is_formerr() {
        assert_eq!(respond(&records(1), b"\x12\x34\x01", Transport::Udp), None);
        let mut bytes = request("web.default.svc.cluster.local.", RecordType::A, None)
            .to_vec()
            .unwrap();
        bytes.truncate(20);
        let resp =
            Message::from_vec(&respond(&records(1), &bytes, Transport::Udp).unwrap()).unwrap();
        assert_eq!(resp.metadata.id, 0x1234);
        assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn responses_are_never_answered() {
        let mut msg = request("web.default.svc.cluster.local.", RecordType::A, None);
        msg.metadata.message_type = MessageType::Response;
        assert_eq!(
            respond(&records(1), &msg.to_vec().unwrap(), Transport::Udp),
            None
        );
    }

    #[test]
    fn no_question_is_formerr_and_another_opcode_is_notimp() {
        let mut empty = request("web.default.svc.cluster.local.", RecordType::A, None);
        empty.queries.clear();
        let resp = roundtrip(&records(1), &empty, Transport::Udp);
        assert_eq!(resp.metadata.response_code, ResponseCode::FormErr);

        let mut update = request("web.default.svc.cluster.local.", RecordType::A, None);
        update.metadata.op_code = OpCode::Update;
        let resp = roundtrip(&records(1), &update, Transport::Udp);
        assert_eq!(resp.metadata.response_code, ResponseCode::NotImp);
    }

    #[test]
    fn edns_gets_an_opt_back_and_a_newer_version_is_badvers() {
        let req = request("web.default.svc.cluster.local.", RecordType::A, Some(4096));
        let resp = roundtrip(&records(1), &req, Transport::Udp);
        assert_eq!(
            resp.edns.as_ref().map(Edns::max_payload),
            Some(EDNS_PAYLOAD)
        );

        let mut v1 = req.clone();
        let mut e = Edns::new();
        e.set_version(1);
        v1.set_edns(e);
        let resp = roundtrip(&records(1), &v1, Transport::Udp);
        // BADVERS shares code 16 with BADSIG, which is what a decoder names it.
        assert_eq!(
            u16::from(resp.metadata.response_code),
            u16::from(ResponseCode::BADVERS)
        );
        assert!(resp.answers.is_empty());
    }

    /// The size of the full answer to an SRV query on a Service with `n` ports, and its size
    /// without the additional section, as sent over TCP.
    fn sizes(n: usize) -> (usize, usize) {
        let req = request("web.default.svc.cluster.local.", RecordType::SRV, None);
        let mut full = roundtrip(&records(n), &req, Transport::Tcp);
        let with = full.to_vec().unwrap().len();
        full.additionals.clear();
        (with, full.to_vec().unwrap().len())
    }

    #[test]
    fn a_large_udp_answer_without_edns_is_truncated_and_whole_over_tcp() {
        let n = (1..200)
            .find(|n| sizes(*n).1 > usize::from(EDNS_PAYLOAD))
            .unwrap();
        let records = records(n);
        let req = request("web.default.svc.cluster.local.", RecordType::SRV, None);
        let udp = roundtrip(&records, &req, Transport::Udp);
        assert!(udp.metadata.truncation);
        assert!(udp.answers.is_empty());
        assert_eq!(udp.queries, req.queries);
        let edns = request(
            "web.default.svc.cluster.local.",
            RecordType::SRV,
            Some(4096),
        );
        assert!(
            roundtrip(&records, &edns, Transport::Udp)
                .metadata
                .truncation
        );
        let tcp = roundtrip(&records, &req, Transport::Tcp);
        assert!(!tcp.metadata.truncation);
        assert_eq!(tcp.answers.len(), n);
        assert_eq!(tcp.additionals.len(), 1);
    }

    #[test]
    fn edns_raises_the_udp_limit() {
        let n = (1..200).find(|n| sizes(*n).0 > 600).unwrap();
        assert!(sizes(n).0 < usize::from(EDNS_PAYLOAD) - 100);
        let records = records(n);
        let plain = request("web.default.svc.cluster.local.", RecordType::SRV, None);
        assert!(
            roundtrip(&records, &plain, Transport::Udp)
                .metadata
                .truncation
        );
        let edns = request(
            "web.default.svc.cluster.local.",
            RecordType::SRV,
            Some(4096),
        );
        let resp = roundtrip(&records, &edns, Transport::Udp);
        assert!(!resp.metadata.truncation);
        assert_eq!(resp.answers.len(), n);
        assert_eq!(resp.additionals.len(), 1);
    }

    #[test]
    fn the_additional_section_goes_before_the_answers_do() {
        let req = request("web.default.svc.cluster.local.", RecordType::SRV, None);
        let full = roundtrip(&records(3), &req, Transport::Tcp);
        let (with, without) = sizes(3);
        assert!(without < with);
        let fits = Message::from_vec(&encode(full.clone(), without).unwrap()).unwrap();
        assert!(!fits.metadata.truncation);
        assert_eq!(fits.answers.len(), 3);
        assert!(fits.additionals.is_empty());
        let short = Message::from_vec(&encode(full, without - 1).unwrap()).unwrap();
        assert!(short.metadata.truncation);
        assert!(short.answers.is_empty());
    }
}
