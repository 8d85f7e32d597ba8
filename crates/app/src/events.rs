//! Telling event subscriptions what happened: events are queued in the same transaction
//! as the change they describe, with the actor that caused it, so an integration can
//! ignore its own writes. The delivery worker fans them out to endpoints.

use serde_json::{Value, json};
use stagecoach_domain::conversation::Conversation;
use stagecoach_domain::delivery::targets::change_event_type;
use stagecoach_domain::engine::effects::OutboundEffect;
use stagecoach_domain::engine::timeline::{Actor, Event};
use stagecoach_domain::ids::{ContactId, ConversationId, OrganizationId, OutboxId};
use stagecoach_storage::Transaction;

use crate::auth::Principal;
use crate::{AppError, Stagecoach};

impl Stagecoach {
    /// Queues an event about a conversation.
    pub(crate) async fn emit(
        &self,
        tx: &mut dyn Transaction,
        conversation: &Conversation,
        event_type: &str,
        actor: &Actor,
        data: Value,
    ) -> Result<(), AppError> {
        let about = (Some(conversation.id), conversation.contact_id);
        self.queue_event(
            tx,
            conversation.organization_id,
            about,
            event_type,
            actor,
            data,
        )
        .await
    }

    /// Queues an event about a conversation and a contact, or about a contact (a lead)
    /// alone.
    pub(crate) async fn queue_event(
        &self,
        tx: &mut dyn Transaction,
        org: OrganizationId,
        (conversation, contact): (Option<ConversationId>, ContactId),
        event_type: &str,
        actor: &Actor,
        data: Value,
    ) -> Result<(), AppError> {
        let effect = event_effect((conversation, contact), event_type, actor, data);
        tx.enqueue(org, conversation, OutboxId::new(), &effect, self.now())
            .await?;
        Ok(())
    }

    /// Saves a client's direct change to a conversation, notes it in the timeline and,
    /// for status, priority and assignees, tells subscriptions.
    pub(crate) async fn record_change(
        &self,
        tx: &mut dyn Transaction,
        who: &Principal,
        conversation: &mut Conversation,
        field: &'static str,
        value: Value,
    ) -> Result<(), AppError> {
        let now = self.now();
        let actor = who.actor();
        conversation.updated_at = now;
        tx.save_conversation(conversation, now).await?;
        if let Some(event_type) = change_event_type(field) {
            self.emit(
                tx,
                conversation,
                event_type,
                &actor,
                json!({ field: value }),
            )
            .await?;
        }
        let event = Event::ConversationUpdated { field, value };
        tx.append_event(who.organization_id, conversation.id, &event, &actor, now)
            .await?;
        Ok(())
    }
}

/// The events a step entry's changes produce (status, priority, assignees).
pub(crate) fn entry_change_events(
    before: &Conversation,
    after: &Conversation,
    actor: &Actor,
) -> Vec<OutboundEffect> {
    let changes = [
        ("status", before.status != after.status, json!(after.status)),
        (
            "priority",
            before.priority != after.priority,
            json!(after.priority),
        ),
        (
            "assignees",
            before.assignees != after.assignees,
            json!(after.assignees),
        ),
    ];
    changes
        .into_iter()
        .filter_map(|(field, changed, value)| {
            let event_type = change_event_type(field).filter(|_| changed)?;
            Some(conversation_event(
                after,
                event_type,
                actor,
                json!({ field: value }),
            ))
        })
        .collect()
}

/// An event about a conversation (and its contact), as subscriptions receive it.
pub(crate) fn conversation_event(
    conversation: &Conversation,
    event_type: &str,
    actor: &Actor,
    data: Value,
) -> OutboundEffect {
    let about = (Some(conversation.id), conversation.contact_id);
    event_effect(about, event_type, actor, data)
}

/// An event about a conversation and a contact, or about a contact (a lead) alone.
fn event_effect(
    (conversation, contact): (Option<ConversationId>, ContactId),
    event_type: &str,
    actor: &Actor,
    data: Value,
) -> OutboundEffect {
    OutboundEffect::Event {
        event_type: event_type.to_owned(),
        conversation_id: conversation,
        contact_id: Some(contact),
        actor: actor.label(),
        data,
    }
}
