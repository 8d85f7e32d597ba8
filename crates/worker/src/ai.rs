//! The client AI turns call models through: OpenAI-compatible Chat Completions over
//! HTTP(S), under the same address policy as deliveries (a local model on loopback
//! works once its network is allowed), with no redirects and a bounded answer.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use stagecoach_app::{ModelAnswer, ModelClient, ModelEndpoint};
use stagecoach_domain::delivery::network::IpNet;

use crate::http::{
    error_chain, guarded_client, literal_refusal, refused_by_policy, retry_after_of,
};

/// The largest model answer read; a longer one is cut and fails to parse.
const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

/// Calls Chat Completions endpoints over HTTP(S).
#[derive(Clone)]
pub struct HttpModelClient {
    client: reqwest::Client,
    allowed: Arc<Vec<IpNet>>,
}

impl HttpModelClient {
    /// `allowed`: networks the address policy lets through although they are internal.
    pub fn new(allowed: Vec<IpNet>) -> Result<Self, reqwest::Error> {
        crate::install_tls_provider();
        let allowed = Arc::new(allowed);
        let client = guarded_client(&allowed)
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { client, allowed })
    }
}

#[async_trait]
impl ModelClient for HttpModelClient {
    async fn complete(
        &self,
        endpoint: &ModelEndpoint,
        body: &str,
        timeout: Duration,
    ) -> ModelAnswer {
        let url = format!("{}/chat/completions", endpoint.base_url);
        let url = match reqwest::Url::parse(&url) {
            Ok(url) => url,
            Err(e) => {
                return ModelAnswer::Refused {
                    reason: format!("bad URL: {e}"),
                };
            }
        };
        if let Some(refused) = literal_refusal(&url, &self.allowed) {
            return ModelAnswer::Refused {
                reason: format!("{refused} (allow it with --outbound-allow-cidrs)"),
            };
        }
        let mut request = self
            .client
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("user-agent", "Stagecoach-AI/1")
            .body(body.to_owned());
        if let Some(key) = &endpoint.api_key {
            request = request.bearer_auth(key);
        }
        let call = async {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            let retry_after = retry_after_of(&response);
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_ANSWER_BYTES {
                    break;
                }
            }
            Ok::<_, reqwest::Error>(ModelAnswer::Answered {
                status,
                retry_after,
                body,
            })
        };
        match call.await {
            Ok(answer) => answer,
            Err(e) if e.is_timeout() => ModelAnswer::TimedOut,
            Err(e) if refused_by_policy(&e) => ModelAnswer::Refused {
                reason: error_chain(&e),
            },
            Err(e) => ModelAnswer::NotSent {
                error: error_chain(&e),
            },
        }
    }
}
