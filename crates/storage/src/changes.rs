//! What committed writes changed, for live views. A write transaction notes the
//! conversations and contacts it writes; when it commits, the store tells every
//! subscriber. SQLite (one process) tells them at once; PostgreSQL sends `pg_notify` in the
//! writing transaction, and each server's one listener tells its own subscribers, so a
//! change made on any server reaches browsers connected to every other.

use std::sync::Arc;

use stagecoach_domain::ids::{ContactId, ConversationId, OrganizationId};
use tokio::sync::broadcast;

/// How many notices a slow subscriber may fall behind before it is told to re-read.
const BACKLOG: usize = 4096;

/// The PostgreSQL channel of change notices.
pub(crate) const CHANNEL: &str = "stagecoach_changes";

/// Something a committed write changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// The conversation, its board place, messages, timeline or pending auto-advance.
    Conversation(OrganizationId, ConversationId),
    /// The contact (their name, their lead actions and payments).
    Contact(OrganizationId, ContactId),
}

impl Change {
    pub fn organization_id(&self) -> OrganizationId {
        match self {
            Change::Conversation(org, _) | Change::Contact(org, _) => *org,
        }
    }

    /// `v:<org>:<conversation>` or `k:<org>:<contact>`, for `pg_notify`.
    pub(crate) fn encode(&self) -> String {
        match self {
            Change::Conversation(org, id) => format!("v:{org}:{id}"),
            Change::Contact(org, id) => format!("k:{org}:{id}"),
        }
    }

    pub(crate) fn decode(text: &str) -> Option<Change> {
        let mut parts = text.splitn(3, ':');
        let (kind, org, id) = (parts.next()?, parts.next()?, parts.next()?);
        let org = OrganizationId::parse(org)?;
        match kind {
            "v" => ConversationId::parse(id).map(|id| Change::Conversation(org, id)),
            "k" => ContactId::parse(id).map(|id| Change::Contact(org, id)),
            _ => None,
        }
    }
}

/// What subscribers hear.
#[derive(Debug, Clone)]
pub enum ChangeNotice {
    /// One transaction's changes (or several, gathered).
    Changed(Arc<Vec<Change>>),
    /// Changes may have been missed (a lost database connection, a subscriber that fell
    /// behind): whoever shows data re-reads all of it.
    Resync,
}

/// The changes a write transaction made so far; several notes of one thing count once.
#[derive(Debug, Default)]
pub(crate) struct Touched(Vec<Change>);

impl Touched {
    pub(crate) fn note(&mut self, change: Change) {
        if !self.0.contains(&change) {
            self.0.push(change);
        }
    }

    pub(crate) fn take(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.0)
    }
}

/// Where a store publishes its changes.
#[derive(Debug, Clone)]
pub(crate) struct ChangeFeed {
    sender: broadcast::Sender<ChangeNotice>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl ChangeFeed {
    pub(crate) fn publish(&self, changes: Vec<Change>) {
        if !changes.is_empty() {
            // Nobody listening is not an error.
            let _ = self.sender.send(ChangeNotice::Changed(Arc::new(changes)));
        }
    }

    pub(crate) fn resync(&self) {
        let _ = self.sender.send(ChangeNotice::Resync);
    }

    pub(crate) fn subscribe(&self) -> ChangeSubscription {
        ChangeSubscription(self.sender.subscribe())
    }
}

/// A subscriber's end of a store's changes.
#[derive(Debug)]
pub struct ChangeSubscription(broadcast::Receiver<ChangeNotice>);

impl ChangeSubscription {
    /// The next notice; `None` once the store is gone. A subscriber that fell behind gets
    /// [`ChangeNotice::Resync`] instead of what it missed.
    pub async fn next(&mut self) -> Option<ChangeNotice> {
        match self.0.recv().await {
            Ok(notice) => Some(notice),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(ChangeNotice::Resync),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_the_notify_encoding() {
        let org = OrganizationId::new();
        for change in [
            Change::Conversation(org, ConversationId::new()),
            Change::Contact(org, ContactId::new()),
        ] {
            assert_eq!(Change::decode(&change.encode()), Some(change));
        }
        assert_eq!(Change::decode("x:1:2"), None);
    }
}
