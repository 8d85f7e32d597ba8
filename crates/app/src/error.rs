use std::fmt;

use stagecoach_domain::ValidationError;
use stagecoach_domain::scope::Requirement;
use stagecoach_storage::StoreError;

/// The kinds of record a use case can fail to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Organization,
    Membership,
    ApiToken,
    Agent,
    Scenario,
    Step,
    Contact,
    Conversation,
    Stay,
    Label,
    Lead,
    Action,
    WebhookEndpoint,
    Delivery,
    Channel,
    Note,
    ContactVariable,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Organization => "organization",
            Entity::Membership => "membership",
            Entity::ApiToken => "API token",
            Entity::Agent => "agent",
            Entity::Scenario => "scenario",
            Entity::Step => "step",
            Entity::Contact => "contact",
            Entity::Conversation => "conversation",
            Entity::Stay => "conversation log",
            Entity::Label => "label",
            Entity::Lead => "lead",
            Entity::Action => "action",
            Entity::WebhookEndpoint => "webhook endpoint",
            Entity::Delivery => "delivery",
            Entity::Channel => "channel",
            Entity::Note => "note",
            Entity::ContactVariable => "contact variable",
        })
    }
}

/// Why a use case refused or failed. Dialects map each variant to their own status codes
/// and bodies in one place.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input breaks a rule; nothing was changed.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// The record the request is about does not exist in the caller's organization (or at
    /// all: the two are never told apart). `field` is the input that named it.
    #[error("{entity} not found")]
    NotFound { entity: Entity, field: &'static str },
    /// The request collides with existing data (a taken e-mail or handle).
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    /// The field cannot change once set (a lead's identifier).
    #[error("{field} cannot be changed")]
    Immutable { field: String },
    /// Free text cannot be sent: on this channel the contact has not written in the last
    /// 24 hours (a template can still be sent).
    #[error(
        "the 24-hour window for free text is closed: the contact has not written in the last 24 hours"
    )]
    WindowClosed,
    /// Nothing can deliver the message (no connected channel of the conversation's kind);
    /// nothing was stored or queued.
    #[error("{0}")]
    Undeliverable(String),
    /// The caller may not do this to this record (a note only its author may change).
    #[error("{0}")]
    Forbidden(String),
    /// No valid, unrevoked token was presented.
    #[error("missing, invalid or revoked API token")]
    Unauthorized,
    /// The token is valid but restricted to scopes that do not allow this endpoint
    /// (`None`: the endpoint is open to full-access tokens only).
    #[error("{}", missing_scope_message(.0.as_ref()))]
    MissingScope(Option<Requirement>),
    /// A provider's webhook did not prove where it came from (signature, verify token).
    #[error("the webhook's signature or token does not match the channel's")]
    Unverified,
    /// The AI agent could not answer: no model endpoint serves the organization, or the
    /// model failed (the conversation was handed to a person).
    #[error("{0}")]
    AiUnavailable(String),
    /// A provider's API (WhatsApp's Cloud API) refused the request, with its status, or
    /// gave no answer (`status: None`). `message` carries the provider's reason.
    #[error("WhatsApp's API: {message}")]
    Provider {
        status: Option<u16>,
        message: String,
    },
    /// The caller sent more requests than its rate limit allows (see the server's
    /// `--rate-limit-*` settings); nothing was done. Try again after `retry_after_secs`.
    #[error("too many requests: {scope} allows {limit}; try again in {retry_after_secs} s")]
    RateLimited {
        /// What the limit applies to: `this token`, `this organization`, `this channel`.
        scope: &'static str,
        /// The limit as configured, e.g. `6000/min`.
        limit: String,
        retry_after_secs: u64,
    },
    /// A request sent with an `Idempotency-Key` cannot run under it (see
    /// [`crate::KeyRefusal`]); nothing was done.
    #[error("{}", .0.message())]
    IdempotencyKey(crate::KeyRefusal),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        AppError::Store(error)
    }
}

/// The offset of the page numbered `index` from 0 (`page` names the input): a page
/// so far that its offset cannot be counted is refused, not wrapped around.
pub(crate) fn page_offset(index: i64, limit: i64, page: &'static str) -> Result<i64, AppError> {
    index
        .checked_mul(limit)
        .ok_or_else(|| AppError::invalid(page, "is too large"))
}

impl AppError {
    /// Whether the database ended the transaction to let a concurrent one through
    /// (nothing was written; trying again can succeed).
    pub fn is_contention(&self) -> bool {
        matches!(self, AppError::Store(error) if error.is_contention())
    }

    /// Whether a [`AppError::Provider`] error is the provider refusing the request as
    /// asked (Meta's 400: the client can fix it), rather than failing or refusing the
    /// channel's credentials (a bad gateway to the client).
    pub fn provider_refused_request(&self) -> bool {
        matches!(
            self,
            AppError::Provider {
                status: Some(400),
                ..
            }
        )
    }

    pub fn not_found(entity: Entity, field: &'static str) -> Self {
        AppError::NotFound { entity, field }
    }

    pub(crate) fn invalid(
        field: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        AppError::Invalid(ValidationError::single(field, message))
    }
}

fn missing_scope_message(needed: Option<&Requirement>) -> String {
    let Some(needed) = needed else {
        return "this endpoint needs a token with full access (created without --scope)".to_owned();
    };
    match needed.texter_scope() {
        Some(texter) => format!(
            "this token lacks the scope \"{}\" (or \"{}\") that this endpoint needs",
            texter.name(),
            needed.scope
        ),
        None => format!(
            "this token lacks the scope \"{}\" that this endpoint needs",
            needed.scope
        ),
    }
}
