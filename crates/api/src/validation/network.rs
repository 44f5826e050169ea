//! IP addresses and CIDRs in specs (`IsValidIP`, `IsValidCIDR`). Loopback addresses are allowed
//! everywhere: Brume's emulated nodes live on 127.0.0.0/8 (DESIGN §9), and their endpoints too.

use std::net::IpAddr;

use super::errors::invalid_str;
use crate::error::FieldError;

/// Records an error unless `value` is an IPv4 or IPv6 address.
pub(super) fn check_ip(field: &str, value: &str, errs: &mut Vec<FieldError>) {
    if value.parse::<IpAddr>().is_err() {
        errs.push(invalid_str(
            field,
            value,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
}

/// Records an error unless `value` is a CIDR such as `10.244.0.0/24`.
pub(super) fn check_cidr(field: &str, value: &str, errs: &mut Vec<FieldError>) {
    let valid = value.split_once('/').is_some_and(|(ip, bits)| {
        let max = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => 32,
            Ok(IpAddr::V6(_)) => 128,
            Err(_) => return false,
        };
        !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
            && bits.parse::<u32>().is_ok_and(|b| b <= max)
    });
    if !valid {
        errs.push(invalid_str(
            field,
            value,
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_and_cidrs() {
        let mut errs = Vec::new();
        for ok in ["10.0.0.1", "127.0.0.2", "::1", "2001:db8::ffff"] {
            check_ip("ip", ok, &mut errs);
        }
        for ok in ["10.244.0.0/24", "2001:db8::/64", "0.0.0.0/0"] {
            check_cidr("cidr", ok, &mut errs);
        }
        assert!(errs.is_empty(), "{errs:?}");
        check_ip("ip", "10.0.0", &mut errs);
        check_cidr("cidr", "10.0.0.0/33", &mut errs);
        check_cidr("cidr", "10.0.0.0", &mut errs);
        assert_eq!(errs.len(), 3);
        assert_eq!(
            errs[0].message(),
            "ip: Invalid value: \"10.0.0\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
        );
    }
}
