//! All outbound HTTP: Client ID Metadata Documents, client key sets, and `latchkey discover`. One
//! fetcher, so every rule holds for every fetch: https only (plain http only to loopback, for
//! `discover`, when loopback is allowed), no redirects, connect and total timeouts, a size limit, a JSON
//! content type where JSON is expected, and no request to an address that is not public.
//!
//! # Security
//! A client_id URL is chosen by whoever sends it, so a fetch is server-side request forgery waiting to
//! happen. The host is resolved here, every address it resolves to is checked (refusing loopback,
//! private, link-local, unique-local, multicast, unspecified, shared and documentation ranges), and the
//! connection is pinned to a checked address, so a second resolution cannot rebind it. Loopback is
//! allowed only by the explicit `fetch.allow_loopback` switch, for tests and local development.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

/// Fetcher settings.
#[derive(Clone, Debug)]
pub struct FetchSettings {
    /// Allow loopback addresses (never private or link-local ones).
    pub allow_loopback: bool,
    /// Extra trusted root certificates (PEM), beside the system's.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time for the whole fetch.
    pub timeout: Duration,
    /// Largest accepted body, in bytes.
    pub max_bytes: usize,
    /// Fetches per minute for one client address, and to one host.
    pub rate_limit: u32,
}

/// Why a fetch failed; the message is safe to show to the party that named the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError(pub String);

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fetched JSON document and how long it may be cached (`Cache-Control: max-age`).
#[derive(Debug)]
pub struct Fetched {
    /// The document.
    pub json: Value,
    /// `max-age`, when the response gave one (and no `no-store`/`no-cache`).
    pub max_age: Option<Duration>,
}

/// Whether an address may be fetched from: not in any range of the IANA IPv4 and IPv6
/// Special-Purpose Address Registries that is not globally reachable, and for IPv6 forms that embed an
/// IPv4 address (NAT64 `64:ff9b::/96`, 6to4 `2002::/16`), not embedding one that is refused itself.
/// Loopback only with `allow_loopback`.
pub fn is_public(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_is_public(v4, allow_loopback),
        IpAddr::V6(v6) => v6_is_public(v6, allow_loopback),
    }
}

fn v6_is_public(v6: Ipv6Addr, allow_loopback: bool) -> bool {
    if v6.is_loopback() {
        return allow_loopback;
    }
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // IPv4-mapped ::ffff:a.b.c.d: the IPv4 address is what a connection reaches.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => v4_is_public(embedded(hi, lo), allow_loopback),
        // The rest of ::/96 (unspecified, IPv4-compatible ::a.b.c.d) and SIIT ::ffff:0:a.b.c.d.
        [0, 0, 0, 0, 0, 0, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => false,
        // NAT64 well-known prefix: reaches the embedded IPv4 address through the translator.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => v4_is_public(embedded(hi, lo), false),
        // Local-use NAT64 64:ff9b:1::/48: translates into the operator's own networks.
        [0x64, 0xff9b, 1, ..] => false,
        // 6to4: the IPv4 address in bits 16-47 is where the packets go.
        [0x2002, hi, lo, ..] => v4_is_public(embedded(hi, lo), false),
        // Discard-only 100::/64 and the dummy prefix 100:0:0:1::/64.
        [0x100, 0, 0, 0 | 1, ..] => false,
        // IETF protocol assignments 2001::/23: Teredo 2001::/32 (embeds an IPv4 address), benchmarking,
        // ORCHID and the rest; nothing a client publishes metadata on.
        [0x2001, b, ..] if b < 0x200 => false,
        // Documentation 2001:db8::/32 and 3fff::/20.
        [0x2001, 0xdb8, ..] => false,
        [a, ..] if a & 0xfff0 == 0x3ff0 => false,
        // Segment Routing SIDs 5f00::/16.
        [0x5f00, ..] => false,
        // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast ff00::/8.
        [a, ..] if a & 0xfe00 == 0xfc00 || a & 0xffc0 == 0xfe80 || a & 0xffc0 == 0xfec0 => false,
        [a, ..] if a & 0xff00 == 0xff00 => false,
        _ => true,
    }
}

fn v4_is_public(v4: Ipv4Addr, allow_loopback: bool) -> bool {
    if v4.is_loopback() {
        return allow_loopback;
    }
    let [a, b, c, _] = v4.octets();
    !(v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 31 && c == 196) // AS112-v4
        || (a == 192 && b == 52 && c == 193) // AMT
        || (a == 192 && b == 88 && c == 99) // deprecated 6to4 relay anycast
        || (a == 192 && b == 175 && c == 48) // direct delegation AS112
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

/// Fetches `url` as JSON under every rule above.
pub async fn fetch_json(url: &str, settings: &FetchSettings) -> Result<Fetched, FetchError> {
    json_of(
        url,
        send(Outbound::get(url), settings, Scheme::HttpsOnly).await?,
    )
}

/// Fetches `url` as JSON, where plain http may reach loopback when loopback is allowed: what `latchkey
/// discover` reads a development server's JWKS with.
pub async fn fetch_document(url: &str, settings: &FetchSettings) -> Result<Value, FetchError> {
    json_of(
        url,
        send(Outbound::get(url), settings, Scheme::HttpToLoopback).await?,
    )
    .map(|f| f.json)
}

fn json_of(url: &str, answer: Answer) -> Result<Fetched, FetchError> {
    if !(200..300).contains(&answer.status) {
        return Err(FetchError(format!("{url} answered {}", answer.status)));
    }
    if !answer.is_json() {
        return Err(FetchError(format!("{url} is not application/json")));
    }
    let json = serde_json::from_slice(&answer.body)
        .map_err(|_| FetchError(format!("{url} is not JSON")))?;
    Ok(Fetched {
        json,
        max_age: answer.max_age,
    })
}

/// An outbound request: a `GET`, or a `POST` of a form body.
#[derive(Clone, Copy, Debug)]
pub struct Outbound<'a> {
    /// The URL.
    pub url: &'a str,
    /// `Some` for a `POST` of this `application/x-www-form-urlencoded` body.
    pub form: Option<&'a str>,
}

impl<'a> Outbound<'a> {
    /// `GET url`, asking for JSON.
    pub fn get(url: &'a str) -> Outbound<'a> {
        Outbound { url, form: None }
    }

    /// `POST url` with a form body.
    pub fn post_form(url: &'a str, form: &'a str) -> Outbound<'a> {
        Outbound {
            url,
            form: Some(form),
        }
    }
}

/// Which schemes a request may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// https only: what the server fetches on a client's word.
    HttpsOnly,
    /// https, or plain http to a loopback address when `allow_loopback` is set: what `latchkey
    /// discover` needs to examine a development server.
    HttpToLoopback,
}

/// A response read under the fetcher's rules, whatever its status.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The media type, lowercased, without parameters.
    pub content_type: String,
    /// The body, at most `max_bytes`.
    pub body: Vec<u8>,
    /// `Cache-Control: max-age` (zero for `no-store`/`no-cache`).
    pub max_age: Option<Duration>,
}

impl Answer {
    /// Whether the media type is JSON (`application/json` or `+json`).
    pub fn is_json(&self) -> bool {
        self.content_type == "application/json" || self.content_type.ends_with("+json")
    }
}

/// Sends one request under every rule above: the host resolved and every address checked, the
/// connection pinned to a checked address, no redirects, connect and total timeouts, a size limit.
pub async fn send(
    request: Outbound<'_>,
    settings: &FetchSettings,
    schemes: Scheme,
) -> Result<Answer, FetchError> {
    let url = request.url;
    let err = |m: String| FetchError(m);
    let parsed = url::Url::parse(url).map_err(|_| err(format!("`{url}` is not a URL")))?;
    let plain_http = match parsed.scheme() {
        "https" => false,
        "http" if schemes == Scheme::HttpToLoopback && settings.allow_loopback => true,
        _ => return Err(err("only https URLs are fetched".into())),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(err("the URL carries credentials".into()));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| err("the URL has no host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = tokio::time::timeout(
        settings.connect_timeout,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| err(format!("resolving {host} timed out")))?
    .map_err(|_| err(format!("{host} does not resolve")))?
    .collect();
    // Every address must be public: a name that also resolves to an internal address is refused,
    // whichever one a connection would pick.
    let Some(first) = addresses.first().copied() else {
        return Err(err(format!("{host} does not resolve")));
    };
    if let Some(bad) = addresses
        .iter()
        .find(|a| !is_public(a.ip(), settings.allow_loopback))
    {
        return Err(err(format!(
            "{host} resolves to {}, which is not a public address",
            bad.ip()
        )));
    }
    // Clear text only where it never leaves the machine.
    if plain_http && !addresses.iter().all(|a| a.ip().is_loopback()) {
        return Err(err("only https URLs are fetched".into()));
    }
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        .no_proxy()
        .resolve(&host, first);
    if let Some(pem) = &settings.extra_roots_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|_| err("fetch.extra_roots is not PEM".into()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder
        .build()
        .map_err(|e| err(format!("cannot build the HTTP client: {e}")))?;
    let outbound = match request.form {
        None => client.get(parsed.as_str()),
        Some(form) => client
            .post(parsed.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned()),
    };
    let mut response = outbound
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| err(format!("fetching {url} failed: {}", short(&e))))?;
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let max_age = max_age(response.headers());
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| err(format!("reading {url} failed: {}", short(&e))))?
    {
        if body.len() + chunk.len() > settings.max_bytes {
            return Err(err(format!(
                "{url} is larger than {} bytes",
                settings.max_bytes
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status: response.status().as_u16(),
        content_type,
        body,
        max_age,
    })
}

fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_redirect() {
        "redirects are not followed".into()
    } else {
        "request error".into()
    }
}

fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::CACHE_CONTROL)?
        .to_str()
        .ok()?
        .to_ascii_lowercase();
    if value.contains("no-store") || value.contains("no-cache") {
        return Some(Duration::ZERO);
    }
    value
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l1_only_public_addresses_are_fetched_whatever_the_form() {
        for blocked in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
            // L1: every special-purpose range, and IPv4 addresses embedded in IPv6 forms.
            "64:ff9b::a00:5",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::5db8:d822",
            "::10.0.0.5",
            "::93.184.216.34",
            "::ffff:0:10.0.0.5",
            "::ffff:0:93.184.216.34",
            "2002:a00:5::1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:20::1",
            "fec0::1",
            "100::1",
            "100:0:0:1::1",
            "3fff::1",
            "5f00::1",
            "ff02::1",
            "192.88.99.1",
            "192.31.196.1",
            "192.175.48.1",
            "198.18.0.1",
        ] {
            let ip: IpAddr = blocked.parse().unwrap();
            assert!(!is_public(ip, false), "{blocked}");
        }
        for public in [
            "93.184.216.34",
            "2606:4700:4700::1111",
            "1.1.1.1",
            // A public IPv4 address through the NAT64 well-known prefix or 6to4 is as public.
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "2a00:1450:4001:81c::200e",
        ] {
            assert!(is_public(public.parse().unwrap(), false), "{public}");
        }
        assert!(
            is_public("127.0.0.1".parse().unwrap(), true),
            "the switch allows loopback"
        );
        assert!(is_public("::1".parse().unwrap(), true));
        assert!(
            !is_public("10.0.0.1".parse().unwrap(), true),
            "but nothing else"
        );
        assert!(!is_public("169.254.169.254".parse().unwrap(), true));
    }

    #[tokio::test]
    async fn plain_http_and_private_hosts_are_refused_before_any_connection() {
        let settings = FetchSettings {
            allow_loopback: false,
            extra_roots_pem: None,
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(2),
            max_bytes: 1024,
            rate_limit: 30,
        };
        let e = fetch_json("http://example.com/doc", &settings)
            .await
            .unwrap_err();
        assert!(e.0.contains("https"), "{e}");
        let e = fetch_json("https://127.0.0.1:9/doc", &settings)
            .await
            .unwrap_err();
        assert!(e.0.contains("not a public address"), "{e}");
        let e = fetch_json("https://user:pw@example.com/doc", &settings)
            .await
            .unwrap_err();
        assert!(e.0.contains("credentials"), "{e}");
        // Plain http only ever reaches loopback, and only when loopback is allowed.
        let e = send(
            Outbound::get("http://127.0.0.1:9/doc"),
            &settings,
            Scheme::HttpToLoopback,
        )
        .await
        .unwrap_err();
        assert!(e.0.contains("https"), "{e}");
        let loopback = FetchSettings {
            allow_loopback: true,
            ..settings
        };
        let e = send(
            Outbound::get("http://93.184.216.34/doc"),
            &loopback,
            Scheme::HttpToLoopback,
        )
        .await
        .unwrap_err();
        assert!(e.0.contains("https"), "{e}");
        let e = fetch_json("http://127.0.0.1:9/doc", &loopback)
            .await
            .unwrap_err();
        assert!(
            e.0.contains("https"),
            "the server's own fetches stay https: {e}"
        );
    }
}
