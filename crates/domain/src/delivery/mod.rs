//! Outbound delivery rules: when to retry, how to sign, which addresses may be called, how
//! events are shaped for each payload style, what providers are sent, and how message
//! texts are filled in.

pub mod network;
pub mod placeholders;
pub mod providers;
pub mod retry;
pub mod signing;
pub mod targets;
pub mod whatsapp_templates;
