//! What happens to a conversation when it enters a step, and the rules around it:
//! assignment, triggers, outbound effects and the timeline.

pub mod assignment;
pub mod effects;
pub mod entry;
pub mod preview;
pub mod summary;
pub mod timeline;
pub mod triggers;
