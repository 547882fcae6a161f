//! Address policy for fetching client-supplied URLs: which IP addresses may be connected to.
//!
//! Everything that is not an ordinary public unicast address is refused: loopback, private,
//! link-local (including the cloud metadata address), CGNAT, multicast, unspecified, broadcast,
//! documentation, benchmarking and reserved ranges, and the IPv6 forms that wrap such an IPv4
//! address (IPv4-mapped, IPv4-compatible, SIIT, NAT64, 6to4) or tunnel to an unknown one
//! (Teredo). Operators may re-open specific networks with an explicit allow-list.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// IPv4 ranges that are never connected to unless allowed, as (network, prefix length).
const FORBIDDEN_V4: &[(Ipv4Addr, u8)] = &[
    // "This network" (RFC 791), including the unspecified 0.0.0.0.
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    // Private (RFC 1918).
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    // Shared address space / CGNAT (RFC 6598).
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    // Loopback.
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    // Link-local, including the 169.254.169.254 metadata service.
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    // Private (RFC 1918).
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    // IETF protocol assignments (RFC 6890).
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    // TEST-NET-1 documentation.
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    // Deprecated 6to4 relay anycast (RFC 7526).
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    // Private (RFC 1918).
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    // Benchmarking (RFC 2544).
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    // TEST-NET-2 documentation.
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    // TEST-NET-3 documentation.
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    // Multicast.
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    // Reserved, including the limited broadcast 255.255.255.255.
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// Ranges inside IPv6 global unicast (2000::/3) that are refused outright, as (network, prefix).
const FORBIDDEN_V6_GLOBAL: &[(Ipv6Addr, u8)] = &[
    // IETF protocol assignments (RFC 2928), including Teredo 2001::/32, benchmarking
    // 2001:2::/48 and ORCHID.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    // Documentation (RFC 3849).
    (Ipv6Addr::new(0x2001, 0x0db8, 0, 0, 0, 0, 0, 0), 32),
    // Documentation (RFC 9637).
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
];

/// IPv4-mapped addresses, `::ffff:a.b.c.d`.
const V4_MAPPED: (Ipv6Addr, u8) = (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);
/// Deprecated IPv4-compatible addresses, `::a.b.c.d` (also covers `::` and `::1`).
const V4_COMPATIBLE: (Ipv6Addr, u8) = (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96);
/// SIIT IPv4-translated addresses, `::ffff:0:a.b.c.d` (RFC 2765).
const V4_TRANSLATED: (Ipv6Addr, u8) = (Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0), 96);
/// The well-known NAT64 prefix, `64:ff9b::a.b.c.d` (RFC 6052).
const NAT64: (Ipv6Addr, u8) = (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
/// 6to4, `2002:aabb:ccdd::/48` wrapping `aa.bb.cc.dd` (RFC 3056).
const SIX_TO_FOUR: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);
/// Global unicast; everything outside it (ULA, link-local, multicast, …) is refused.
const GLOBAL_UNICAST: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// Whether `ip` lies in the IPv4 network `net`/`prefix`.
fn in_v4(ip: Ipv4Addr, (net, prefix): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    ip.to_bits() & mask == net.to_bits() & mask
}

/// Whether `ip` lies in the IPv6 network `net`/`prefix`.
fn in_v6(ip: Ipv6Addr, (net, prefix): (Ipv6Addr, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    ip.to_bits() & mask == net.to_bits() & mask
}

/// The IPv4 address held in the low 32 bits of `ip`.
fn low_v4(ip: Ipv6Addr) -> Ipv4Addr {
    // Truncation to the low 32 bits is the point.
    Ipv4Addr::from_bits((ip.to_bits() & u128::from(u32::MAX)) as u32)
}

/// Whether an IPv4 address is outside the public unicast space.
fn v4_forbidden(ip: Ipv4Addr) -> bool {
    FORBIDDEN_V4.iter().any(|&range| in_v4(ip, range))
}

/// Whether an IPv6 address is outside the public unicast space (or wraps a forbidden IPv4).
fn v6_forbidden(ip: Ipv6Addr) -> bool {
    if [V4_MAPPED, V4_COMPATIBLE, V4_TRANSLATED, NAT64]
        .into_iter()
        .any(|range| in_v6(ip, range))
    {
        return v4_forbidden(low_v4(ip));
    }
    if in_v6(ip, SIX_TO_FOUR) {
        // Bits 16..48 of a 6to4 address are the IPv4 address of the tunnel endpoint.
        let wrapped = Ipv4Addr::from_bits(((ip.to_bits() >> 80) & u128::from(u32::MAX)) as u32);
        return v4_forbidden(wrapped);
    }
    if !in_v6(ip, GLOBAL_UNICAST) {
        return true;
    }
    FORBIDDEN_V6_GLOBAL.iter().any(|&range| in_v6(ip, range))
}

/// Whether `ip` is refused by the built-in policy (before any allow-list is consulted).
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_forbidden(v4),
        IpAddr::V6(v6) => v6_forbidden(v6),
    }
}

/// The built-in policy plus the networks an operator explicitly re-opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Networks that are permitted even though the built-in policy refuses them.
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// A policy that also permits every address inside `allowed`.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// The explicitly allowed networks.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether a connection to `ip` is permitted.
    pub fn permits(&self, ip: IpAddr) -> bool {
        // An IPv4-mapped IPv6 address reaches the same host as its IPv4 form.
        let canonical = ip.to_canonical();
        let allowed = self
            .allowed
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical));
        allowed || !is_forbidden(ip)
    }
}

/// An entry of an allow-list that is neither a network in CIDR notation nor an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidNetwork {
    /// The offending entry.
    pub entry: String,
}

impl fmt::Display for InvalidNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a network (expected CIDR such as 10.0.0.0/8, or an address)",
            self.entry
        )
    }
}

impl std::error::Error for InvalidNetwork {}

/// Parses an allow-list such as `FETCH_ALLOWED_NETWORKS`: CIDR networks or bare addresses,
/// separated by commas and/or whitespace; an empty string is an empty list.
pub fn parse_networks(spec: &str) -> Result<Vec<IpNet>, InvalidNetwork> {
    spec.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            IpNet::from_str(entry)
                .map(|net| net.trunc())
                .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                .map_err(|_| InvalidNetwork {
                    entry: entry.to_owned(),
                })
        })
        .collect()
}
