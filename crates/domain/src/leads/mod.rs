//! Leads (TeleCRM's door onto contacts): the per-organization settings that define lead
//! fields, the stage pipeline and custom action types; field validation; actions, whose
//! payments keep their amount and currency forever; and money, written with each
//! currency's decimals.

pub mod actions;
pub mod fields;
pub mod money;
pub mod settings;
