//! The client for providers' management APIs (WhatsApp templates): calls a request waits
//! on, under the same address policy and redirect rule as deliveries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use stagecoach_app::{ProviderAnswer, ProviderCall, ProviderClient, ProviderMethod};
use stagecoach_domain::delivery::network::IpNet;

use crate::http::{error_chain, guarded_client, literal_refusal};

/// The largest answer read (a page of 100 templates is well under it).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Calls providers' APIs over HTTP(S).
#[derive(Clone)]
pub struct HttpProviderClient {
    client: reqwest::Client,
    allowed: Arc<Vec<IpNet>>,
}

impl HttpProviderClient {
    /// `allowed`: networks the address policy lets through although they are internal.
    pub fn new(allowed: Vec<IpNet>, timeout: Duration) -> Result<Self, reqwest::Error> {
        crate::install_tls_provider();
        let allowed = Arc::new(allowed);
        let client = guarded_client(&allowed)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self { client, allowed })
    }
}

#[async_trait]
impl ProviderClient for HttpProviderClient {
    async fn call(&self, call: ProviderCall) -> ProviderAnswer {
        let url = match reqwest::Url::parse(&call.url) {
            Ok(url) => url,
            Err(e) => {
                return ProviderAnswer::NotSent {
                    error: format!("bad URL: {e}"),
                };
            }
        };
        if let Some(error) = literal_refusal(&url, &self.allowed) {
            return ProviderAnswer::NotSent { error };
        }
        let mut request = match call.method {
            ProviderMethod::Get => self.client.get(url),
            ProviderMethod::Post => self.client.post(url),
        };
        request = request.header("user-agent", "Stagecoach/1");
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if let Some(body) = call.body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let answer = async {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_ANSWER_BYTES {
                    break;
                }
            }
            Ok::<_, reqwest::Error>(ProviderAnswer::Answered {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        answer.await.unwrap_or_else(|e| ProviderAnswer::NotSent {
            error: error_chain(&e),
        })
    }
}
