//! What an organization configures for its AI agents: the model endpoint's abilities,
//! and the limits that hand a conversation to a human once reached.

use serde::{Deserialize, Serialize};

use crate::ValidationError;
use crate::error::Errors;

/// What a Chat Completions endpoint supports beyond plain messages. Support varies
/// (llama.cpp's Python server refuses `json_schema`; vLLM needs flags for tools), so the
/// operator says, and the decision is asked for in the best way the endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCapabilities {
    /// `tools` with a named `tool_choice`.
    pub tools: bool,
    /// `response_format: {type: "json_schema"}`.
    pub json_schema: bool,
}

impl ModelCapabilities {
    /// The names `--ai-supports` and the CLI take.
    pub const NAMES: [&'static str; 2] = ["tools", "json_schema"];

    /// Parses a comma-separated list of [`Self::NAMES`] (empty: neither).
    pub fn parse_list(text: &str) -> Result<ModelCapabilities, String> {
        let mut capabilities = ModelCapabilities::default();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "tools" => capabilities.tools = true,
                "json_schema" => capabilities.json_schema = true,
                other => {
                    return Err(format!(
                        "unknown capability {other:?}; the capabilities are {}",
                        Self::NAMES.join(", ")
                    ));
                }
            }
        }
        Ok(capabilities)
    }
}

/// The replies one conversation may get per hour when nothing else is configured.
pub const DEFAULT_REPLIES_PER_CONVERSATION_PER_HOUR: i64 = 30;

/// Limits on the AI's work; reaching one hands the conversation to a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiLimits {
    pub replies_per_conversation_per_hour: i64,
    /// Prompt and completion tokens per calendar month (UTC); `None` is no limit.
    pub tokens_per_month: Option<i64>,
}

impl Default for AiLimits {
    fn default() -> Self {
        AiLimits {
            replies_per_conversation_per_hour: DEFAULT_REPLIES_PER_CONVERSATION_PER_HOUR,
            tokens_per_month: None,
        }
    }
}

impl AiLimits {
    pub fn validated(self) -> Result<AiLimits, ValidationError> {
        let mut errors = Errors::default();
        if !(1..=10_000).contains(&self.replies_per_conversation_per_hour) {
            errors.add(
                "maxRepliesPerConversationPerHour",
                "must be between 1 and 10000",
            );
        }
        if self.tokens_per_month.is_some_and(|t| t < 1) {
            errors.add(
                "maxTokensPerMonth",
                "must be at least 1, or null for no limit",
            );
        }
        errors.into_result().map(|()| self)
    }
}

/// Checks a Chat Completions base URL (`https://api.openai.com/v1`,
/// `http://127.0.0.1:11434/v1`) and returns it without a trailing slash, so that
/// `{base}/chat/completions` is the endpoint.
pub fn normalize_base_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    crate::step::check_http_url(trimmed)?;
    if trimmed.ends_with("/chat/completions") {
        return Err("must be the API's base (ending in /v1, say), not /chat/completions".into());
    }
    Ok(trimmed.to_owned())
}

/// The model a turn asks for: the agent's, when it names one other than the default an
/// agent gets without choosing; else the endpoint's default model (so an organization on
/// Ollama need not rename every agent's model).
pub fn effective_model(agent_model: &str, endpoint_model: &str) -> String {
    if agent_model == crate::agent::DEFAULT_MODEL_NAME {
        endpoint_model.to_owned()
    } else {
        agent_model.to_owned()
    }
}

crate::enums::string_enum!(
    /// What came of an AI turn.
    TurnOutcome {
        /// The agent's reply was queued (or stored, on a conversation without a channel).
        Sent => "sent",
        /// The model chose neither a reply nor an action.
        NoReply => "no_reply",
        /// The conversation entered the step the model chose (a reply may have gone too).
        Moved => "moved",
        /// The model asked for a human.
        HandedOff => "handed_off",
        /// The model marked the conversation resolved.
        Resolved => "resolved",
        /// Before sending, AI was off, a human had written, or the status forbade it.
        Stale => "stale",
        /// A newer message from the contact came in; its turn answers both.
        Superseded => "superseded",
        /// The answer was not a decision, even after the repair attempt.
        Invalid => "invalid",
        /// The decision named a step that is not a candidate, or an action not allowed.
        Rejected => "rejected",
        /// The model could not answer in time, or its endpoint kept failing: a human
        /// took over.
        FailedOver => "failed_over",
        /// A limit was reached: a human took over.
        OverBudget => "over_budget",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_parse_from_a_list() {
        assert_eq!(
            ModelCapabilities::parse_list(" tools ,json_schema"),
            Ok(ModelCapabilities {
                tools: true,
                json_schema: true
            })
        );
        assert_eq!(
            ModelCapabilities::parse_list(""),
            Ok(ModelCapabilities::default())
        );
        assert!(ModelCapabilities::parse_list("vision").is_err());
    }

    #[test]
    fn base_urls_lose_their_trailing_slash_and_must_be_the_base() {
        assert_eq!(
            normalize_base_url("http://127.0.0.1:11434/v1/"),
            Ok("http://127.0.0.1:11434/v1".into())
        );
        assert!(normalize_base_url("https://api.openai.com/v1/chat/completions").is_err());
        assert!(normalize_base_url("ftp://x").is_err());
    }

    #[test]
    fn an_agent_without_a_chosen_model_uses_the_endpoints() {
        assert_eq!(
            effective_model(crate::agent::DEFAULT_MODEL_NAME, "llama3.2"),
            "llama3.2"
        );
        assert_eq!(effective_model("qwen2.5", "llama3.2"), "qwen2.5");
    }

    #[test]
    fn limits_are_bounded() {
        assert!(AiLimits::default().validated().is_ok());
        let bad = AiLimits {
            replies_per_conversation_per_hour: 0,
            tokens_per_month: Some(0),
        };
        assert_eq!(bad.validated().unwrap_err().0.len(), 2);
    }
}
