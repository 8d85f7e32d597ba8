//! Leads (TeleCRM's door onto contacts): the per-organization settings that define lead
//! fields, the stage pipeline and custom action types; field validation; and actions,
//! whose payments keep their amount and currency forever.

pub mod actions;
pub mod fields;
pub mod settings;
