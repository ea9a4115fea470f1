//! Outbound HTTP for webhooks, with the SSRF guard (OWASP ASVS 1.3.6, 15.3.2).
//!
//! - HTTPS only, with certificates verified against the system roots. Plain HTTP only to a
//!   host on the administrator's allow-list (a SIEM collector inside a private network, or a
//!   local receiver in tests).
//! - Loopback, private, link-local (including the metadata address 169.254.169.254),
//!   carrier-grade NAT, unspecified, multicast and reserved addresses are refused, for IP
//!   literals and for every address a host name resolves to, unless the host is allow-listed.
//!   An allow-list entry opens one port: `host` the scheme's default (443, or 80 for `http://`),
//!   `host:port` (or `[v6]:port`) that port.
//!   The connection goes to the address that was checked (the resolver itself filters), so a
//!   DNS answer that changes between check and connect cannot slip through.
//! - No redirects are followed (a 3xx is a failed delivery), connect and total timeouts,
//!   no connection reuse, the response body is never read.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use crate::error::{Error, Result};

/// Longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2_048;

/// Whether `ip` is an address a webhook may not reach unless its host is allow-listed.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_v4(v4);
            }
            let seg = v6.segments();
            let first = seg[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || seg[..6] == [0; 6] // IPv4-compatible ::/96 (deprecated; embeds IPv4)
                || seg[..4] == [0, 0, 0, 0] && seg[4] == 0xffff // ::ffff:0:0:0/96 (translated)
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7 (incl. fd00:ec2::254)
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || first == 0x2001 && seg[1] == 0x0db8 // documentation
                || first == 0x2001 && seg[1] == 0x0000 // Teredo (tunnels to IPv4)
                || first == 0x2002 // 6to4 (embeds IPv4)
                || first == 0x0064 && seg[1] == 0xff9b // NAT64 64:ff9b::/96 and 64:ff9b:1::/48
                || first == 0x0100 && seg[1..4] == [0, 0, 0] // discard-only 100::/64
        }
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // 169.254.0.0/16, with the metadata service
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn bad_url(message: impl Into<String>) -> Error {
    Error::bad_request("INVALID_WEBHOOK_URL", message)
}

/// Cloud metadata services: never reachable, whatever the allow-list says.
pub fn is_metadata_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == Ipv4Addr::new(169, 254, 170, 2)
        }
        IpAddr::V6(v6) => {
            v6.to_ipv4_mapped()
                .is_some_and(|v4| is_metadata_ip(IpAddr::V4(v4)))
                || v6.segments() == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254]
        }
    }
}

/// Reads one allow-list entry: the host (IPv6 without brackets) and the port it names.
///
/// `host` and `[v6]` name no port (the URL scheme's default is meant); `host:port` and
/// `[v6]:port` name one (1 to 65535). IPv6 addresses must be in brackets: `fd00::5:80` could
/// be an address or an address and a port. `None`: not a valid entry.
pub fn parse_allowed_host(entry: &str) -> Option<(&str, Option<u16>)> {
    let port_of = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse::<u16>().ok())
            .flatten()
            .filter(|p| *p != 0)
    };
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        if after.is_empty() {
            return Some((host, None));
        }
        return Some((host, Some(port_of(after.strip_prefix(':')?)?)));
    }
    match entry.matches(':').count() {
        0 if !entry.is_empty() => Some((entry, None)),
        1 => {
            let (host, port) = entry.split_once(':')?;
            (!host.is_empty()).then_some(())?;
            Some((host, Some(port_of(port)?)))
        }
        _ => None,
    }
}

/// Whether the allow-list lets a webhook reach `host` (case-insensitive). With `port` (the
/// URL's port and its scheme's default port), only an entry for that port counts; without it
/// the host alone is asked about (the resolver, which is given only the entries that open the
/// request's port).
fn allow_listed(host: &str, port: Option<(u16, u16)>, allowed_hosts: &[String]) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    allowed_hosts
        .iter()
        .filter_map(|entry| parse_allowed_host(entry))
        .any(|(listed, listed_port)| {
            listed.eq_ignore_ascii_case(host)
                && port.is_none_or(|(port, default)| port == listed_port.unwrap_or(default))
        })
}

/// The port a URL connects to, and its scheme's default port (80 for `http`, else 443).
fn ports(uri: &Uri) -> (u16, u16) {
    let default_port = if uri.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    (uri.port_u16().unwrap_or(default_port), default_port)
}

/// Checks a webhook URL: absolute `https://` (or `http://` to an allow-listed host), no user
/// name or password in it, no fragment, and not an IP literal in a forbidden range unless
/// allow-listed. Host names are checked again, address by address, at every delivery.
pub fn check_url(url: &str, allowed_hosts: &[String]) -> Result<Uri> {
    if url.len() > MAX_URL_LEN {
        return Err(bad_url(format!(
            "The URL is longer than {MAX_URL_LEN} characters."
        )));
    }
    if url.contains('#') || url.chars().any(char::is_whitespace) {
        return Err(bad_url(
            "The URL must not contain spaces or a fragment (#).",
        ));
    }
    let uri: Uri = url
        .parse()
        .map_err(|_| bad_url("The URL is not a valid absolute URL."))?;
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad_url("The URL has no host."))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad_url(
            "The URL must not carry a user name or password; the signature authenticates Fig to the receiver.",
        ));
    }
    let (port, default_port) = ports(&uri);
    let listed = allow_listed(host, Some((port, default_port)), allowed_hosts);
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if listed => {}
        Some("http") => {
            return Err(bad_url(
                "Webhook URLs must use https://. Plain http:// is allowed only to a host and port on the webhook allow-list in the server configuration.",
            ));
        }
        _ => return Err(bad_url("Webhook URLs must use https://.")),
    }
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>();
    if let Ok(ip) = literal
        && is_metadata_ip(ip)
    {
        return Err(bad_url(
            "The URL points to a cloud metadata service, which webhooks may never reach.",
        ));
    }
    if let Ok(ip) = literal
        && is_forbidden_ip(ip)
        && !listed
    {
        return Err(bad_url(
            "The URL points to a loopback, private, link-local or metadata address. An administrator can allow such a host and port on the webhook allow-list.",
        ));
    }
    Ok(uri)
}

/// The resolver of one request: resolves, then drops every forbidden address unless the host is
/// allow-listed for the request's port. No address left: the connection fails.
#[derive(Clone, Debug)]
struct GuardedResolver {
    /// The allow-list entries that open the request's port (hyper does not tell a resolver the
    /// port, so each request gets a resolver of its own).
    allowed_hosts: Arc<Vec<String>>,
}

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let listed = allow_listed(name.as_str(), None, &self.allowed_hosts);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| !is_metadata_ip(a.ip()) && (listed || !is_forbidden_ip(a.ip())))
                .collect();
            if addrs.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "the host resolves only to addresses webhooks may not reach",
                ));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// What one delivery attempt came to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// A 2xx answer.
    pub ok: bool,
    /// The HTTP status, when there was an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed (short, no body, no URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    fn failed(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            status: None,
            error: Some(error.into()),
        }
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;

/// The outbound HTTP client of webhooks. Build one per process: it holds the TLS
/// configuration; each request gets a connector whose resolver knows the allow-list entries for
/// that request's port.
#[derive(Clone)]
pub struct Outbound {
    tls: rustls::ClientConfig,
    connect_timeout: Duration,
    total_timeout: Duration,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("total_timeout", &self.total_timeout)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// A client with the given timeouts (TLS verified against the system's roots).
    pub fn new(connect_timeout: Duration, total_timeout: Duration) -> Result<Self> {
        use hyper_rustls::ConfigBuilderExt;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::internal(format!("TLS set-up: {e}")))?
            .with_native_roots()
            .map_err(|e| Error::internal(format!("TLS set-up: {e}")))?
            .with_no_client_auth();
        Ok(Self {
            tls,
            connect_timeout,
            total_timeout,
        })
    }

    /// An HTTP connector for one request, whose resolver lets through forbidden addresses only for
    /// `allowed_hosts` (the entries that open the request's port). No connection is reused.
    fn http(&self, allowed_hosts: Vec<String>) -> Client<Https, Full<Bytes>> {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver {
            allowed_hosts: Arc::new(allowed_hosts),
        });
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.tls.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(https)
    }

    /// POSTs `body` to `url` with `headers`. Never follows a redirect; the URL is checked again
    /// against the current allow-list first.
    pub async fn post(
        &self,
        url: &str,
        allowed_hosts: &[String],
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Outcome {
        let uri = match check_url(url, allowed_hosts) {
            Ok(uri) => uri,
            Err(e) => return Outcome::failed(e.public().1.to_owned()),
        };
        let (port, default_port) = ports(&uri);
        let for_this_port: Vec<String> = allowed_hosts
            .iter()
            .filter(|entry| {
                parse_allowed_host(entry).is_some_and(|(_, p)| p.unwrap_or(default_port) == port)
            })
            .cloned()
            .collect();
        let http = self.http(for_this_port);
        let mut request = http::Request::post(uri)
            .header(
                http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .header(http::header::USER_AGENT, "fig-webhooks/1");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = match request.body(Full::new(Bytes::from(body))) {
            Ok(r) => r,
            Err(_) => return Outcome::failed("the request could not be built"),
        };
        match tokio::time::timeout(self.total_timeout, http.request(request)).await {
            Err(_) => Outcome::failed("timed out"),
            Ok(Err(e)) => Outcome::failed(describe(&e)),
            Ok(Ok(response)) => {
                let status = response.status();
                Outcome {
                    ok: status.is_success(),
                    status: Some(status.as_u16()),
                    error: (!status.is_success()).then(|| {
                        if status.is_redirection() {
                            format!("HTTP {} (redirects are not followed)", status.as_u16())
                        } else {
                            format!("HTTP {}", status.as_u16())
                        }
                    }),
                }
            }
        }
    }
}

/// A short description of a transport error: the innermost cause, bounded.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    let text = if text.is_empty() {
        "could not connect".to_owned()
    } else {
        text
    };
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_ranges() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "::7f00:1",
            "::ffff:0:7f00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "100::1",
            "fd00:ec2::254",
        ] {
            assert!(is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_forbidden_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn allow_list_entries_are_read() {
        for (entry, expected) in [
            ("siem.internal", Some(("siem.internal", None))),
            ("siem.internal:8088", Some(("siem.internal", Some(8088)))),
            ("10.0.0.5:443", Some(("10.0.0.5", Some(443)))),
            ("[fd00::5]", Some(("fd00::5", None))),
            ("[fd00::5]:8443", Some(("fd00::5", Some(8443)))),
        ] {
            assert_eq!(parse_allowed_host(entry), expected, "{entry}");
        }
        for bad in [
            "",
            ":80",
            "host:",
            "host:0",
            "host:65536",
            "host:+80",
            "[fd00::5",
            "[fd00::5]8443",
            "[not-v6]:80",
            "a:b:c",
            "fd00::5",
            "fd00::5:80",
        ] {
            assert_eq!(parse_allowed_host(bad), None, "{bad}");
        }
    }

    #[test]
    fn urls_are_checked() {
        let none: Vec<String> = Vec::new();
        let local = vec!["127.0.0.1:9000".to_owned(), "siem.internal".to_owned()];
        assert!(check_url("https://hooks.example.com/fig", &none).is_ok());
        for bad in [
            "http://hooks.example.com/fig",
            "ftp://hooks.example.com/fig",
            "https://127.0.0.1/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://user:pass@hooks.example.com/",
            "https://hooks.example.com/#frag",
            "/relative",
            "https:///nohost",
        ] {
            let err = check_url(bad, &none).unwrap_err();
            assert_eq!(err.public().0, "INVALID_WEBHOOK_URL", "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", &local).is_ok());
        assert!(check_url("http://SIEM.internal/hook", &local).is_ok());
        assert!(check_url("https://10.0.0.1/", &local).is_err());
        // An entry opens one port: the one it names, or the scheme's default.
        assert!(check_url("http://127.0.0.1:9001/hook", &local).is_err());
        assert!(check_url("http://127.0.0.1/hook", &local).is_err());
        assert!(check_url("https://siem.internal/hook", &local).is_ok());
        assert!(check_url("https://siem.internal:443/hook", &local).is_ok());
        assert!(check_url("http://siem.internal:80/hook", &local).is_ok());
        assert!(check_url("http://siem.internal:8088/hook", &local).is_err());
        let v6 = vec!["[fd00::5]:8443".to_owned(), "[fd00::6]".to_owned()];
        assert!(check_url("https://[fd00::5]:8443/", &v6).is_ok());
        assert!(check_url("https://[fd00::5]/", &v6).is_err());
        assert!(check_url("https://[fd00::6]/", &v6).is_ok());
        assert!(check_url("https://[fd00::6]:8443/", &v6).is_err());
        let everything = vec!["169.254.169.254".to_owned(), "fd00:ec2::254".to_owned()];
        assert!(check_url("http://169.254.169.254/latest/", &everything).is_err());
        assert!(check_url("http://[fd00:ec2::254]/", &everything).is_err());
        assert!(is_metadata_ip("::ffff:169.254.169.254".parse().unwrap()));
    }
}
