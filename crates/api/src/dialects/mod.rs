//! The public API dialects. Each is a thin translation onto the same use cases:
//! - [`chatvolt`]: Chatvolt's CRM API (`/crm/...`, `/agents`).
pub mod chatvolt;
