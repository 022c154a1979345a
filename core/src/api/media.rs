//! Which hosts a download may fetch from. The DAM answers a publish or a transform with a
//! `public_url`, and the server could name any host in it: a plain-http one anyone on the path
//! can answer, or an address inside the application's own network.

use std::net::IpAddr;

/// The hosts downloads may fetch media from, beside the API's own domain. By default only
/// `https://` URLs on the API's host or a subdomain of its parent domain (`media.unicat.app`
/// for `unicat.app`), and never a loopback, private or link-local address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaHosts {
    /// Also accept plain `http://` URLs. Default: false.
    pub allow_http: bool,
    /// Also accept loopback, private and link-local addresses and `localhost` (a dev server on
    /// 127.0.0.1, a media proxy on the intranet). Default: false.
    pub allow_local: bool,
    /// More hosts to accept, by exact name.
    pub hosts: Vec<String>,
}

impl MediaHosts {
    /// Accepts anything a dev server on loopback serves: plain http and local addresses.
    pub fn local_dev() -> Self {
        MediaHosts {
            allow_http: true,
            allow_local: true,
            hosts: Vec::new(),
        }
    }

    /// Adds a host to accept.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into().to_ascii_lowercase());
        self
    }

    /// Whether `url` may be fetched by a client of the API at `api_host`; the error says why
    /// not.
    pub(crate) fn check(&self, url: &str, api_host: &str) -> Result<(), &'static str> {
        let uri: http::Uri = url.parse().map_err(|_| "not a URL")?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.allow_http => {}
            Some("http") => return Err("plain http"),
            _ => return Err("not an http(s) URL"),
        }
        let host = uri.host().ok_or("no host")?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if is_local(&host) && !self.allow_local {
            return Err("a loopback, private or link-local address");
        }
        let api_host = api_host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host == api_host
            || self.hosts.contains(&host)
            || in_domain(&host, &parent_domain(&api_host))
        {
            Ok(())
        } else {
            Err("a host other than the API's")
        }
    }
}

/// `unicat.app` for `api.unicat.app`; a two-label name (or an address) is its own parent.
fn parent_domain(host: &str) -> String {
    if host.parse::<IpAddr>().is_ok() {
        return host.to_string();
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() >= 3 {
        labels.get(1..).unwrap_or_default().join(".")
    } else {
        host.to_string()
    }
}

fn in_domain(host: &str, domain: &str) -> bool {
    host.parse::<IpAddr>().is_err()
        && domain.parse::<IpAddr>().is_err()
        && (host == domain || host.ends_with(&format!(".{domain}")))
}

fn is_local(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT: not the public internet either.
                || (v4.octets().first() == Some(&100)
                    && v4.octets().get(1).is_some_and(|o| (64..128).contains(o)))
        }
        Ok(IpAddr::V6(v6)) => {
            let first = v6.segments().first().copied().unwrap_or(0);
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_local(&v4.to_string()))
        }
        Err(_) => false,
    }
}

/// The `public_url` of a DAM result (publish or transform), or why there is none.
pub fn public_url(result: &serde_json::Value) -> Result<String, crate::api::CallError> {
    result
        .get("public_url")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| crate::api::CallError::InvalidResponse {
            status: 200,
            detail: "the DAM result has no public_url".into(),
            excerpt: String::new(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_only_https_on_the_apis_domain() {
        let policy = MediaHosts::default();
        for ok in [
            "https://unicat.app/media/p-1/src/a.jpg",
            "https://media.unicat.app/x.jpg",
            "https://a.b.unicat.app/x.jpg",
        ] {
            assert_eq!(policy.check(ok, "unicat.app"), Ok(()), "{ok}");
        }
        assert_eq!(
            policy.check("https://cdn.unicat.app/x.jpg", "api.unicat.app"),
            Ok(())
        );
        for bad in [
            "http://unicat.app/media/a.jpg",
            "https://evil.example/a.jpg",
            "https://unicat.app.evil.example/a.jpg",
            "https://127.0.0.1/a.jpg",
            "https://10.0.0.8/a.jpg",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/a.jpg",
            "https://[fe80::1]/a.jpg",
            "https://localhost/a.jpg",
            "ftp://unicat.app/a.jpg",
            "not a url",
        ] {
            assert!(policy.check(bad, "unicat.app").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_application_may_allow_more() {
        let dev = MediaHosts::local_dev();
        assert_eq!(
            dev.check("http://127.0.0.1:8080/media/a.jpg", "127.0.0.1"),
            Ok(())
        );
        // Local, but still only the API's host.
        assert!(dev.check("http://10.0.0.8/a.jpg", "127.0.0.1").is_err());
        let cdn = MediaHosts::default().host("cdn.example.com");
        assert_eq!(
            cdn.check("https://cdn.example.com/a.jpg", "unicat.app"),
            Ok(())
        );
        assert!(cdn
            .check("https://other.example.com/a.jpg", "unicat.app")
            .is_err());
    }
}
