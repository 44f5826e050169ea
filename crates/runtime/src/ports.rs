//! Host ports for pods (DESIGN §6: endpoints are `nodeAddress:hostPort`, so every declared
//! container port gets a port on the node's address).
//!
//! The choice of a port is a pure function ([`choose_ports`]) over the ports already handed out
//! and a probe that says whether a port is free; [`PortAllocator`] wraps it with the per-pod
//! bookkeeping and a probe that really binds the port on the node address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::Mutex;

use crate::{PortSpec, RuntimeError};

/// The default range for pod host ports. It stays clear of the Kubernetes nodePort range
/// (30000-32767, the `--service-node-port-range` default) and of the Linux ephemeral range
/// (32768-60999 by default in `net.ipv4.ip_local_port_range`, which the kernel only hands out to
/// outgoing connections; binding tells us when one is taken).
pub const DEFAULT_HOST_PORT_RANGE: RangeInclusive<u16> = 40000..=49999;

/// Picks a host port for each declared port, in order: the fixed `host_port` when one is asked
/// for, else the first port of `range` from `cursor` on (wrapping) that is neither in `taken`
/// nor refused by `is_free`. Returns the ports and the cursor to start from next time.
pub fn choose_ports(
    specs: &[PortSpec],
    range: &RangeInclusive<u16>,
    cursor: u16,
    taken: &BTreeSet<u16>,
    mut is_free: impl FnMut(u16, &str) -> bool,
) -> Result<(Vec<u16>, u16), RuntimeError> {
    let mut chosen: Vec<u16> = Vec::with_capacity(specs.len());
    let mut cursor = if range.contains(&cursor) {
        cursor
    } else {
        *range.start()
    };
    // Fixed ports first, so an allocated one never steals a port a later spec asks for.
    for spec in specs {
        let Some(port) = spec.host_port else { continue };
        if taken.contains(&port) || chosen.contains(&port) {
            return Err(RuntimeError::InvalidConfig(format!(
                "hostPort {port} of container {:?} is already used by another pod on this node; \
                 remove hostPort to get an allocated port",
                spec.container
            )));
        }
        if !is_free(port, &spec.protocol) {
            return Err(RuntimeError::InvalidConfig(format!(
                "hostPort {port} of container {:?} cannot be bound on this node (another program \
                 holds it); remove hostPort to get an allocated port",
                spec.container
            )));
        }
        chosen.push(port);
    }
    let size = u32::from(*range.end()) - u32::from(*range.start()) + 1;
    let mut out = Vec::with_capacity(specs.len());
    let mut fixed = chosen.clone().into_iter();
    for spec in specs {
        if spec.host_port.is_some() {
            out.push(fixed.next().unwrap_or_default());
            continue;
        }
        let mut found = None;
        for _ in 0..size {
            let port = cursor;
            cursor = if cursor == *range.end() {
                *range.start()
            } else {
                cursor + 1
            };
            if taken.contains(&port) || chosen.contains(&port) {
                continue;
            }
            if is_free(port, &spec.protocol) {
                found = Some(port);
                break;
            }
        }
        let Some(port) = found else {
            return Err(RuntimeError::Backend(format!(
                "no free host port left in {}-{} for container {:?}; widen the agent's host port \
                 range",
                range.start(),
                range.end(),
                spec.container
            )));
        };
        chosen.push(port);
        out.push(port);
    }
    Ok((out, cursor))
}

/// Whether `port` can be bound on `ip` right now for `protocol` (UDP binds a datagram socket,
/// TCP and SCTP a listener: SCTP is not reachable from std, and TCP is the usual neighbour).
pub fn port_is_free(ip: IpAddr, port: u16, protocol: &str) -> bool {
    let addr = SocketAddr::new(ip, port);
    if protocol.eq_ignore_ascii_case("UDP") {
        UdpSocket::bind(addr).is_ok()
    } else {
        TcpListener::bind(addr).is_ok()
    }
}

#[derive(Debug, Default)]
struct Book {
    by_pod: BTreeMap<String, Vec<u16>>,
    taken: BTreeSet<u16>,
    cursor: u16,
}

/// Hands out host ports on one node address and remembers them per pod uid until released.
#[derive(Debug)]
pub struct PortAllocator {
    host_ip: IpAddr,
    range: RangeInclusive<u16>,
    probe: bool,
    book: Mutex<Book>,
}

impl PortAllocator {
    /// An allocator for `host_ip` over `range` that checks each port by binding it.
    pub fn new(host_ip: IpAddr, range: RangeInclusive<u16>) -> Self {
        let cursor = *range.start();
        Self {
            host_ip,
            range,
            probe: true,
            book: Mutex::new(Book {
                cursor,
                ..Book::default()
            }),
        }
    }

    /// An allocator that never binds (every port outside its own book counts as free): for the
    /// fake runtime, whose thousands of hollow pods listen on nothing.
    pub fn unprobed(host_ip: IpAddr, range: RangeInclusive<u16>) -> Self {
        Self {
            probe: false,
            ..Self::new(host_ip, range)
        }
    }

    /// The node address the ports are on.
    pub fn host_ip(&self) -> IpAddr {
        self.host_ip
    }

    /// The ports of a pod, allocating them on the first call; later calls for the same pod uid
    /// return the same ports (sandbox creation is idempotent).
    pub fn allocate(&self, pod_uid: &str, specs: &[PortSpec]) -> Result<Vec<u16>, RuntimeError> {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ports) = book.by_pod.get(pod_uid) {
            return Ok(ports.clone());
        }
        let ip = self.host_ip;
        let probe = self.probe;
        let (ports, cursor) =
            choose_ports(specs, &self.range, book.cursor, &book.taken, |p, proto| {
                !probe || port_is_free(ip, p, proto)
            })?;
        book.cursor = cursor;
        book.taken.extend(ports.iter().copied());
        book.by_pod.insert(pod_uid.to_string(), ports.clone());
        Ok(ports)
    }

    /// Records ports a pod already holds (a sandbox found again after an agent restart), without
    /// probing them: its processes are the ones bound to them.
    pub fn restore(&self, pod_uid: &str, ports: &[u16]) {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        book.taken.extend(ports.iter().copied());
        book.by_pod.insert(pod_uid.to_string(), ports.to_vec());
    }

    /// Releases a pod's ports (its sandbox was removed).
    pub fn release(&self, pod_uid: &str) {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ports) = book.by_pod.remove(pod_uid) {
            for p in ports {
                book.taken.remove(&p);
            }
        }
    }

    /// The ports currently held by a pod, if any.
    pub fn ports_of(&self, pod_uid: &str) -> Option<Vec<u16>> {
        let book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        book.by_pod.get(pod_uid).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn spec(container: &str, host_port: Option<u16>) -> PortSpec {
        PortSpec {
            container: container.into(),
            name: None,
            container_port: 8080,
            host_port,
            protocol: "TCP".into(),
        }
    }

    #[test]
    fn allocates_in_order_skipping_taken_and_busy_ports() {
        let taken = BTreeSet::from([100]);
        let (ports, cursor) = choose_ports(
            &[spec("a", None), spec("b", None)],
            &(100..=110),
            100,
            &taken,
            |p, _| p != 101,
        )
        .unwrap();
        assert_eq!(ports, vec![102, 103]);
        assert_eq!(cursor, 104);
    }

    #[test]
    fn wraps_around_the_range() {
        let (ports, cursor) = choose_ports(
            &[spec("a", None)],
            &(100..=102),
            102,
            &BTreeSet::new(),
            |_, _| true,
        )
        .unwrap();
        assert_eq!(ports, vec![102]);
        assert_eq!(cursor, 100);
    }

    #[test]
    fn fixed_ports_are_kept_and_never_given_to_others() {
        let (ports, _) = choose_ports(
            &[spec("a", None), spec("b", Some(100))],
            &(100..=110),
            100,
            &BTreeSet::new(),
            |_, _| true,
        )
        .unwrap();
        assert_eq!(ports, vec![101, 100]);
    }

    #[test]
    fn fixed_port_held_by_another_pod_is_refused() {
        let err = choose_ports(
            &[spec("web", Some(100))],
            &(100..=110),
            100,
            &BTreeSet::from([100]),
            |_, _| true,
        )
        .unwrap_err();
        assert!(matches!(err, RuntimeError::InvalidConfig(m) if m.contains("hostPort 100")));
    }

    #[test]
    fn exhausted_range_says_so() {
        let err = choose_ports(
            &[spec("a", None)],
            &(100..=101),
            100,
            &BTreeSet::from([100, 101]),
            |_, _| true,
        )
        .unwrap_err();
        assert!(matches!(err, RuntimeError::Backend(m) if m.contains("100-101")));
    }

    #[test]
    fn allocator_is_idempotent_per_pod_and_releases() {
        let a = PortAllocator::unprobed(IpAddr::V4(Ipv4Addr::LOCALHOST), 100..=101);
        let first = a.allocate("u1", &[spec("a", None)]).unwrap();
        assert_eq!(a.allocate("u1", &[spec("a", None)]).unwrap(), first);
        let second = a.allocate("u2", &[spec("a", None)]).unwrap();
        assert_ne!(first, second);
        assert!(a.allocate("u3", &[spec("a", None)]).is_err());
        a.release("u1");
        assert_eq!(a.allocate("u3", &[spec("a", None)]).unwrap(), first);
    }

    #[test]
    fn bound_port_is_not_free() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let l = TcpListener::bind((ip, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(!port_is_free(ip, port, "TCP"));
        drop(l);
        assert!(port_is_free(ip, port, "TCP"));
    }
}
