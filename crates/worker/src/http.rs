//! The HTTP client deliveries go out through: no redirects, a timeout, bounded reads, and
//! an address policy checked on every address a host resolves to (and on literal IPs),
//! so a webhook URL cannot reach the server's own network unless the operator allows it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use stagecoach_app::{EXCERPT_LIMIT, OutboundRequest, SendOutcome, Transport};
use stagecoach_domain::delivery::network::{IpNet, refusal};

/// How long a receiver has to answer, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Makes rustls use the ring provider; harmless when one is installed already.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Sends deliveries over HTTP(S).
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    allowed: Arc<Vec<IpNet>>,
}

impl HttpTransport {
    /// `allowed`: networks the address policy lets through although they are private.
    pub fn new(allowed: Vec<IpNet>, timeout: Duration) -> Result<Self, reqwest::Error> {
        install_tls_provider();
        let allowed = Arc::new(allowed);
        let client = guarded_client(&allowed)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self { client, allowed })
    }

    async fn try_send(&self, request: OutboundRequest) -> Result<SendOutcome, SendOutcome> {
        let url = reqwest::Url::parse(&request.url).map_err(|e| SendOutcome::Refused {
            reason: format!("bad URL: {e}"),
        })?;
        if let Some(reason) = literal_refusal(&url, &self.allowed) {
            return Err(SendOutcome::Refused { reason });
        }
        let mut builder = self.client.post(url).body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let mut response = builder.send().await.map_err(|e| {
            let text = error_chain(&e);
            if refused_by_policy(&e) {
                SendOutcome::Refused { reason: text }
            } else {
                SendOutcome::NotSent { error: text }
            }
        })?;
        let status = response.status().as_u16();
        let retry_after = retry_after_of(&response);
        let mut body = Vec::new();
        // Read only the start of the answer; the rest is dropped with the connection.
        while body.len() < EXCERPT_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(EXCERPT_LIMIT);
        Ok(SendOutcome::Answered {
            status,
            retry_after,
            excerpt: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(&self, request: OutboundRequest) -> SendOutcome {
        self.try_send(request).await.unwrap_or_else(|failed| failed)
    }
}

/// A client under the address policy: no redirects followed, no proxy, and every
/// resolved address checked. Deliveries and model calls each add their timeouts.
pub(crate) fn guarded_client(allowed: &Arc<Vec<IpNet>>) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(GuardedResolver {
            allowed: allowed.clone(),
        })
}

/// Why the policy refuses a URL whose host is a literal address (those never reach the
/// resolver, so they are checked here), if it does.
pub(crate) fn literal_refusal(url: &reqwest::Url, allowed: &[IpNet]) -> Option<String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return None,
    };
    refusal(ip, allowed).map(|why| format!("refused: {ip} is {why}"))
}

/// The answer's `Retry-After`, if it sent one that reads.
pub(crate) fn retry_after_of(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// The error and its causes, which is where the resolver's refusal and timeouts show.
pub(crate) fn error_chain(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The resolver's refusal, told apart from other connection errors.
#[derive(Debug)]
struct RefusedAddress(String);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedAddress {}

pub(crate) fn refused_by_policy(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<RefusedAddress>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Resolves with the system resolver, then drops the addresses the policy refuses.
struct GuardedResolver {
    allowed: Arc<Vec<IpNet>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let usable: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match refusal(addr.ip(), &allowed) {
                    None => true,
                    Some(why) => {
                        refused =
                            Some(format!("refused: {host} resolves to {} ({why})", addr.ip()));
                        false
                    }
                })
                .collect();
            if usable.is_empty() {
                return Err(match refused {
                    Some(why) => {
                        Box::new(RefusedAddress(why)) as Box<dyn std::error::Error + Send + Sync>
                    }
                    None => format!("{host} has no address").into(),
                });
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("soon"), None);
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        let parsed = parse_retry_after(&later).unwrap();
        assert!(parsed > Duration::from_secs(80) && parsed <= Duration::from_secs(90));
    }
}
