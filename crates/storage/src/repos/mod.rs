//! One module per aggregate: its part of the [`crate::Transaction`] interface, its row type,
//! and a macro that implements it for a backend's transaction type with SQL both engines
//! accept (`$n` placeholders, `ON CONFLICT`, `RETURNING`).

pub mod agents;
pub mod board;
pub mod contacts;
pub mod conversations;
pub mod delivery;
pub mod labels;
pub mod leads;
pub mod memberships;
pub mod messages;
pub mod organizations;
pub mod scenarios;
pub mod steps;
pub mod timeline;
pub mod tokens;
