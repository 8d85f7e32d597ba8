//! Calls to a provider's management API that a request waits on (listing and creating
//! WhatsApp templates). Deliveries are different: the worker sends them later and retries.

use async_trait::async_trait;

use crate::Stagecoach;
use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderMethod {
    Get,
    Post,
}

/// One request to a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderCall {
    pub method: ProviderMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// A JSON body, for a POST.
    pub body: Option<Vec<u8>>,
}

/// What came of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderAnswer {
    /// The provider answered (any status), with its body.
    Answered { status: u16, body: String },
    /// No answer: connection error, timeout, or the address policy refused the host.
    NotSent { error: String },
}

/// Makes provider calls (the worker's HTTP client, under the address policy).
#[async_trait]
pub trait ProviderClient: Send + Sync {
    async fn call(&self, call: ProviderCall) -> ProviderAnswer;
}

/// The client of a core built without one: every call fails.
pub(crate) struct NoProviderClient;

#[async_trait]
impl ProviderClient for NoProviderClient {
    async fn call(&self, _: ProviderCall) -> ProviderAnswer {
        ProviderAnswer::NotSent {
            error: "this server has no client for provider APIs".into(),
        }
    }
}

impl Stagecoach {
    /// Replaces the client provider calls go through.
    pub fn with_provider_client(mut self, client: std::sync::Arc<dyn ProviderClient>) -> Self {
        self.provider_client = client;
        self
    }

    /// Calls a provider and reads a successful answer's body; a refusal or an outage
    /// becomes [`AppError::Provider`] with the provider's reason.
    pub(crate) async fn call_provider(&self, call: ProviderCall) -> Result<String, AppError> {
        if call.method != ProviderMethod::Get {
            self.mark_outside_work().await?;
        }
        match self.provider_client.call(call).await {
            ProviderAnswer::Answered { status, body } if (200..300).contains(&status) => Ok(body),
            ProviderAnswer::Answered { status, body } => Err(AppError::Provider {
                status: Some(status),
                message: stagecoach_domain::delivery::providers::provider_error(status, &body),
            }),
            ProviderAnswer::NotSent { error } => Err(AppError::Provider {
                status: None,
                message: error,
            }),
        }
    }
}
