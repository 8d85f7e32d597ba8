//! The one structured answer a model gives per turn, how it is read from what the model
//! sent, and how it is checked against what the turn allows.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::candidates::Candidate;
use crate::ids::StepId;

/// The longest reply accepted: WhatsApp's limit for a text message.
pub const MAX_REPLY_CHARS: usize = 4096;
/// How much of the model's reason the record keeps.
pub const MAX_REASON_CHARS: usize = 200;
/// The function name under which a tool-calling endpoint is asked for the decision.
pub const DECISION_TOOL: &str = "decide";

/// How the decision is asked for, by what the endpoint supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionFormat {
    /// `response_format: json_schema` (strict).
    JsonSchema,
    /// One forced call of the [`DECISION_TOOL`] function.
    Tool,
    /// A JSON object in the message text, as the system prompt describes it.
    Text,
}

impl DecisionFormat {
    pub fn for_capabilities(capabilities: super::ModelCapabilities) -> DecisionFormat {
        if capabilities.json_schema {
            DecisionFormat::JsonSchema
        } else if capabilities.tools {
            DecisionFormat::Tool
        } else {
            DecisionFormat::Text
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionFormat::JsonSchema => "json_schema",
            DecisionFormat::Tool => "tool",
            DecisionFormat::Text => "text",
        }
    }
}

/// What the model proposes.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The message to the contact, if any.
    pub reply: Option<String>,
    pub action: DecisionAction,
    pub contact: LearnedContact,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DecisionAction {
    None,
    /// Enter a step, named by the id the model wrote (checked against the candidates).
    Move(String),
    Handoff,
    Resolve,
}

impl DecisionAction {
    pub fn as_str(&self) -> &'static str {
        match self {
            DecisionAction::None => "none",
            DecisionAction::Move(_) => "move",
            DecisionAction::Handoff => "handoff",
            DecisionAction::Resolve => "resolve",
        }
    }
}

/// Contact details the model says the contact gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LearnedContact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl LearnedContact {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.email.is_none() && self.phone.is_none()
    }
}

/// The contact fields the contact really wrote: a value the model learned is kept only
/// when it appears in one of the contact's own messages (a name or an e-mail as written,
/// ignoring case and accents; a phone number as its digits). Small models invent
/// plausible details otherwise.
pub fn grounded(learned: &LearnedContact, contact_wrote: &[&str]) -> LearnedContact {
    let folded: Vec<String> = contact_wrote.iter().map(|t| crate::text::fold(t)).collect();
    let digits: Vec<String> = contact_wrote
        .iter()
        .map(|t| t.chars().filter(char::is_ascii_digit).collect())
        .collect();
    let written = |value: &String| {
        let value = crate::text::fold(value.trim());
        !value.is_empty() && folded.iter().any(|t| t.contains(&value))
    };
    // The last 8 digits: the contact may leave out the country or area code.
    let dialled = |value: &String| {
        let value: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
        let tail: String = value[value.len().saturating_sub(8)..].iter().collect();
        tail.len() == 8 && digits.iter().any(|t| t.contains(&tail))
    };
    LearnedContact {
        name: learned.name.clone().filter(written),
        email: learned.email.clone().filter(written),
        phone: learned.phone.clone().filter(dialled),
    }
}

/// The decision's JSON Schema, strict (every property required, nothing else allowed),
/// with the step id limited to the candidates. A struct rather than a JSON map, so its
/// properties keep the order a model should write them in: the reply first, the reason
/// last (small models that start with the reason ramble on inside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionSchema {
    #[serde(rename = "type")]
    kind: &'static str,
    properties: DecisionProperties,
    required: [&'static str; 5],
    #[serde(rename = "additionalProperties")]
    additional_properties: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct DecisionProperties {
    reply: Value,
    action: Value,
    #[serde(rename = "stepId")]
    step_id: Value,
    #[serde(rename = "contactFields")]
    contact_fields: Value,
    reason: Value,
}

pub fn decision_schema(candidates: &[Candidate]) -> DecisionSchema {
    let mut step_ids: Vec<Value> = candidates
        .iter()
        .map(|c| json!(c.step_id.to_string()))
        .collect();
    step_ids.push(Value::Null);
    let nullable_text = json!({"type": ["string", "null"]});
    DecisionSchema {
        kind: "object",
        properties: DecisionProperties {
            reply: json!({"type": ["string", "null"], "description": "The message to send the customer, or null to send none."}),
            // Without candidates, "move" cannot be chosen at all.
            action: if candidates.is_empty() {
                json!({"type": "string", "enum": ["none", "handoff", "resolve"]})
            } else {
                json!({"type": "string", "enum": ["none", "move", "handoff", "resolve"]})
            },
            step_id: json!({"type": ["string", "null"], "enum": step_ids, "description": "The step to move to, when action is move."}),
            contact_fields: json!({
                "type": "object",
                "properties": {"name": nullable_text, "email": nullable_text, "phone": nullable_text},
                "required": ["name", "email", "phone"],
                "additionalProperties": false
            }),
            reason: json!({"type": "string", "description": "One short line: why this decision."}),
        },
        required: ["reply", "action", "stepId", "contactFields", "reason"],
        additional_properties: false,
    }
}

/// The decision as a model writes it; lenient about what small models leave out.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WrittenDecision {
    #[serde(default)]
    reply: Option<Value>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default, alias = "step_id")]
    step_id: Option<Value>,
    #[serde(default, alias = "contact_fields")]
    contact_fields: Option<Value>,
    #[serde(default)]
    reason: Option<Value>,
}

/// Reads a decision from the model's text or tool arguments: a JSON object, possibly in
/// a code fence or with prose around it. The error says what is wrong, for the repair
/// request.
pub fn parse_decision(text: &str) -> Result<Decision, String> {
    let object = json_object_in(text).ok_or("the answer holds no JSON object")?;
    // Small models put raw new lines inside strings; read those as the escapes they meant.
    let written: WrittenDecision = serde_json::from_str(object)
        .or_else(|_| serde_json::from_str(&escape_control_characters(object)))
        .map_err(|e| format!("the JSON object is not a decision: {e}"))?;
    let reply = match written.reply {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(text.trim().to_owned()),
        Some(other) => return Err(format!("reply must be a string or null, not {other}")),
    };
    if reply
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REPLY_CHARS)
    {
        return Err(format!("reply is longer than {MAX_REPLY_CHARS} characters"));
    }
    let step_id = match written.step_id {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.trim().is_empty() => None,
        Some(Value::String(id)) => Some(id.trim().to_owned()),
        Some(other) => return Err(format!("stepId must be a string or null, not {other}")),
    };
    let action = match written.action.as_deref().map(str::trim) {
        None | Some("" | "none") => DecisionAction::None,
        Some("move" | "move_step") => {
            DecisionAction::Move(step_id.ok_or("action is move but stepId names no step")?)
        }
        Some("handoff") => DecisionAction::Handoff,
        Some("resolve") => DecisionAction::Resolve,
        Some(other) => {
            return Err(format!(
                "action must be none, move, handoff or resolve, not {other:?}"
            ));
        }
    };
    let field = |name: &str| -> Option<String> {
        written
            .contact_fields
            .as_ref()?
            .get(name)?
            .as_str()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let contact = LearnedContact {
        name: field("name"),
        email: field("email"),
        phone: field("phone"),
    };
    let reason = match written.reason {
        Some(Value::String(reason)) => reason,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    Ok(Decision {
        reply,
        action,
        contact,
        reason: clip(reason.trim(), MAX_REASON_CHARS),
    })
}

/// The JSON object in a model's answer as a value, for the turn's record (`null` when none
/// parses).
pub fn json_object_value(text: &str) -> Value {
    json_object_in(text)
        .and_then(|object| serde_json::from_str(object).ok())
        .unwrap_or(Value::Null)
}

/// The text with control characters inside JSON strings written as escapes.
fn escape_control_characters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string && !escaped && c.is_control() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                other => out.push_str(&format!("\\u{:04x}", u32::from(other))),
            }
            continue;
        }
        out.push(c);
        if escaped {
            escaped = false;
        } else if c == '\\' && in_string {
            escaped = true;
        } else if c == '"' {
            in_string = !in_string;
        }
    }
    out
}

/// The outermost `{…}` of the text, after any code fence.
fn json_object_in(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    (end > start).then(|| &text[start..=end])
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

/// What Stagecoach makes of a decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Apply it; a move names a candidate's step.
    Accept { move_to: Option<StepId> },
    /// Apply nothing of it, and record why.
    Reject(String),
}

/// Checks a decision against the turn: only a candidate step can be entered, and only
/// when the turn offered candidates.
pub fn judge(decision: &Decision, candidates: &[Candidate]) -> Verdict {
    match &decision.action {
        DecisionAction::Move(written) => {
            let chosen =
                StepId::parse(written).and_then(|id| candidates.iter().find(|c| c.step_id == id));
            match chosen {
                Some(candidate) => Verdict::Accept {
                    move_to: Some(candidate.step_id),
                },
                None if candidates.is_empty() => Verdict::Reject(format!(
                    "moved to {written:?}, but this turn offered no steps"
                )),
                None => Verdict::Reject(format!("{written:?} is not one of the offered steps")),
            }
        }
        _ => Verdict::Accept { move_to: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate() -> Candidate {
        Candidate {
            step_id: StepId::new(),
            name: "Pricing".into(),
            condition: "when the customer asks about prices".into(),
        }
    }

    #[test]
    fn reads_decisions_in_fences_and_prose() {
        let text = "Sure!\n```json\n{\"reply\": \" Hi \", \"action\": \"handoff\", \"stepId\": null, \
                    \"contactFields\": {\"name\": \"Ana\", \"email\": null, \"phone\": \"\"}, \"reason\": \"asked\"}\n```";
        let d = parse_decision(text).unwrap();
        assert_eq!(d.reply.as_deref(), Some("Hi"));
        assert_eq!(d.action, DecisionAction::Handoff);
        assert_eq!(d.contact.name.as_deref(), Some("Ana"));
        assert_eq!(d.contact.phone, None);
        assert_eq!(d.reason, "asked");
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(
            parse_decision("hello there")
                .unwrap_err()
                .contains("no JSON")
        );
        assert!(
            parse_decision("{\"action\": \"dance\"}")
                .unwrap_err()
                .contains("dance")
        );
        assert!(
            parse_decision("{\"action\": \"move\"}")
                .unwrap_err()
                .contains("stepId")
        );
        assert!(
            parse_decision("{\"reply\": 5}")
                .unwrap_err()
                .contains("reply")
        );
        let long = format!("{{\"reply\": \"{}\"}}", "a".repeat(MAX_REPLY_CHARS + 1));
        assert!(parse_decision(&long).is_err());
    }

    #[test]
    fn raw_new_lines_inside_strings_are_read_as_escapes() {
        let text =
            "{\"reply\": \"Hi!\nWe bake daily.\", \"reason\": \"a\tb\", \"action\": \"none\"}";
        let d = parse_decision(text).unwrap();
        assert_eq!(d.reply.as_deref(), Some("Hi!\nWe bake daily."));
        assert_eq!(d.reason, "a\tb");
    }

    #[test]
    fn a_missing_action_is_none_and_reasons_are_clipped() {
        let d = parse_decision(&format!(
            "{{\"reply\": \"ok\", \"reason\": \"{}\"}}",
            "r".repeat(500)
        ))
        .unwrap();
        assert_eq!(d.action, DecisionAction::None);
        assert_eq!(d.reason.chars().count(), MAX_REASON_CHARS);
    }

    #[test]
    fn only_candidates_can_be_entered() {
        let c = candidate();
        let moving = |to: String| Decision {
            reply: None,
            action: DecisionAction::Move(to),
            contact: LearnedContact::default(),
            reason: String::new(),
        };
        assert_eq!(
            judge(&moving(c.step_id.to_string()), std::slice::from_ref(&c)),
            Verdict::Accept {
                move_to: Some(c.step_id)
            }
        );
        let other = StepId::new().to_string();
        assert!(matches!(
            judge(&moving(other.clone()), &[c]),
            Verdict::Reject(_)
        ));
        assert!(matches!(judge(&moving(other), &[]), Verdict::Reject(_)));
    }

    #[test]
    fn only_details_the_contact_wrote_are_learned() {
        let learned = LearnedContact {
            name: Some("João Silva".into()),
            email: Some("ANA@example.com".into()),
            phone: Some("+55 11 98888-7777".into()),
        };
        let kept = grounded(
            &learned,
            &["sou o joao silva", "meu email: ana@example.com"],
        );
        assert_eq!(kept.name.as_deref(), Some("João Silva"));
        assert_eq!(kept.email.as_deref(), Some("ANA@example.com"));
        assert_eq!(kept.phone, None, "never written: invented");
        let kept = grounded(&learned, &["liga 11988887777"]);
        assert_eq!(kept.phone.as_deref(), Some("+55 11 98888-7777"));
        assert!(grounded(&learned, &["oi"]).is_empty());
    }

    #[test]
    fn the_schema_is_strict_and_lists_the_candidates() {
        let c = candidate();
        let schema = serde_json::to_value(decision_schema(std::slice::from_ref(&c))).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"].as_array().unwrap().len(), 5);
        let ids = schema["properties"]["stepId"]["enum"].as_array().unwrap();
        assert_eq!(ids, &vec![json!(c.step_id.to_string()), Value::Null]);
        let without = serde_json::to_value(decision_schema(&[])).unwrap();
        assert_eq!(
            without["properties"]["action"]["enum"],
            json!(["none", "handoff", "resolve"])
        );
        let text = serde_json::to_string(&decision_schema(&[])).unwrap();
        assert!(text.find("\"reply\"").unwrap() < text.find("\"reason\"").unwrap());
    }
}
