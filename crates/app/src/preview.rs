//! Previewing a step entry: the pure entry function run on the conversation as it is,
//! in a read transaction, with nothing written.

use stagecoach_domain::engine::entry::{EntryRequest, enter_step};
use stagecoach_domain::engine::preview::{EntryPreview, preview};
use stagecoach_domain::engine::timeline::EntryCause;
use stagecoach_domain::ids::{ConversationId, StepId};

use crate::crm::{find_conversation, resolve_step};
use crate::{AppError, Entity, Principal, Stagecoach, StepRef};

/// Always the first candidate: a random assignment's preview shows one possible draw.
struct FirstCandidate;

impl stagecoach_domain::engine::assignment::Pick for FirstCandidate {
    fn index(&mut self, _n: usize) -> usize {
        0
    }
}

impl Stagecoach {
    /// What entering `step` would do to the conversation now, as a move when it is on a
    /// board (the initial message only if `send_initial_message`), else as an add.
    pub async fn preview_entry(
        &self,
        who: &Principal,
        conversation: Option<ConversationId>,
        step: Option<StepId>,
        send_initial_message: bool,
    ) -> Result<EntryPreview, AppError> {
        let org = who.organization_id;
        let now = self.now();
        let mut tx = self.store.begin_read().await?;
        let conversation = find_conversation(tx.as_mut(), who, conversation).await?;
        let step = resolve_step(
            tx.as_mut(),
            who,
            StepRef::Id {
                step,
                scenario: None,
            },
        )
        .await?;
        let contact = tx
            .get_contact(org, conversation.contact_id)
            .await?
            .ok_or(AppError::not_found(Entity::Contact, "conversationId"))?;
        let leaving = tx.active_link(org, conversation.id).await?;
        let leaving_has_timer = tx.auto_advance(org, conversation.id).await?.is_some();
        let link = match &leaving {
            Some(l) if l.scenario_id == step.scenario_id => Some(l.clone()),
            _ => {
                tx.scenario_link(org, conversation.id, step.scenario_id)
                    .await?
            }
        };
        let loads = self.member_loads(tx.as_mut(), &step).await?;
        drop(tx);
        let cause = if leaving.is_some() {
            EntryCause::Moved
        } else {
            EntryCause::Added
        };
        let outcome = enter_step(EntryRequest {
            conversation: conversation.clone(),
            contact: &contact,
            step: &step,
            leaving: leaving.as_ref(),
            leaving_has_timer,
            link,
            cause,
            actor: &who.actor(),
            now,
            send_initial_message_on_move: send_initial_message,
            loads: &loads,
            pick: &mut FirstCandidate,
        });
        Ok(preview(
            &conversation,
            leaving.map(|l| l.step_id),
            &step,
            &outcome,
            &loads,
        ))
    }
}
