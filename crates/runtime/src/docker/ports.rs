//! Host ports for published container ports: a fixed `hostPort` is honoured; others are taken
//! from a range, skipping ports this runtime handed out and ports something already binds.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::Mutex;

use crate::{PortSpec, RuntimeError};

/// The range allocated host ports come from: above the Linux ephemeral default start
/// (32768–60999 is shared, but 40000–49999 stays clear of Kubernetes' NodePort range
/// 30000–32767 that Brume's agents listen on).
pub const DEFAULT_RANGE: RangeInclusive<u16> = 40000..=49999;

/// Hands out host ports; shared by every pod of one runtime so two sandboxes created at the
/// same time never get the same port.
#[derive(Debug)]
pub struct PortAllocator {
    range: RangeInclusive<u16>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Where the next search starts (round robin, so a freed port is not reused at once).
    cursor: u16,
    /// Ports handed out and not released.
    reserved: BTreeSet<u16>,
}

/// The next port of `range` from `cursor` on (wrapping) that is not reserved and that `free`
/// accepts, or `None` when the range is exhausted.
pub fn next_free(
    range: &RangeInclusive<u16>,
    cursor: u16,
    reserved: &BTreeSet<u16>,
    mut free: impl FnMut(u16) -> bool,
) -> Option<u16> {
    let (start, end) = (*range.start(), *range.end());
    let cursor = if range.contains(&cursor) {
        cursor
    } else {
        start
    };
    (cursor..=end)
        .chain(start..cursor)
        .find(|p| !reserved.contains(p) && free(*p))
}

impl PortAllocator {
    /// An allocator over `range`.
    pub fn new(range: RangeInclusive<u16>) -> Self {
        let cursor = *range.start();
        Self {
            range,
            state: Mutex::new(State {
                cursor,
                reserved: BTreeSet::new(),
            }),
        }
    }

    /// Marks ports as in use (ports of sandboxes found at start-up).
    pub fn reserve(&self, ports: impl IntoIterator<Item = u16>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.reserved.extend(ports);
    }

    /// Gives ports back (a removed sandbox, or a failed create).
    pub fn release(&self, ports: impl IntoIterator<Item = u16>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for port in ports {
            state.reserved.remove(&port);
        }
    }

    /// One host port per declared port, in order: the spec's `host_port` when given, else a
    /// port of the range that is free on `host_ip` for the port's protocol.
    pub fn allocate(&self, host_ip: IpAddr, ports: &[PortSpec]) -> Result<Vec<u16>, RuntimeError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(ports.len());
        for port in ports {
            let chosen = match port.host_port {
                Some(fixed) => fixed,
                None => {
                    let udp = port.protocol.eq_ignore_ascii_case("udp");
                    let found = next_free(&self.range, state.cursor, &state.reserved, |p| {
                        !out.contains(&p) && bindable(host_ip, p, udp)
                    });
                    let Some(found) = found else {
                        let taken: Vec<u16> = out
                            .iter()
                            .copied()
                            .filter(|p| self.range.contains(p))
                            .collect();
                        for p in taken {
                            state.reserved.remove(&p);
                        }
                        return Err(RuntimeError::Backend(format!(
                            "no free host port left in {}-{} on {host_ip} for port {}",
                            self.range.start(),
                            self.range.end(),
                            port.container_port
                        )));
                    };
                    state.cursor = if found == *self.range.end() {
                        *self.range.start()
                    } else {
                        found + 1
                    };
                    found
                }
            };
            state.reserved.insert(chosen);
            out.push(chosen);
        }
        Ok(out)
    }
}

/// Whether nothing binds `ip:port` right now (checked by binding it and letting go).
fn bindable(ip: IpAddr, port: u16, udp: bool) -> bool {
    let addr = SocketAddr::new(ip, port);
    if udp {
        UdpSocket::bind(addr).is_ok()
    } else {
        TcpListener::bind(addr).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(host_port: Option<u16>) -> PortSpec {
        PortSpec {
            container: "c".into(),
            name: None,
            container_port: 80,
            host_port,
            protocol: "TCP".into(),
        }
    }

    #[test]
    fn next_free_wraps_and_skips_reserved_and_busy() {
        let range = 10..=14;
        let reserved = BTreeSet::from([13]);
        assert_eq!(next_free(&range, 12, &reserved, |p| p != 12), Some(14));
        assert_eq!(next_free(&range, 14, &reserved, |p| p != 14), Some(10));
        assert_eq!(next_free(&range, 99, &reserved, |_| true), Some(10));
        assert_eq!(next_free(&range, 10, &reserved, |_| false), None);
    }

    #[test]
    fn allocations_never_repeat_until_released_and_fixed_ports_are_kept() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let alloc = PortAllocator::new(45100..=45102);
        let a = alloc.allocate(ip, &[spec(None), spec(Some(8080))]).unwrap();
        assert_eq!(a[1], 8080);
        let b = alloc.allocate(ip, &[spec(None)]).unwrap();
        assert_ne!(a[0], b[0]);
        // Something else holds one port: it is skipped.
        let hold = TcpListener::bind((ip, 0)).unwrap();
        let busy = hold.local_addr().unwrap().port();
        let alloc2 = PortAllocator::new(busy..=busy);
        assert!(alloc2.allocate(ip, &[spec(None)]).is_err());
        alloc.release(a);
        alloc.release(b);
        assert_eq!(
            alloc
                .allocate(ip, &[spec(None), spec(None), spec(None)])
                .unwrap()
                .len(),
            3
        );
    }
}
