//! Which addresses outbound requests may reach. Loopback, private, link-local, CGNAT,
//! multicast, documentation and cloud-metadata ranges (and their IPv6 and IPv4-mapped
//! spellings) are refused unless the server's configuration allows them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ipnet::IpNet;

/// Parses an allow-list: CIDRs (or bare addresses) separated by commas.
pub fn parse_allow_list(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{part:?} is not a CIDR such as 10.0.0.0/8 or an address"))
        })
        .collect()
}

/// Why an address is refused, or `None` when it may be called.
pub fn refusal(ip: IpAddr, allowed: &[IpNet]) -> Option<&'static str> {
    let ip = canonical(ip);
    if allowed.iter().any(|net| net.contains(&ip)) {
        return None;
    }
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

/// What the address policy can tell of a URL's destination before anything resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A literal address the policy lets through.
    Allowed,
    /// A literal address (or `localhost`) that every delivery would be refused.
    Refused {
        address: String,
        reason: &'static str,
    },
    /// A host name: its addresses are known, and checked, when a delivery resolves it.
    Name(String),
}

/// Checks a URL's host against the policy: literal addresses, and `localhost` (which
/// always resolves to loopback), are decided now; other names only when they resolve.
/// A URL that does not parse is [`Destination::Allowed`]: its shape is checked elsewhere.
pub fn destination(url: &str, allowed: &[IpNet]) -> Destination {
    let Ok(url) = url::Url::parse(url.trim()) else {
        return Destination::Allowed;
    };
    let literal = |ip: IpAddr| match refusal(ip, allowed) {
        None => Destination::Allowed,
        Some(reason) => Destination::Refused {
            address: ip.to_string(),
            reason,
        },
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => literal(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => literal(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                literal(IpAddr::V4(Ipv4Addr::LOCALHOST))
            } else {
                Destination::Name(name)
            }
        }
        None => Destination::Allowed,
    }
}

/// An IPv4-mapped or IPv4-compatible IPv6 address is its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, _, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback address")
    } else if ip.is_private() {
        Some("private address")
    } else if ip.is_link_local() {
        Some("link-local address (includes cloud metadata 169.254.169.254)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT address")
    } else if ip.is_multicast() || ip.is_broadcast() || ip.is_unspecified() || a == 0 || a >= 240 {
        Some("non-unicast or reserved address")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
        Some("documentation or benchmarking address")
    } else {
        None
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() || ip.is_unspecified() {
        Some("loopback or unspecified address")
    } else if ip.is_multicast() {
        Some("multicast address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique local address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local address")
    } else if first & 0xffc0 == 0xfec0 {
        Some("site-local address")
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Some("documentation address")
    } else if first == 0x64 && ip.segments()[1] == 0xff9b {
        Some("NAT64 address")
    } else if ip.segments()[..6] == [0, 0, 0, 0, 0, 0] {
        Some("IPv4-compatible address")
    } else if ip.segments()[..6] == [0, 0, 0, 0, 0xffff, 0] {
        Some("IPv4-translated address")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_decided_for_literals_and_localhost_only() {
        let none: [IpNet; 0] = [];
        assert_eq!(
            destination("http://10.1.2.3:8080/hook", &none),
            Destination::Refused {
                address: "10.1.2.3".into(),
                reason: "private address"
            }
        );
        assert!(matches!(
            destination("http://[::ffff:127.0.0.1]/", &none),
            Destination::Refused { .. }
        ));
        assert!(matches!(
            destination("http://LocalHost./x", &none),
            Destination::Refused { .. }
        ));
        assert_eq!(
            destination("https://hooks.example.com/x", &none),
            Destination::Name("hooks.example.com".into())
        );
        assert_eq!(
            destination("https://93.184.215.14/x", &none),
            Destination::Allowed
        );
        let allowed = parse_allow_list("127.0.0.1/32,10.1.0.0/16").unwrap();
        assert_eq!(
            destination("http://localhost/x", &allowed),
            Destination::Allowed
        );
        assert_eq!(
            destination("http://10.1.2.3/x", &allowed),
            Destination::Allowed
        );
    }

    fn refused(text: &str) -> bool {
        refusal(text.parse().unwrap(), &[]).is_some()
    }

    #[test]
    fn internal_ranges_are_refused_in_every_spelling() {
        for ip in [
            "fec0::1",
            "::ffff:0:7f00:1",
            "64:ff9b:1::1",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "ff02::1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!refused(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn the_allow_list_opens_ranges() {
        let allowed = parse_allow_list("127.0.0.1/32, 10.0.0.0/8").unwrap();
        assert_eq!(refusal("127.0.0.1".parse().unwrap(), &allowed), None);
        assert_eq!(refusal("::ffff:127.0.0.1".parse().unwrap(), &allowed), None);
        assert!(refusal("127.0.0.2".parse().unwrap(), &allowed).is_some());
        assert_eq!(parse_allow_list("127.0.0.1").unwrap().len(), 1);
        assert!(parse_allow_list("localhost").is_err());
    }
}
