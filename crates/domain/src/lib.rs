//! Stagecoach's domain: the types every API dialect shares and the rules that govern them.
//!
//! Everything here is plain data and pure functions. There is no HTTP, no SQL and no clock
//! read in this crate; callers pass in what the rules need (the current time, the ids that
//! exist) and persist what comes out.

pub mod agent;
pub mod ai;
pub mod contact;
pub mod contact_variables;
pub mod conversation;
pub mod crm_data;
pub mod csv;
pub mod delivery;
pub mod engine;
pub mod enums;
pub mod error;
pub mod idempotency;
pub mod identifier;
pub mod ids;
pub mod label;
pub mod leads;
pub mod note;
pub mod organization;
pub mod patch;
pub mod reports;
pub mod scenario;
pub mod scope;
pub mod step;
pub mod text;
pub mod token;

pub use error::{FieldError, ValidationError};
pub use patch::Patch;
