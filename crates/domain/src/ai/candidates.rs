//! The steps a model may move a conversation to: those whose `trigger` is written as a
//! condition ("when the customer asks about prices") rather than as keywords.

use crate::ids::StepId;
use crate::step::Step;

/// The fewest words an alternative of a trigger needs to read as a condition. Keyword
/// lists ("preço, valor") and short phrases ("falar com atendente") stay keywords.
pub const CONDITION_MIN_WORDS: usize = 4;

/// Whether a trigger reads as a condition for the model to judge: not a `/regex/`, and
/// at least one of its comma- or line-separated parts has [`CONDITION_MIN_WORDS`] words.
pub fn reads_as_condition(trigger: &str) -> bool {
    let trimmed = trigger.trim();
    if trimmed.len() >= 2 && trimmed.starts_with('/') && trimmed.ends_with('/') {
        return false;
    }
    trimmed
        .lines()
        .flat_map(|line| line.split(','))
        .any(|part| part.split_whitespace().count() >= CONDITION_MIN_WORDS)
}

/// A step the model may choose, as it is shown to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub step_id: StepId,
    pub name: String,
    pub condition: String,
}

/// The candidates among `steps` (one scenario's steps in index order, or every scenario's
/// steps for a conversation in none) for a conversation at `current`:
/// - steps whose trigger reads as a condition, other than the current step;
/// - within the current step's scenario, not past a required step: a forward move may
///   reach the next required step but not skip it.
pub fn candidate_steps(steps: &[Step], current: Option<&Step>) -> Vec<Candidate> {
    // The first required step after the current one bounds how far forward a move goes.
    let barrier = current.and_then(|here| {
        steps
            .iter()
            .filter(|s| s.scenario_id == here.scenario_id && s.index > here.index)
            .filter(|s| s.settings.is_required == Some(true))
            .map(|s| s.index)
            .min()
    });
    steps
        .iter()
        .filter(|step| current.is_none_or(|here| here.id != step.id))
        .filter(|step| match (current, barrier) {
            (Some(here), Some(limit)) if step.scenario_id == here.scenario_id => {
                step.index <= limit
            }
            _ => true,
        })
        .filter_map(|step| {
            let trigger = step.settings.trigger.as_deref()?;
            reads_as_condition(trigger).then(|| Candidate {
                step_id: step.id,
                name: step.settings.name.clone(),
                condition: trigger.trim().to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrganizationId, ScenarioId};
    use crate::step::StepSettings;

    fn step(scenario: ScenarioId, index: i64, trigger: &str, required: bool) -> Step {
        Step {
            id: StepId::new(),
            organization_id: OrganizationId::new(),
            scenario_id: scenario,
            index,
            settings: StepSettings {
                name: format!("step {index}"),
                trigger: (!trigger.is_empty()).then(|| trigger.to_owned()),
                is_required: required.then_some(true),
                ..StepSettings::default()
            },
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn sentences_are_conditions_keywords_and_patterns_are_not() {
        assert!(reads_as_condition("when the customer asks about prices"));
        assert!(reads_as_condition(
            "oi\nthe customer wants to cancel the order"
        ));
        assert!(!reads_as_condition("preço, valor, orçamento"));
        assert!(!reads_as_condition("falar com atendente"));
        assert!(!reads_as_condition(
            "/the customer asks about (price|cost)/"
        ));
        assert!(!reads_as_condition("  "));
    }

    #[test]
    fn candidates_skip_keywords_the_current_step_and_steps_past_a_required_one() {
        let s = ScenarioId::new();
        let steps = vec![
            step(s, 0, "when the customer says hello again", false),
            step(s, 1, "when the customer asks about prices", false),
            step(s, 2, "price, cost", false),
            step(s, 3, "when the customer accepts the proposal", true),
            step(s, 4, "when the customer has paid the invoice", false),
            step(s, 5, "", false),
        ];
        let ids = |c: Vec<Candidate>| c.into_iter().map(|c| c.step_id).collect::<Vec<_>>();
        let from_first = candidate_steps(&steps, Some(&steps[1]));
        assert_eq!(ids(from_first), [steps[0].id, steps[3].id]);
        let from_required = candidate_steps(&steps, Some(&steps[3]));
        assert_eq!(ids(from_required), [steps[0].id, steps[1].id, steps[4].id]);
        // In no scenario, every condition step may enrol it.
        assert_eq!(candidate_steps(&steps, None).len(), 4);
    }
}
