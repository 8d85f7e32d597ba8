//! Timeline entries in plain words, for people reading a conversation's history. Written
//! from what an entry stores (its type, actor and data), so it works for every entry ever
//! recorded, old ones included.

use serde_json::Value;

/// Names for the ids an entry holds (steps, scenarios, agents, tokens), where the reader
/// knows them; an id without a name is written as it is.
pub type Names<'a> = &'a dyn Fn(&str) -> Option<String>;

fn named(names: Names<'_>, id: &str) -> String {
    names(id).unwrap_or_else(|| id.to_owned())
}

/// Who did it, as a reader would say it.
fn who(actor: &str, names: Names<'_>) -> String {
    match actor.split_once(':') {
        Some(("ai", id)) => format!("the AI agent {}", named(names, id)),
        Some(("api_token", id)) => format!("API token {}", named(names, id)),
        Some(("step", id)) => format!("step {}", named(names, id)),
        Some(("channel", id)) => format!("channel {}", named(names, id)),
        Some(("member", id)) => format!("member {}", named(names, id)),
        _ => match actor {
            "trigger" => "a trigger".into(),
            "timer" => "a timer".into(),
            _ => "Stagecoach".into(),
        },
    }
}

fn text<'a>(data: &'a Value, field: &str) -> &'a str {
    data[field].as_str().unwrap_or("?")
}

/// One sentence saying what a timeline entry records, with ids as they are.
pub fn summarize(kind: &str, actor: &str, data: &Value) -> String {
    summarize_with(kind, actor, data, &|_| None)
}

/// [`summarize`], writing the names `names` knows instead of ids.
pub fn summarize_with(kind: &str, actor: &str, data: &Value, names: Names<'_>) -> String {
    let id = |field: &str| named(names, text(data, field));
    let who = |actor: &str| who(actor, names);
    match kind {
        "step_entered" => {
            let why = match data["cause"].as_str() {
                Some("added") => "added to the scenario",
                Some("moved") => "moved there",
                Some("trigger") => "the contact's message matched its trigger",
                Some("timer") => "the previous step's auto-advance fell due",
                Some("chained") => "the previous step advances at once",
                Some("ai") => "the AI agent judged that the contact's messages meet its condition",
                _ => "entered",
            };
            format!("Entered step {} by {}: {why}.", id("stepId"), who(actor))
        }
        "step_exited" => format!("Left step {}.", id("stepId")),
        "effect_applied" => format!(
            "The step set {} to {}.",
            text(data, "effect"),
            data["value"]
        ),
        "effect_skipped" => format!(
            "The step did not apply {}: {}.",
            text(data, "effect"),
            text(data, "reason")
        ),
        "assignee_chosen" => match data["chosen"].as_str() {
            Some(member) => format!(
                "Assigned to member {} ({} distribution over {} candidates).",
                named(names, member),
                text(data, "logic"),
                data["candidates"].as_array().map_or(0, Vec::len)
            ),
            None => format!(
                "Nobody could be assigned ({} distribution).",
                text(data, "logic")
            ),
        },
        "effect_queued" => format!("Queued the step's {} for sending.", text(data, "effect")),
        "timer_armed" => format!(
            "Will advance to step {} at {}.",
            id("targetStepId"),
            text(data, "dueAt")
        ),
        "timer_cancelled" => format!(
            "The pending auto-advance was cancelled: {}.",
            text(data, "reason")
        ),
        "timer_fired" => format!("The auto-advance to step {} fell due.", id("targetStepId")),
        "timer_stale" => format!(
            "An auto-advance fell due too late to apply: {}.",
            text(data, "reason")
        ),
        "removed_from_scenario" => format!("Removed from scenario {}.", id("scenarioId")),
        "loop_guard_stopped" => format!(
            "Stopped after {} chained step entries, at step {}.",
            data["limit"],
            id("stepId")
        ),
        "message_received" => "The contact wrote.".into(),
        "conversation_updated" => format!(
            "{} set {} to {}.",
            capitalized(&who(actor)),
            text(data, "field"),
            data["value"]
        ),
        "crm_data_updated" => format!(
            "{} updated the CRM data ({}): {}.",
            capitalized(&who(actor)),
            text(data, "mode"),
            data["changedKeys"]
                .as_array()
                .map(|keys| keys
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ),
        "message_queued" => format!(
            "{} queued a message to the contact.",
            capitalized(&who(actor))
        ),
        "placeholders_unknown" => format!(
            "A sent text named placeholders without a value: {}.",
            data["placeholders"]
        ),
        "ai_turn" => {
            let what = match data["outcome"].as_str() {
                Some("sent") => "replied".to_owned(),
                Some("no_reply") => "chose not to reply".to_owned(),
                Some("moved") => format!("moved the conversation to step {}", id("stepId")),
                Some("handed_off") => "asked for a person".to_owned(),
                Some("resolved") => "marked the conversation resolved".to_owned(),
                Some("stale") => "dropped its answer (no longer wanted)".to_owned(),
                Some("superseded") => "left the answer to the contact's newer message".to_owned(),
                Some("invalid") => "gave no usable decision".to_owned(),
                Some("rejected") => "proposed something not allowed, which was refused".to_owned(),
                Some("failed_over") => "could not answer, so a person takes over".to_owned(),
                Some("over_budget") => "reached a limit, so a person takes over".to_owned(),
                _ => "took a turn".to_owned(),
            };
            let reason = text(data, "reason");
            let agent = format!("ai:{}", text(data, "agentId"));
            if reason.is_empty() || reason == "?" {
                format!("{} {what}.", capitalized(&who(&agent)))
            } else {
                format!("{} {what}: {reason}.", capitalized(&who(&agent)))
            }
        }
        "handed_to_human" => format!("Handed to a person: {}.", text(data, "reason")),
        "note_added" | "note_updated" | "note_reminder_due" => {
            let what = match kind {
                "note_added" => format!("{} wrote a note", capitalized(&who(actor))),
                "note_updated" => format!("{} changed a note", capitalized(&who(actor))),
                _ => "A note's reminder fell due".to_owned(),
            };
            let reminder = match data["remindAt"].as_str() {
                Some(at) if kind != "note_reminder_due" => format!(", with a reminder at {at}"),
                _ => String::new(),
            };
            match data["text"].as_str() {
                Some(note) => format!("{what}{reminder}: \"{note}\"."),
                None => format!("{what} (private){reminder}."),
            }
        }
        "note_deleted" => format!("{} deleted a note.", capitalized(&who(actor))),
        other => format!("{other} by {}.", who(actor)),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::timeline::Event;
    use crate::ids::{AgentId, AiTurnId, ScenarioId, StayId, StepId};

    #[test]
    fn ai_turns_and_entries_read_as_sentences() {
        let agent = AgentId::new();
        let step = StepId::new();
        let turn = Event::AiTurn {
            turn_id: AiTurnId::new(),
            agent_id: agent,
            outcome: crate::ai::TurnOutcome::Moved,
            action: "move".into(),
            step_id: Some(step),
            reason: "asked about prices".into(),
        };
        assert_eq!(
            summarize(turn.kind(), &format!("ai:{agent}"), &turn.data()),
            format!(
                "The AI agent {agent} moved the conversation to step {step}: asked about prices."
            )
        );
        let entered = Event::StepEntered {
            scenario_id: ScenarioId::new(),
            step_id: step,
            stay_id: StayId::new(),
            previous_step_id: None,
            cause: crate::engine::timeline::EntryCause::Ai,
        };
        let sentence = summarize(entered.kind(), &format!("ai:{agent}"), &entered.data());
        assert!(sentence.contains("meet its condition"), "{sentence}");
        let handed = Event::HandedToHuman {
            reason: "the model did not answer".into(),
        };
        assert_eq!(
            summarize(handed.kind(), "system", &handed.data()),
            "Handed to a person: the model did not answer."
        );
    }

    #[test]
    fn notes_read_as_sentences_and_keep_private_text_out() {
        let note_id = crate::ids::NoteId::new();
        let public = Event::NoteAdded {
            note_id,
            private: false,
            text: Some("Call back at 3".into()),
            remind_at: None,
        };
        assert_eq!(
            summarize(public.kind(), "member:m1", &public.data()),
            "Member m1 wrote a note: \"Call back at 3\"."
        );
        let private = Event::NoteUpdated {
            note_id,
            private: true,
            text: None,
            remind_at: Some(chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
        };
        assert_eq!(
            summarize(private.kind(), "api_token:t", &private.data()),
            "API token t changed a note (private), with a reminder at 2027-01-15T08:00:00Z."
        );
        let due = Event::NoteReminderDue {
            note_id,
            private: false,
            text: Some("Call back".into()),
        };
        assert_eq!(
            summarize(due.kind(), "timer", &due.data()),
            "A note's reminder fell due: \"Call back\"."
        );
    }

    #[test]
    fn known_ids_are_written_as_names() {
        let step = StepId::new();
        let exited = Event::StepExited {
            scenario_id: ScenarioId::new(),
            step_id: step,
            stay_id: StayId::new(),
        };
        let wanted = step.to_string();
        let names = move |id: &str| (id == wanted).then(|| "Qualify".to_owned());
        assert_eq!(
            summarize_with(exited.kind(), "timer", &exited.data(), &names),
            "Left step Qualify."
        );
    }

    #[test]
    fn every_kind_gets_a_sentence() {
        for kind in ["message_received", "timer_fired", "something_new"] {
            assert!(summarize(kind, "timer", &Value::Null).ends_with('.'));
        }
    }
}
