//! Stagecoach's use cases: the single model that every API dialect calls into.
//!
//! Each use case opens a transaction, checks what needs storage (that ids exist in the
//! caller's organization), applies the domain's pure rules and writes the result. Dialects
//! translate their shapes to and from these calls and never touch storage themselves.

mod admin;
mod agents;
mod ai;
mod ai_query;
mod ai_turn;
mod auth;
mod boards;
mod channels;
mod chats;
mod clock;
mod contact_variables;
mod contacts;
mod conversations;
mod crm;
mod crm_log;
mod delivery;
mod engine;
mod error;
mod events;
mod export;
mod idempotency;
mod inbound;
mod inbox;
mod labels;
mod leads;
mod leases;
mod notes;
mod operations;
mod preview;
mod provider_api;
mod reports;
mod scenarios;
mod secrets;
mod sessions;
mod steps;
mod templates;
mod timers;

use std::sync::{Arc, Mutex};

use stagecoach_domain::engine::assignment::Pick;
use stagecoach_domain::engine::triggers::{EntryCondition, KeywordTrigger};
use stagecoach_storage::Store;

use stagecoach_domain::delivery::network::IpNet;

pub use admin::{Bootstrap, NewToken};
pub use agents::AgentRef;
pub use ai::{
    AiConfig, AiSettingsInput, AiSettingsView, EndpointSource, ModelAnswer, ModelClient,
    ModelEndpoint,
};
pub use ai_query::{AgentAnswer, AgentQuery, QueryContact};
pub use ai_turn::{AI_TURN, ClaimedTurn, TurnOverrides, TurnResult};
pub use auth::Principal;
pub use boards::{BoardColumn, BoardRequest, BoardUpdate, BoardView, BoardViewCard};
pub use channels::{ChannelInput, WebhookReceipt};
pub use chats::{ChatMessages, ChatPatch, ChatRef, ChatView, DEFAULT_CRM_DATA_LIMIT, LabelChange};
pub use clock::{Clock, ManualClock, SystemClock};
pub use contacts::ContactInput;
pub use conversations::{ConversationDetail, StayView};
pub use crm::{BoardCard, StepRef};
pub use crm_log::ScenarioCount;
pub use delivery::{
    ClaimedDelivery, CreatedEndpoint, DELIVERY_LEASE, DeliveryOutcome, DeliverySettings,
    EXCERPT_LIMIT, EndpointInput, EndpointPatch, MAX_BULK_REDELIVERY, OutboundRequest,
    ProviderUrls, SendOutcome, Transport,
};
pub use engine::{EntryReport, ThreadRandom};
pub use error::{AppError, Entity};
pub use export::{ExportedConversation, HistoryEntry};
pub use idempotency::{Admission, KeyRefusal, Reservation};
pub use inbound::{InboundMessage, InboundReceipt};
pub use inbox::{AssigneeRef, MAX_CONVERSATION_PAGE};
pub use leads::{ActionOutcome, LeadQuery, LeadWrite, Remark, lead_fields};
pub use leases::{HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, LeaseUpkeep};
pub use notes::NewNote;
pub use operations::Backlog;
pub use provider_api::{ProviderAnswer, ProviderCall, ProviderClient, ProviderMethod};
pub use reports::{ScenarioReport, StepReport};
pub use secrets::{SecretBox, SecretError};
pub use sessions::{
    LOGIN_LINK_LIFETIME, NewLoginLink, OpenedSession, SESSION_IDLE, SESSION_LIFETIME,
};
/// Storage records and filters that use cases take and return, and storage's failures.
pub use stagecoach_storage::{
    ActionFilter, Attempt, AutoAdvanceBacklog, CRM_EVENT_KINDS, Change, ChangeNotice,
    ChangeSubscription, ChatSearch, ContactFilter, ConversationFilter, CrmEventFilter, KeptAnswer,
    OutboxBacklog, OutboxEntry, PaymentTotal, PendingAutoAdvance, RedeliveryFilter, StayFilter,
    StepPayments, StoreError, TimelineEntry,
};
pub use steps::{StepView, missing_reference_message};
pub use templates::TemplateSend;

/// The entry point to every use case. Cheap to clone.
#[derive(Clone)]
pub struct Stagecoach {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Random assignment's source of choices (injectable for deterministic tests).
    pick: Arc<Mutex<Box<dyn Pick>>>,
    /// Decides whether an inbound message meets a step's entry condition.
    condition: Arc<dyn EntryCondition>,
    /// The most bytes a conversation's CRM data may take, serialized.
    crm_data_limit: usize,
    /// How failed deliveries are retried.
    delivery: delivery::DeliverySettings,
    /// Seals the secrets kept in storage.
    secrets: SecretBox,
    /// Internal networks outbound requests may reach (`--outbound-allow-cidrs`), for
    /// refusing at creation a URL that no delivery could reach.
    outbound_allowed: Arc<Vec<IpNet>>,
    /// How the AI agent runs, and the client that calls its models.
    ai: Arc<ai::AiConfig>,
    model: Arc<dyn ai::ModelClient>,
    /// Calls providers' management APIs (WhatsApp templates).
    provider_client: Arc<dyn provider_api::ProviderClient>,
    breakers: Arc<ai::Breakers>,
    /// This process's identity as a worker: the holder of the leases it claims, and the
    /// server of the idempotent requests it runs.
    worker_id: uuid::Uuid,
    running_requests: Arc<idempotency::RunningRequests>,
}

impl Stagecoach {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            pick: Arc::new(Mutex::new(Box::new(ThreadRandom))),
            condition: Arc::new(KeywordTrigger),
            crm_data_limit: DEFAULT_CRM_DATA_LIMIT,
            delivery: delivery::DeliverySettings::default(),
            // A key for this process only, until the server's key is configured.
            secrets: SecretBox::new(&rand::random()),
            outbound_allowed: Arc::new(Vec::new()),
            ai: Arc::new(ai::AiConfig::default()),
            model: Arc::new(ai::NoModelClient),
            provider_client: Arc::new(provider_api::NoProviderClient),
            breakers: Arc::new(ai::Breakers::default()),
            worker_id: uuid::Uuid::now_v7(),
            running_requests: Arc::default(),
        }
    }

    /// The internal networks outbound requests may reach, as the transport is told.
    pub fn with_outbound_allow_list(mut self, allowed: Vec<IpNet>) -> Self {
        self.outbound_allowed = Arc::new(allowed);
        self
    }

    /// Bounds the size of a conversation's CRM data (serialized, in bytes).
    pub fn with_crm_data_limit(mut self, bytes: usize) -> Self {
        self.crm_data_limit = bytes;
        self
    }

    /// Replaces the source of random assignment choices.
    pub fn with_pick(mut self, pick: impl Pick + 'static) -> Self {
        self.pick = Arc::new(Mutex::new(Box::new(pick)));
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        clock::to_storage_precision(self.clock.now())
    }
}
