//! The address a request came from, as per-address limits see it: the TCP peer, or, when the peer is a
//! trusted proxy, the right-most address of `X-Forwarded-For` or `Forwarded` (RFC 7239) that is not one.
//!
//! # Security
//! Forwarded headers are written by whoever sent the request, so they are read only when the TCP peer is
//! a configured proxy, and only the header the operator says the proxies write: a proxy that appends to
//! `X-Forwarded-For` passes a client's own `Forwarded` header through untouched, so reading both would let
//! a client choose its address. Walking from the right stops at the first address no trusted proxy
//! vouches for; anything left of it was written by the client.
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Which header the trusted proxies write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl FromStr for ForwardedHeader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            _ => Err(format!(
                "`{s}` is not a header proxies write here (expected x-forwarded-for or forwarded)"
            )),
        }
    }
}

/// The proxies whose forwarded headers are believed (`http.trusted_proxies`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Parses CIDR blocks (`10.0.0.0/8`) or single addresses (`127.0.0.1`, `::1`).
    pub fn parse(entries: &[String], header: ForwardedHeader) -> Result<TrustedProxies, String> {
        let nets = entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("`{entry}` is not an address or CIDR block"))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { nets, header })
    }

    /// Whether no proxy is trusted (forwarded headers are then never read).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddress {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return ClientAddress {
                ip: peer,
                trusted_proxy: false,
            };
        }
        // The right-most hop is the one the peer itself added; walk left past every trusted proxy.
        let mut last_trusted = peer;
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded_for(headers),
        };
        for hop in hops.into_iter().rev() {
            match hop {
                Some(ip) if self.contains(ip) => last_trusted = ip,
                Some(ip) => {
                    return ClientAddress {
                        ip,
                        trusted_proxy: false,
                    };
                }
                // `unknown`, an obfuscated identifier or garbage where a trusted proxy's hop should
                // be: nothing to its left can be believed. N-M2: this is no longer "the proxy's own
                // request, shared by everyone": it is counted against the proxy's address with the
                // normal limits, in a bucket no real client address shares. Each element is parsed
                // on its own, so a client's garbage only hides the hops left of the one the proxy
                // appended, never that hop.
                None => {
                    return ClientAddress {
                        ip: last_trusted,
                        trusted_proxy: false,
                    };
                }
            }
        }
        ClientAddress {
            ip: last_trusted,
            trusted_proxy: true,
        }
    }
}

/// The address a request is attributed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddress {
    ip: IpAddr,
    trusted_proxy: bool,
}

impl ClientAddress {
    /// An address not behind any proxy, for tests and callers without a request.
    pub fn direct(ip: IpAddr) -> ClientAddress {
        ClientAddress {
            ip: canonical(ip),
            trusted_proxy: false,
        }
    }

    /// The address itself.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Whether the request is the trusted proxy's own: no hop past the trusted proxies at all, so the
    /// address is the proxy's, shared by everyone behind it, and nothing may lock it out as a whole.
    /// A hop that cannot be read is not this (N-M2): it counts against the proxy with normal limits.
    pub fn is_trusted_proxy(&self) -> bool {
        self.trusted_proxy
    }

    /// The key per-address limits count under: an IPv4 address, or the /64 an IPv6 address is in. An
    /// end site is normally given at least a /64, so per-/128 keys would let one host rotate forever.
    pub fn limit_key(&self) -> IpAddr {
        match self.ip {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports) is the IPv4 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The elements of every line of a header, left to right, each read on its own: split on the raw
/// bytes, so an element that is not text (obs-text, which HTTP/1.1 parsers accept) is one unknown
/// element (`None`), never the whole line with the elements a proxy appended after it.
///
/// # Security
/// N-M2: splitting on every `,` (and `;` within a `Forwarded` element), quoted or not, means a
/// client's unbalanced `"` cannot swallow the element a proxy appended. No address, port or
/// bracketed IPv6 node contains either character, so a well-formed hop always reads the same.
fn elements<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = Option<&'a str>> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .map(|element| std::str::from_utf8(element).ok().filter(|e| e.is_ascii()))
}

/// Every hop of every `X-Forwarded-For` header, left to right; `None` for one that is not an address.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    elements(headers, "x-forwarded-for")
        .map(|element| element.and_then(parse_node))
        .collect()
}

/// The `for=` of every element of every `Forwarded` header (RFC 7239 §4), left to right.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    elements(headers, "forwarded")
        .map(|element| {
            let node = element?.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"'))
            });
            // An element without `for=` says nothing about the client; treat it as unknown.
            node.and_then(parse_node)
        })
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:443`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    node.parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            node.strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .and_then(|n| n.parse::<IpAddr>().ok())
        })
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &[&str], header: ForwardedHeader) -> TrustedProxies {
        let list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        TrustedProxies::parse(&list, header).unwrap()
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_and_headers_are_ignored() {
        let none = TrustedProxies::default();
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        let address = none.client_address(ip("198.51.100.7"), &h);
        assert_eq!(address.ip(), ip("198.51.100.7"));
        assert!(!address.is_trusted_proxy());
    }

    #[test]
    fn a_peer_that_is_not_a_trusted_proxy_cannot_forward() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            trusted.client_address(ip("198.51.100.7"), &h).ip(),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_wins_so_a_client_cannot_choose_its_address() {
        let trusted = proxies(
            &["10.0.0.0/8", "192.168.1.1"],
            ForwardedHeader::XForwardedFor,
        );
        // The client wrote 1.1.1.1 itself; its real address was appended by the first proxy.
        let h = headers(
            "x-forwarded-for",
            &["1.1.1.1, 203.0.113.9", "192.168.1.1, 10.1.2.3"],
        );
        let address = trusted.client_address(ip("10.0.0.1"), &h);
        assert_eq!(address.ip(), ip("203.0.113.9"));
        assert!(!address.is_trusted_proxy());
    }

    #[test]
    fn only_proxies_in_the_chain_leave_the_proxy_marked_as_shared() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let address = trusted.client_address(ip("10.0.0.1"), &HeaderMap::new());
        assert_eq!(address.ip(), ip("10.0.0.1"));
        assert!(address.is_trusted_proxy());
        let h = headers("x-forwarded-for", &["10.0.0.3, 10.0.0.2"]);
        let address = trusted.client_address(ip("10.0.0.1"), &h);
        assert_eq!(address.ip(), ip("10.0.0.3"));
        assert!(address.is_trusted_proxy());
    }

    #[test]
    fn forwarded_header_nodes_with_ports_brackets_and_quotes() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let h = headers(
            "forwarded",
            &["for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\""],
        );
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &h).ip(),
            ip("2001:db8:cafe::17")
        );
        let h = headers("forwarded", &["For=\"192.0.2.61:8080\";proto=https"]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &h).ip(),
            ip("192.0.2.61")
        );
    }

    #[test]
    fn the_header_the_proxies_do_not_write_is_never_read() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let h = headers("forwarded", &["for=203.0.113.1"]);
        assert!(
            trusted
                .client_address(ip("10.0.0.1"), &h)
                .is_trusted_proxy()
        );
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let h = headers("x-forwarded-for", &["203.0.113.1"]);
        assert!(
            trusted
                .client_address(ip("10.0.0.1"), &h)
                .is_trusted_proxy()
        );
    }

    #[test]
    fn ipv6_addresses_share_a_limit_key_per_64_and_mapped_ipv4_is_ipv4() {
        let a = ClientAddress::direct(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientAddress::direct(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let c = ClientAddress::direct(ip("2001:db8:1:3::1"));
        assert_eq!(a.limit_key(), b.limit_key());
        assert_ne!(a.limit_key(), c.limit_key());
        assert_eq!(a.limit_key(), ip("2001:db8:1:2::"));
        let mapped = ClientAddress::direct(ip("::ffff:192.0.2.1"));
        assert_eq!(mapped.limit_key(), ip("192.0.2.1"));
        let trusted = proxies(&["127.0.0.1"], ForwardedHeader::XForwardedFor);
        assert!(trusted.contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn n_m2_garbage_in_a_forwarded_header_never_hides_the_hop_a_proxy_appended() {
        let xff = proxies(&["127.0.0.1"], ForwardedHeader::XForwardedFor);
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\x80, 203.0.113.9").unwrap(),
        );
        let address = xff.client_address(ip("127.0.0.1"), &h);
        assert_eq!(address.ip(), ip("203.0.113.9"));
        assert!(!address.is_trusted_proxy());
        let fwd = proxies(&["127.0.0.1"], ForwardedHeader::Forwarded);
        for line in [
            "for=\"x, for=203.0.113.9",
            "for=\"[2001:db8::1;x, for=203.0.113.9",
        ] {
            let address = fwd.client_address(ip("127.0.0.1"), &headers("forwarded", &[line]));
            assert_eq!(address.ip(), ip("203.0.113.9"), "{line}");
            assert!(!address.is_trusted_proxy(), "{line}");
        }
        // A hop that cannot be read where the proxy's own should be: the proxy's address, limited
        // as any client is (not exempt as the proxy's own requests are).
        let garbage = headers("x-forwarded-for", &["203.0.113.9, unknown"]);
        let address = xff.client_address(ip("127.0.0.1"), &garbage);
        assert_eq!(address.ip(), ip("127.0.0.1"));
        assert!(!address.is_trusted_proxy());
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_bytes(b"\x80").unwrap());
        assert!(!xff.client_address(ip("127.0.0.1"), &h).is_trusted_proxy());
    }

    #[test]
    fn bad_entries_are_refused() {
        let bad = ["10.0.0.0/33".to_owned()];
        assert!(TrustedProxies::parse(&bad, ForwardedHeader::XForwardedFor).is_err());
        assert!("x-real-ip".parse::<ForwardedHeader>().is_err());
    }
}
