//! Step triggers: keywords and phrases matched against inbound text as whole words,
//! ignoring case and accents (`preço` matches `Qual o PRECO?`), or a regular expression
//! written `/…/`.

use regex::Regex;

use crate::step::Step;

/// Decides whether an inbound message meets a step's entry condition, at once and without
/// a model. Triggers written as sentences are judged by the AI agent in its turn instead
/// (see [`crate::ai::candidates`]), after keywords found no match.
pub trait EntryCondition: Send + Sync {
    fn matches(&self, step: &Step, text: &str) -> bool;
}

/// Matches a step's `trigger` as keywords, phrases or `/regex/`.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeywordTrigger;

impl EntryCondition for KeywordTrigger {
    fn matches(&self, step: &Step, text: &str) -> bool {
        step.settings
            .trigger
            .as_deref()
            .is_some_and(|trigger| Trigger::parse(trigger).is_ok_and(|t| t.matches(text)))
    }
}

/// A parsed trigger: any of its alternatives matching is a match.
#[derive(Debug, Clone)]
pub struct Trigger {
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone)]
enum Alternative {
    /// A keyword or phrase, as its normalized words.
    Words(Vec<String>),
    Pattern(Regex),
}

impl Trigger {
    /// Splits a trigger on commas and new lines; an alternative written `/…/` is a
    /// case-insensitive regular expression. Errors name the pattern that does not compile.
    pub fn parse(text: &str) -> Result<Trigger, String> {
        let mut alternatives = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.len() >= 2 && line.starts_with('/') && line.ends_with('/') {
                let pattern = &line[1..line.len() - 1];
                let regex = Regex::new(&format!("(?i){pattern}"))
                    .map_err(|e| format!("/{pattern}/ is not a valid regular expression: {e}"))?;
                alternatives.push(Alternative::Pattern(regex));
                continue;
            }
            for part in line.split(',') {
                let words = words(part);
                if !words.is_empty() {
                    alternatives.push(Alternative::Words(words));
                }
            }
        }
        Ok(Trigger { alternatives })
    }

    pub fn matches(&self, text: &str) -> bool {
        let text_words = words(text);
        self.alternatives
            .iter()
            .any(|alternative| match alternative {
                Alternative::Pattern(regex) => regex.is_match(text),
                Alternative::Words(phrase) => text_words
                    .windows(phrase.len())
                    .any(|window| window == phrase.as_slice()),
            })
    }
}

/// Lower-cased, accent-free words ([`crate::text::fold`]): runs of letters and digits.
fn words(text: &str) -> Vec<String> {
    crate::text::fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The step an inbound message moves a conversation to: the first step, in the given order,
/// whose trigger matches, other than the current one. Steps without a trigger (prompt only)
/// are never entered this way.
pub fn first_matching_step<'a>(
    steps: impl IntoIterator<Item = &'a Step>,
    current: Option<crate::ids::StepId>,
    text: &str,
    condition: &dyn EntryCondition,
) -> Option<&'a Step> {
    steps.into_iter().find(|step| {
        Some(step.id) != current && step.settings.trigger.is_some() && condition.matches(step, text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(trigger: &str, text: &str) -> bool {
        Trigger::parse(trigger).unwrap().matches(text)
    }

    #[test]
    fn keywords_match_whole_words_ignoring_case_and_accents() {
        assert!(m("preço", "Qual o PRECO?"));
        assert!(m("preco", "qual o preço"));
        assert!(m("price, budget", "what is the BUDGET"));
        assert!(!m("price", "priceless"));
        assert!(!m("price", "nothing here"));
    }

    #[test]
    fn phrases_match_as_a_sequence_of_words() {
        assert!(m(
            "falar com atendente",
            "Quero FALAR com   atendente, por favor"
        ));
        assert!(!m("falar com atendente", "atendente, quero falar com"));
    }

    #[test]
    fn alternatives_split_on_commas_and_lines() {
        assert!(m("a1\nb2, c3", "x c3 y"));
        assert!(m("a1\nb2, c3", "b2"));
        assert!(!m(" , \n ", "anything"));
    }

    #[test]
    fn slashes_make_a_case_insensitive_regex() {
        assert!(m("/pedido\\s*#?\\d+/", "Meu PEDIDO #123 atrasou"));
        assert!(!m("/^oi$/", "oi tudo bem"));
        assert!(Trigger::parse("/(unclosed/").is_err());
    }
}
