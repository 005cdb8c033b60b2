//! Where webhooks may go. An endpoint's URL is `https`, or `http` to a host the
//! configuration allows (`webhooks.allow_hosts`); it has no user name or password. At
//! delivery the host is resolved, every address is checked, and the connection goes to a
//! checked address only (the HTTP client resolves through [`GuardedResolver`], so a name
//! that resolves to a private address on the second lookup is still refused: no DNS
//! rebinding). Refused unless allowed: loopback, private (RFC 1918, RFC 4193), link-local
//! (RFC 3927, RFC 4291, which holds the cloud metadata address 169.254.169.254), shared
//! (RFC 6598), unspecified, broadcast, multicast, documentation and reserved ranges, and
//! IPv6 forms that carry such an IPv4 address (mapped, compatible, NAT64 RFC 6052).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// The hosts webhooks may reach although they are private or use `http`, from
/// `webhooks.allow_hosts` (names and IP addresses, compared lowercased).
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    allowed: Arc<Vec<String>>,
}

/// Why a URL or address is refused.
pub type Refusal = String;

impl Destinations {
    /// From a comma-separated list of hosts.
    pub fn new(allow_hosts: &str) -> Self {
        let allowed = allow_hosts
            .split(',')
            .map(|h| {
                h.trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_lowercase()
            })
            .filter(|h| !h.is_empty())
            .collect();
        Self {
            allowed: Arc::new(allowed),
        }
    }

    fn allows(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_lowercase();
        self.allowed.contains(&host)
    }

    /// Checks an endpoint URL's form (not yet its addresses): at most 2,048 characters,
    /// `https` (or `http` to an allowed host), a host, no credentials, and an address
    /// literal only when it may be reached.
    ///
    /// # Errors
    /// Why it is refused.
    pub fn check_url(&self, text: &str) -> Result<Url, Refusal> {
        if text.len() > 2048 {
            return Err("must be at most 2,048 characters".into());
        }
        let url = Url::parse(text.trim()).map_err(|e| format!("is not a URL: {e}"))?;
        let host = url.host_str().ok_or("has no host")?.to_owned();
        match url.scheme() {
            "https" => {}
            "http" if self.allows(&host) => {}
            "http" => return Err("must be https (http only to an allowed host)".into()),
            _ => return Err("must be an https URL".into()),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry a user name or password".into());
        }
        if url.fragment().is_some() {
            return Err("must not have a fragment".into());
        }
        if let Some(ip) = literal(&url) {
            self.check_ip(&host, ip)?;
        }
        Ok(url)
    }

    /// Checks one address `host` resolved to.
    ///
    /// # Errors
    /// Why it is refused.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        if self.allows(host) || self.allows(&ip.to_string()) || !forbidden(ip) {
            Ok(())
        } else {
            Err(format!(
                "{host} is a private, loopback, link-local or reserved address ({ip}); not allowed"
            ))
        }
    }

    /// A resolver for the HTTP client that returns only addresses webhooks may reach.
    pub fn resolver(&self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver {
            destinations: self.clone(),
        })
    }
}

/// The address of a URL whose host is an IP literal (which no resolver sees).
pub fn literal(url: &Url) -> Option<IpAddr> {
    url.host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Whether webhooks may never reach `ip` unless allowed (see the module docs).
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, RFC 6890
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240 // reserved, RFC 1112
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96, RFC 6052).
    if (s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified())
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return forbidden_v4(Ipv4Addr::new(a, b, c, d));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, RFC 4193
        || (s[0] & 0xffc0) == 0xfe80 // link-local, RFC 4291
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated), RFC 3879
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation, RFC 3849
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only, RFC 6666
}

/// A DNS resolver that keeps only the addresses [`Destinations`] allows, and fails when
/// none is left.
#[derive(Debug)]
pub struct GuardedResolver {
    destinations: Destinations,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let destinations = self.destinations.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match destinations.check_ip(&host, a.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refusal = Some(why);
                        false
                    }
                })
                .collect();
            if kept.is_empty() {
                let why = refusal.unwrap_or_else(|| format!("{host} has no address"));
                return Err(why.into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
            "2001:db8::1",
            "ff02::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert!(forbidden(ip), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert!(!forbidden(ip), "{ip}");
        }
    }

    #[test]
    fn urls_are_https_without_credentials_unless_allowed() {
        let none = Destinations::new("");
        assert!(none.check_url("https://hooks.example.com/crm").is_ok());
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://0x7f000001/",
            "not a url",
        ] {
            assert!(none.check_url(bad).is_err(), "{bad}");
        }
        let local = Destinations::new("127.0.0.1, Receiver.Local");
        assert!(local.check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(local.check_url("http://receiver.local/hook").is_ok());
        assert!(local.check_url("http://10.0.0.1/hook").is_err());
    }
}
