//! The public API dialects. Each is a thin translation onto the same use cases:
//! - [`chatvolt`]: Chatvolt's CRM API (`/crm/...`, `/agents`).
//! - [`native`]: Stagecoach's own API (`/v1/...`).
//! - [`texter`]: Texter's chat API (`/server/api/v2/...`).
//! - [`telecrm`]: TeleCRM's lead API (`/autoupdate/v2/enterprise/{id}/...`).
pub mod chatvolt;
pub mod native;
pub mod telecrm;
pub mod texter;
