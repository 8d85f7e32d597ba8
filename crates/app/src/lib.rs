//! Stagecoach's use cases: the single model that every API dialect calls into.
//!
//! Each use case opens a transaction, checks what needs storage (that ids exist in the
//! caller's organization), applies the domain's pure rules and writes the result. Dialects
//! translate their shapes to and from these calls and never touch storage themselves.

mod admin;
mod agents;
mod auth;
mod clock;
mod error;
mod scenarios;
mod steps;

use std::sync::Arc;

use stagecoach_storage::Store;

pub use admin::{Bootstrap, NewToken};
pub use agents::AgentRef;
pub use auth::Principal;
pub use clock::{Clock, SystemClock};
pub use error::{AppError, Entity};
pub use steps::{StepView, missing_reference_message};

/// The entry point to every use case. Cheap to clone.
#[derive(Clone)]
pub struct Stagecoach {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Stagecoach {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        clock::to_storage_precision(self.clock.now())
    }
}
