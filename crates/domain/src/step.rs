//! Steps: their settings, the rules a valid step obeys, and partial updates.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::ValidationError;
use crate::enums::{AssigneeLogic, ConversationStatus, Priority, TimeUnit};
use crate::error::Errors;
use crate::ids::{AgentId, MembershipId, OrganizationId, ScenarioId, StepId};
use crate::organization::clean_name;
use crate::patch::Patch;

/// The longest auto-advance delay a step may set. Anything longer is almost certainly a unit
/// mistake (seconds sent with `d`), and a bound keeps due-time arithmetic far from overflow.
pub const MAX_AUTO_NEXT_DELAY_SECONDS: i64 = 366 * 86_400;

/// How many members a step may choose among; each is checked against storage.
pub const MAX_SELECTED_MEMBERS: usize = 500;

/// How many tags a step may add or remove, and how long one tag may be.
pub const MAX_TAGS: usize = 100;
pub const MAX_TAG_LEN: usize = 100;

/// A step as stored: where it sits and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: StepId,
    pub organization_id: OrganizationId,
    pub scenario_id: ScenarioId,
    /// 0-based position in its scenario; a scenario's indexes are always 0..n.
    pub index: i64,
    pub settings: StepSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which contact details the agent should still collect in this step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RequestContact {
    #[serde(default)]
    pub name: bool,
    #[serde(default)]
    pub email: bool,
    #[serde(default)]
    pub phone: bool,
}

/// Everything an operator configures on a step. Every rule is optional, as in the seeds:
/// an unset rule leaves that part of the conversation as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepSettings {
    pub name: String,
    pub agent_id: Option<AgentId>,
    pub trigger: Option<String>,
    pub prompt: Option<String>,
    pub initial_message: Option<String>,
    pub auto_next_step_id: Option<StepId>,
    pub auto_next_time: Option<i64>,
    pub auto_next_time_unit: Option<TimeUnit>,
    pub default_status: Option<ConversationStatus>,
    pub default_priority: Option<Priority>,
    pub default_ai_control: Option<bool>,
    pub assignee_logic_type: Option<AssigneeLogic>,
    pub selected_membership_ids: Option<Vec<MembershipId>>,
    pub is_required: Option<bool>,
    pub is_conversation_removal_step: Option<bool>,
    pub default_tags: Option<Vec<String>>,
    pub default_tags_to_remove: Option<Vec<String>>,
    pub request_contact: Option<RequestContact>,
    pub zapi_agent_id: Option<AgentId>,
    pub zapi_phone_number: Option<String>,
    pub zapi_message: Option<String>,
    pub whatsapp_template_agent_id: Option<AgentId>,
    pub whatsapp_template_name: Option<String>,
    pub whatsapp_template_language_code: Option<String>,
    pub whatsapp_template_text: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_header: Option<BTreeMap<String, String>>,
}

/// What a step's webhook header values read as to a caller who may not change the step:
/// they carry the receiver's secrets.
pub const MASKED_HEADER_VALUE: &str = "********";

impl StepSettings {
    /// The settings with every webhook header value replaced by [`MASKED_HEADER_VALUE`];
    /// the header names stay, so a reader still sees what is sent.
    pub fn with_header_values_masked(mut self) -> Self {
        if let Some(headers) = &mut self.webhook_header {
            for value in headers.values_mut() {
                MASKED_HEADER_VALUE.clone_into(value);
            }
        }
        self
    }
}

/// A partial update of a step's settings: absent fields stay, `null` clears.
#[derive(Debug, Clone, Default)]
pub struct StepPatch {
    pub name: Patch<String>,
    pub agent_id: Patch<AgentId>,
    pub trigger: Patch<String>,
    pub prompt: Patch<String>,
    pub initial_message: Patch<String>,
    pub auto_next_step_id: Patch<StepId>,
    pub auto_next_time: Patch<i64>,
    pub auto_next_time_unit: Patch<TimeUnit>,
    pub default_status: Patch<ConversationStatus>,
    pub default_priority: Patch<Priority>,
    pub default_ai_control: Patch<bool>,
    pub assignee_logic_type: Patch<AssigneeLogic>,
    pub selected_membership_ids: Patch<Vec<MembershipId>>,
    pub is_required: Patch<bool>,
    pub is_conversation_removal_step: Patch<bool>,
    pub default_tags: Patch<Vec<String>>,
    pub default_tags_to_remove: Patch<Vec<String>>,
    pub request_contact: Patch<RequestContact>,
    pub zapi_agent_id: Patch<AgentId>,
    pub zapi_phone_number: Patch<String>,
    pub zapi_message: Patch<String>,
    pub whatsapp_template_agent_id: Patch<AgentId>,
    pub whatsapp_template_name: Patch<String>,
    pub whatsapp_template_language_code: Patch<String>,
    pub whatsapp_template_text: Patch<String>,
    pub webhook_url: Patch<String>,
    pub webhook_header: Patch<BTreeMap<String, String>>,
}

impl StepPatch {
    /// A patch that replaces every field with `settings`' (unset ones are cleared): what
    /// saving a whole step form asks for.
    pub fn replacing(settings: StepSettings) -> StepPatch {
        let StepSettings {
            name,
            agent_id,
            trigger,
            prompt,
            initial_message,
            auto_next_step_id,
            auto_next_time,
            auto_next_time_unit,
            default_status,
            default_priority,
            default_ai_control,
            assignee_logic_type,
            selected_membership_ids,
            is_required,
            is_conversation_removal_step,
            default_tags,
            default_tags_to_remove,
            request_contact,
            zapi_agent_id,
            zapi_phone_number,
            zapi_message,
            whatsapp_template_agent_id,
            whatsapp_template_name,
            whatsapp_template_language_code,
            whatsapp_template_text,
            webhook_url,
            webhook_header,
        } = settings;
        StepPatch {
            name: Patch::Set(name),
            agent_id: agent_id.into(),
            trigger: trigger.into(),
            prompt: prompt.into(),
            initial_message: initial_message.into(),
            auto_next_step_id: auto_next_step_id.into(),
            auto_next_time: auto_next_time.into(),
            auto_next_time_unit: auto_next_time_unit.into(),
            default_status: default_status.into(),
            default_priority: default_priority.into(),
            default_ai_control: default_ai_control.into(),
            assignee_logic_type: assignee_logic_type.into(),
            selected_membership_ids: selected_membership_ids.into(),
            is_required: is_required.into(),
            is_conversation_removal_step: is_conversation_removal_step.into(),
            default_tags: default_tags.into(),
            default_tags_to_remove: default_tags_to_remove.into(),
            request_contact: request_contact.into(),
            zapi_agent_id: zapi_agent_id.into(),
            zapi_phone_number: zapi_phone_number.into(),
            zapi_message: zapi_message.into(),
            whatsapp_template_agent_id: whatsapp_template_agent_id.into(),
            whatsapp_template_name: whatsapp_template_name.into(),
            whatsapp_template_language_code: whatsapp_template_language_code.into(),
            whatsapp_template_text: whatsapp_template_text.into(),
            webhook_url: webhook_url.into(),
            webhook_header: webhook_header.into(),
        }
    }

    /// Whether the patch changes anything at all (an update must carry at least one field).
    pub fn is_empty(&self) -> bool {
        let StepPatch {
            name,
            agent_id,
            trigger,
            prompt,
            initial_message,
            auto_next_step_id,
            auto_next_time,
            auto_next_time_unit,
            default_status,
            default_priority,
            default_ai_control,
            assignee_logic_type,
            selected_membership_ids,
            is_required,
            is_conversation_removal_step,
            default_tags,
            default_tags_to_remove,
            request_contact,
            zapi_agent_id,
            zapi_phone_number,
            zapi_message,
            whatsapp_template_agent_id,
            whatsapp_template_name,
            whatsapp_template_language_code,
            whatsapp_template_text,
            webhook_url,
            webhook_header,
        } = self;
        [
            name.is_absent(),
            agent_id.is_absent(),
            trigger.is_absent(),
            prompt.is_absent(),
            initial_message.is_absent(),
            auto_next_step_id.is_absent(),
            auto_next_time.is_absent(),
            auto_next_time_unit.is_absent(),
            default_status.is_absent(),
            default_priority.is_absent(),
            default_ai_control.is_absent(),
            assignee_logic_type.is_absent(),
            selected_membership_ids.is_absent(),
            is_required.is_absent(),
            is_conversation_removal_step.is_absent(),
            default_tags.is_absent(),
            default_tags_to_remove.is_absent(),
            request_contact.is_absent(),
            zapi_agent_id.is_absent(),
            zapi_phone_number.is_absent(),
            zapi_message.is_absent(),
            whatsapp_template_agent_id.is_absent(),
            whatsapp_template_name.is_absent(),
            whatsapp_template_language_code.is_absent(),
            whatsapp_template_text.is_absent(),
            webhook_url.is_absent(),
            webhook_header.is_absent(),
        ]
        .into_iter()
        .all(|absent| absent)
    }
}

impl StepSettings {
    /// The settings after a partial update. Validate the result: a patch can break a rule
    /// that involves fields it did not touch (clearing `trigger` when there is no `prompt`).
    pub fn patched(self, mut p: StepPatch) -> StepSettings {
        // Chatvolt documents `null` on autoNextTime or autoNextStepId as removing the
        // auto-advance: the parts of it the patch leaves untouched go with it.
        let clears_auto_next =
            matches!(p.auto_next_time, Patch::Null) || matches!(p.auto_next_step_id, Patch::Null);
        if clears_auto_next {
            if p.auto_next_time.is_absent() {
                p.auto_next_time = Patch::Null;
            }
            if p.auto_next_step_id.is_absent() {
                p.auto_next_step_id = Patch::Null;
            }
            if p.auto_next_time_unit.is_absent() {
                p.auto_next_time_unit = Patch::Null;
            }
        }
        StepSettings {
            name: p.name.apply(Some(self.name)).unwrap_or_default(),
            agent_id: p.agent_id.apply(self.agent_id),
            trigger: p.trigger.apply(self.trigger),
            prompt: p.prompt.apply(self.prompt),
            initial_message: p.initial_message.apply(self.initial_message),
            auto_next_step_id: p.auto_next_step_id.apply(self.auto_next_step_id),
            auto_next_time: p.auto_next_time.apply(self.auto_next_time),
            auto_next_time_unit: p.auto_next_time_unit.apply(self.auto_next_time_unit),
            default_status: p.default_status.apply(self.default_status),
            default_priority: p.default_priority.apply(self.default_priority),
            default_ai_control: p.default_ai_control.apply(self.default_ai_control),
            assignee_logic_type: p.assignee_logic_type.apply(self.assignee_logic_type),
            selected_membership_ids: p
                .selected_membership_ids
                .apply(self.selected_membership_ids),
            is_required: p.is_required.apply(self.is_required),
            is_conversation_removal_step: p
                .is_conversation_removal_step
                .apply(self.is_conversation_removal_step),
            default_tags: p.default_tags.apply(self.default_tags),
            default_tags_to_remove: p.default_tags_to_remove.apply(self.default_tags_to_remove),
            request_contact: p.request_contact.apply(self.request_contact),
            zapi_agent_id: p.zapi_agent_id.apply(self.zapi_agent_id),
            zapi_phone_number: p.zapi_phone_number.apply(self.zapi_phone_number),
            zapi_message: p.zapi_message.apply(self.zapi_message),
            whatsapp_template_agent_id: p
                .whatsapp_template_agent_id
                .apply(self.whatsapp_template_agent_id),
            whatsapp_template_name: p.whatsapp_template_name.apply(self.whatsapp_template_name),
            whatsapp_template_language_code: p
                .whatsapp_template_language_code
                .apply(self.whatsapp_template_language_code),
            whatsapp_template_text: p.whatsapp_template_text.apply(self.whatsapp_template_text),
            webhook_url: p.webhook_url.apply(self.webhook_url),
            webhook_header: p.webhook_header.apply(self.webhook_header),
        }
    }

    /// Checks every rule a step must obey on its own and normalizes what it keeps (trimmed
    /// name, blank texts as absent, tags trimmed and deduplicated). Rules that need storage
    /// (references exist in the organization, the auto-advance target is in the same
    /// scenario) are listed by [`StepSettings::references`] for the caller to check.
    ///
    /// `own_id` is the step's id when it already exists, so it cannot advance to itself.
    pub fn validated(mut self, own_id: Option<StepId>) -> Result<StepSettings, ValidationError> {
        let mut errors = Errors::default();

        match clean_name("name", &self.name) {
            Ok(name) => self.name = name,
            Err(e) => errors.extend(e),
        }

        self.trigger = blank_as_none(self.trigger);
        self.prompt = blank_as_none(self.prompt);
        if let Some(trigger) = &self.trigger
            && let Err(message) = crate::engine::triggers::Trigger::parse(trigger)
        {
            errors.add("trigger", message);
        }
        if self.trigger.is_none() && self.prompt.is_none() {
            errors.add(
                "trigger",
                "either trigger or prompt is required (a non-empty string)",
            );
        }

        check_auto_next(&self, own_id, &mut errors);
        check_assignees(&mut self, &mut errors);

        for (field, tags) in [
            ("defaultTags", &mut self.default_tags),
            ("defaultTagsToRemove", &mut self.default_tags_to_remove),
        ] {
            if let Some(list) = tags.take() {
                match clean_tags(list) {
                    Ok(clean) => *tags = Some(clean),
                    Err(message) => errors.add(field, message),
                }
            }
        }

        if let Some(url) = &self.webhook_url
            && let Err(message) = check_http_url(url)
        {
            errors.add("webhookUrl", message);
        }
        if let Some(headers) = &self.webhook_header {
            for name in headers.keys() {
                if !is_header_name(name) {
                    errors.add(
                        "webhookHeader",
                        format!("{name:?} is not a valid HTTP header name"),
                    );
                }
            }
            for value in headers.values() {
                if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
                    errors.add(
                        "webhookHeader",
                        "header values must not contain line breaks",
                    );
                }
            }
        }

        errors.into_result().map(|()| self)
    }

    /// How long after entering the step the conversation advances, when it does.
    /// Without a unit the time is in seconds, as the seeds describe it.
    pub fn auto_next_delay(&self) -> Option<Duration> {
        self.auto_next_step_id?;
        let seconds = match (self.auto_next_time, self.auto_next_time_unit) {
            (None, _) => 0,
            (Some(time), None) => time,
            (Some(time), Some(unit)) => time.saturating_mul(unit.seconds()),
        };
        Some(Duration::seconds(seconds))
    }

    /// Every id this step points at, with the field that names it, for the caller to check
    /// against storage (same organization; for `autoNextStepId`, same scenario).
    pub fn references(&self) -> Vec<Reference> {
        let mut refs = Vec::new();
        for (field, agent) in [
            ("agentId", self.agent_id),
            ("zapiAgentId", self.zapi_agent_id),
            ("whatsappTemplateAgentId", self.whatsapp_template_agent_id),
        ] {
            if let Some(id) = agent {
                refs.push(Reference::Agent { field, id });
            }
        }
        for id in self.selected_membership_ids.iter().flatten() {
            refs.push(Reference::Membership {
                field: "selectedMembershipIdsForAssignee",
                id: *id,
            });
        }
        if let Some(id) = self.auto_next_step_id {
            refs.push(Reference::StepInSameScenario {
                field: "autoNextStepId",
                id,
            });
        }
        refs
    }
}

/// An id a step refers to, which must exist in the step's organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    Agent {
        field: &'static str,
        id: AgentId,
    },
    Membership {
        field: &'static str,
        id: MembershipId,
    },
    StepInSameScenario {
        field: &'static str,
        id: StepId,
    },
}

fn blank_as_none(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

fn check_auto_next(s: &StepSettings, own_id: Option<StepId>, errors: &mut Errors) {
    if let Some(time) = s.auto_next_time {
        if time <= 0 {
            errors.add("autoNextTime", "must be a positive integer");
        } else if s.auto_next_step_id.is_none() {
            errors.add(
                "autoNextTime",
                "needs autoNextStepId: a delay without a step to advance to does nothing \
                 (send autoNextTime: null to remove the auto-advance)",
            );
        } else {
            let unit_seconds = s.auto_next_time_unit.map_or(1, TimeUnit::seconds);
            if time.saturating_mul(unit_seconds) > MAX_AUTO_NEXT_DELAY_SECONDS {
                errors.add("autoNextTime", "must be at most 366 days");
            }
        }
    }
    if s.auto_next_time_unit.is_some() && s.auto_next_time.is_none() {
        errors.add(
            "autoNextTimeUnit",
            "needs autoNextTime: a unit without a time says nothing \
             (send autoNextTimeUnit: null to remove it)",
        );
    }
    if let (Some(target), Some(own)) = (s.auto_next_step_id, own_id)
        && target == own
    {
        errors.add(
            "autoNextStepId",
            "must be another step, not the step itself",
        );
    }
}

fn check_assignees(s: &mut StepSettings, errors: &mut Errors) {
    if let Some(ids) = &mut s.selected_membership_ids {
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        if ids.len() > MAX_SELECTED_MEMBERS {
            errors.add(
                "selectedMembershipIdsForAssignee",
                format!("must hold at most {MAX_SELECTED_MEMBERS} membership ids"),
            );
        }
    }
    let Some(logic) = s.assignee_logic_type else {
        return;
    };
    if !logic.needs_members() {
        return;
    }
    let count = s.selected_membership_ids.as_ref().map_or(0, Vec::len);
    if count == 0 {
        errors.add(
            "selectedMembershipIdsForAssignee",
            format!("is required and must not be empty when assigneeLogicType is {logic}"),
        );
    } else if logic == AssigneeLogic::SingleUser && count != 1 {
        errors.add(
            "selectedMembershipIdsForAssignee",
            format!("must hold exactly one membership id when assigneeLogicType is single_user (got {count})"),
        );
    }
}

fn clean_tags(tags: Vec<String>) -> Result<Vec<String>, String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("must hold at most {MAX_TAGS} tags"));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            return Err("tags must not be empty".into());
        }
        if tag.chars().count() > MAX_TAG_LEN {
            return Err(format!("tags must be at most {MAX_TAG_LEN} characters"));
        }
        if !clean.iter().any(|t| t == tag) {
            clean.push(tag.to_owned());
        }
    }
    Ok(clean)
}

/// An absolute http(s) URL with a host, the only kind an outbound call can use.
/// Checks a new order of a scenario's steps: every current step exactly once.
pub fn check_step_order(current: &[StepId], wanted: &[StepId]) -> Result<(), ValidationError> {
    let mut seen = std::collections::HashSet::new();
    for id in wanted {
        if !current.contains(id) {
            return Err(ValidationError::single(
                "stepIds",
                format!("{id} is not a step of this scenario"),
            ));
        }
        if !seen.insert(*id) {
            return Err(ValidationError::single(
                "stepIds",
                format!("{id} is listed twice"),
            ));
        }
    }
    if wanted.len() != current.len() {
        return Err(ValidationError::single(
            "stepIds",
            format!(
                "lists {} of the scenario's {} steps: list every step once",
                wanted.len(),
                current.len()
            ),
        ));
    }
    Ok(())
}

pub fn check_http_url(raw: &str) -> Result<(), String> {
    match url::Url::parse(raw.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(_) => Err("must be an absolute http:// or https:// URL".into()),
        Err(e) => Err(format!("must be an absolute http:// or https:// URL ({e})")),
    }
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacing_patch_yields_exactly_the_settings() {
        let before = StepSettings {
            name: "Old".into(),
            prompt: Some("p".into()),
            default_tags: Some(vec!["a".into()]),
            webhook_url: Some("https://x.example".into()),
            ..StepSettings::default()
        };
        let wanted = StepSettings {
            name: "New".into(),
            trigger: Some("t".into()),
            auto_next_time: Some(5),
            ..StepSettings::default()
        };
        assert_eq!(before.patched(StepPatch::replacing(wanted.clone())), wanted);
    }

    #[test]
    fn a_step_order_lists_every_step_once() {
        let [a, b, c] = [StepId::new(), StepId::new(), StepId::new()];
        assert!(check_step_order(&[a, b, c], &[c, a, b]).is_ok());
        for wanted in [vec![a, b], vec![a, b, b], vec![a, b, c, StepId::new()]] {
            let refused = check_step_order(&[a, b, c], &wanted).unwrap_err();
            assert_eq!(refused.0[0].field, "stepIds", "{wanted:?}");
        }
    }

    fn valid() -> StepSettings {
        StepSettings {
            name: "Qualify".into(),
            trigger: Some("price".into()),
            ..StepSettings::default()
        }
    }

    fn fields(err: ValidationError) -> Vec<String> {
        err.0.into_iter().map(|e| e.field.into_owned()).collect()
    }

    #[test]
    fn name_is_required_and_trimmed() {
        let s = StepSettings {
            name: "  Qualify ".into(),
            ..valid()
        };
        assert_eq!(s.validated(None).unwrap().name, "Qualify");
        let s = StepSettings {
            name: " ".into(),
            ..valid()
        };
        assert_eq!(fields(s.validated(None).unwrap_err()), ["name"]);
    }

    #[test]
    fn regex_triggers_must_compile() {
        let s = StepSettings {
            trigger: Some("/(open/".into()),
            ..valid()
        };
        assert_eq!(fields(s.validated(None).unwrap_err()), ["trigger"]);
    }

    #[test]
    fn trigger_or_prompt_is_required() {
        let s = StepSettings {
            trigger: None,
            prompt: Some("ask".into()),
            ..valid()
        };
        assert!(s.validated(None).is_ok());
        let s = StepSettings {
            trigger: Some("  ".into()),
            prompt: None,
            ..valid()
        };
        assert_eq!(fields(s.validated(None).unwrap_err()), ["trigger"]);
    }

    #[test]
    fn member_logic_needs_members() {
        for logic in [
            AssigneeLogic::SingleUser,
            AssigneeLogic::RandomSelected,
            AssigneeLogic::FairDistributionSelected,
        ] {
            for ids in [None, Some(vec![])] {
                let s = StepSettings {
                    assignee_logic_type: Some(logic),
                    selected_membership_ids: ids,
                    ..valid()
                };
                assert_eq!(
                    fields(s.validated(None).unwrap_err()),
                    ["selectedMembershipIdsForAssignee"]
                );
            }
        }
        for logic in [AssigneeLogic::None, AssigneeLogic::Clear] {
            let s = StepSettings {
                assignee_logic_type: Some(logic),
                ..valid()
            };
            assert!(s.validated(None).is_ok());
        }
    }

    #[test]
    fn member_lists_are_bounded() {
        let many: Vec<MembershipId> = (0..=MAX_SELECTED_MEMBERS)
            .map(|_| MembershipId::new())
            .collect();
        let s = StepSettings {
            assignee_logic_type: Some(AssigneeLogic::RandomSelected),
            selected_membership_ids: Some(many),
            ..valid()
        };
        assert_eq!(
            fields(s.validated(None).unwrap_err()),
            ["selectedMembershipIdsForAssignee"]
        );
    }

    #[test]
    fn single_user_takes_exactly_one_member() {
        let two = vec![MembershipId::new(), MembershipId::new()];
        let s = StepSettings {
            assignee_logic_type: Some(AssigneeLogic::SingleUser),
            selected_membership_ids: Some(two.clone()),
            ..valid()
        };
        assert_eq!(
            fields(s.validated(None).unwrap_err()),
            ["selectedMembershipIdsForAssignee"]
        );
        // The same member twice is one member.
        let same = vec![two[0], two[0]];
        let s = StepSettings {
            assignee_logic_type: Some(AssigneeLogic::SingleUser),
            selected_membership_ids: Some(same),
            ..valid()
        };
        assert_eq!(
            s.validated(None).unwrap().selected_membership_ids,
            Some(vec![two[0]])
        );
    }

    #[test]
    fn auto_next_rules() {
        let target = StepId::new();
        let ok = StepSettings {
            auto_next_step_id: Some(target),
            auto_next_time: Some(2),
            auto_next_time_unit: Some(TimeUnit::Hours),
            ..valid()
        };
        assert_eq!(
            ok.clone().validated(None).unwrap().auto_next_delay(),
            Some(Duration::hours(2))
        );

        let no_target = StepSettings {
            auto_next_step_id: None,
            ..ok.clone()
        };
        assert_eq!(
            fields(no_target.validated(None).unwrap_err()),
            ["autoNextTime"]
        );

        let unit_only = StepSettings {
            auto_next_time: None,
            ..ok.clone()
        };
        assert_eq!(
            fields(unit_only.validated(None).unwrap_err()),
            ["autoNextTimeUnit"]
        );

        for bad in [0, -5] {
            let s = StepSettings {
                auto_next_time: Some(bad),
                ..ok.clone()
            };
            assert_eq!(fields(s.validated(None).unwrap_err()), ["autoNextTime"]);
        }

        let too_long = StepSettings {
            auto_next_time: Some(367),
            auto_next_time_unit: Some(TimeUnit::Days),
            ..ok.clone()
        };
        assert_eq!(
            fields(too_long.validated(None).unwrap_err()),
            ["autoNextTime"]
        );

        let to_itself = ok.clone();
        assert_eq!(
            fields(to_itself.validated(Some(target)).unwrap_err()),
            ["autoNextStepId"]
        );
    }

    #[test]
    fn null_time_or_target_removes_the_whole_auto_advance() {
        let target = StepId::new();
        let with_auto_next = StepSettings {
            auto_next_step_id: Some(target),
            auto_next_time: Some(2),
            auto_next_time_unit: Some(TimeUnit::Hours),
            ..valid()
        };
        for patch in [
            StepPatch {
                auto_next_time: Patch::Null,
                auto_next_step_id: Patch::Null,
                ..StepPatch::default()
            },
            StepPatch {
                auto_next_time: Patch::Null,
                ..StepPatch::default()
            },
            StepPatch {
                auto_next_step_id: Patch::Null,
                ..StepPatch::default()
            },
        ] {
            let cleared = with_auto_next
                .clone()
                .patched(patch)
                .validated(None)
                .unwrap();
            assert_eq!(cleared.auto_next_step_id, None);
            assert_eq!(cleared.auto_next_time, None);
            assert_eq!(cleared.auto_next_time_unit, None);
            assert_eq!(cleared.auto_next_delay(), None);
        }
        // A part the same patch sets is kept: a new target with no delay advances at once.
        let other = StepId::new();
        let retargeted = with_auto_next
            .clone()
            .patched(StepPatch {
                auto_next_time: Patch::Null,
                auto_next_step_id: Patch::Set(other),
                ..StepPatch::default()
            })
            .validated(None)
            .unwrap();
        assert_eq!(retargeted.auto_next_step_id, Some(other));
        assert_eq!(retargeted.auto_next_time_unit, None);
        // A patch that leaves both alone leaves the auto-advance alone.
        let renamed = with_auto_next.clone().patched(StepPatch {
            name: Patch::Set("Renamed".into()),
            ..StepPatch::default()
        });
        assert_eq!(renamed.auto_next_time_unit, Some(TimeUnit::Hours));
    }

    #[test]
    fn delay_is_in_seconds_without_a_unit_and_zero_without_a_time() {
        let target = Some(StepId::new());
        let s = StepSettings {
            auto_next_step_id: target,
            auto_next_time: Some(90),
            ..valid()
        };
        assert_eq!(s.auto_next_delay(), Some(Duration::seconds(90)));
        let s = StepSettings {
            auto_next_step_id: target,
            auto_next_time: Some(3),
            auto_next_time_unit: Some(TimeUnit::Days),
            ..valid()
        };
        assert_eq!(s.auto_next_delay(), Some(Duration::days(3)));
        let s = StepSettings {
            auto_next_step_id: target,
            ..valid()
        };
        assert_eq!(s.auto_next_delay(), Some(Duration::zero()));
        assert_eq!(valid().auto_next_delay(), None);
    }

    #[test]
    fn webhook_url_and_headers() {
        for good in ["https://hooks.example.com/x", "http://10.0.0.1:8080/hook"] {
            let s = StepSettings {
                webhook_url: Some(good.into()),
                ..valid()
            };
            assert!(s.validated(None).is_ok(), "{good}");
        }
        for bad in [
            "ftp://example.com",
            "/relative",
            "example.com/hook",
            "https://",
        ] {
            let s = StepSettings {
                webhook_url: Some(bad.into()),
                ..valid()
            };
            assert_eq!(
                fields(s.validated(None).unwrap_err()),
                ["webhookUrl"],
                "{bad}"
            );
        }
        let headers = BTreeMap::from([("Bad Header".to_string(), "v".to_string())]);
        let s = StepSettings {
            webhook_header: Some(headers),
            ..valid()
        };
        assert_eq!(fields(s.validated(None).unwrap_err()), ["webhookHeader"]);
        let headers = BTreeMap::from([("X-Token".to_string(), "a\r\nInjected: 1".to_string())]);
        let s = StepSettings {
            webhook_header: Some(headers),
            ..valid()
        };
        assert_eq!(fields(s.validated(None).unwrap_err()), ["webhookHeader"]);
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated() {
        let s = StepSettings {
            default_tags: Some(vec![" vip ".into(), "vip".into(), "lead".into()]),
            ..valid()
        };
        assert_eq!(
            s.validated(None).unwrap().default_tags,
            Some(vec!["vip".into(), "lead".into()])
        );
        let s = StepSettings {
            default_tags_to_remove: Some(vec!["".into()]),
            ..valid()
        };
        assert_eq!(
            fields(s.validated(None).unwrap_err()),
            ["defaultTagsToRemove"]
        );
    }

    #[test]
    fn patch_keeps_absent_clears_null_and_is_revalidated() {
        let agent = AgentId::new();
        let s = StepSettings {
            agent_id: Some(agent),
            prompt: Some("p".into()),
            ..valid()
        };
        let patched = s.clone().patched(StepPatch {
            trigger: Patch::Null,
            ..StepPatch::default()
        });
        assert_eq!(patched.trigger, None);
        assert_eq!(patched.agent_id, Some(agent));
        assert!(patched.validated(None).is_ok());

        let patched = s.patched(StepPatch {
            trigger: Patch::Null,
            prompt: Patch::Null,
            ..StepPatch::default()
        });
        assert_eq!(fields(patched.validated(None).unwrap_err()), ["trigger"]);
        assert!(StepPatch::default().is_empty());
        assert!(
            !StepPatch {
                is_required: Patch::Null,
                ..StepPatch::default()
            }
            .is_empty()
        );
    }

    #[test]
    fn references_list_every_pointed_id() {
        let (a, m, t) = (AgentId::new(), MembershipId::new(), StepId::new());
        let s = StepSettings {
            agent_id: Some(a),
            whatsapp_template_agent_id: Some(a),
            selected_membership_ids: Some(vec![m]),
            auto_next_step_id: Some(t),
            ..valid()
        };
        assert_eq!(
            s.references(),
            [
                Reference::Agent {
                    field: "agentId",
                    id: a
                },
                Reference::Agent {
                    field: "whatsappTemplateAgentId",
                    id: a
                },
                Reference::Membership {
                    field: "selectedMembershipIdsForAssignee",
                    id: m
                },
                Reference::StepInSameScenario {
                    field: "autoNextStepId",
                    id: t
                },
            ]
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::option;
    use proptest::prelude::*;

    use super::*;

    fn settings() -> impl Strategy<Value = StepSettings> {
        (
            "[ a-zA-Z]{0,12}",
            option::of("[ a-z,]{0,10}"),
            option::of("[ a-z]{0,10}"),
            option::of(-5i64..100_000),
            option::of(prop_oneof![
                Just(TimeUnit::Minutes),
                Just(TimeUnit::Hours),
                Just(TimeUnit::Days)
            ]),
            any::<bool>(),
            option::of(proptest::collection::vec("[ a-z]{0,6}", 0..5)),
            option::of(prop_oneof![
                Just(AssigneeLogic::None),
                Just(AssigneeLogic::SingleUser),
                Just(AssigneeLogic::FairDistributionSelected)
            ]),
            0usize..3,
        )
            .prop_map(
                |(name, trigger, prompt, time, unit, has_target, tags, logic, members)| {
                    StepSettings {
                        name,
                        trigger,
                        prompt,
                        auto_next_time: time,
                        auto_next_time_unit: unit,
                        auto_next_step_id: has_target.then(StepId::new),
                        default_tags: tags,
                        assignee_logic_type: logic,
                        selected_membership_ids: Some(
                            (0..members).map(|_| MembershipId::new()).collect(),
                        ),
                        ..StepSettings::default()
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn an_empty_patch_changes_nothing(s in settings()) {
            prop_assert_eq!(s.clone().patched(StepPatch::default()), s);
        }

        #[test]
        fn validation_is_idempotent(s in settings()) {
            if let Ok(valid) = s.validated(None) {
                prop_assert_eq!(valid.clone().validated(None), Ok(valid));
            }
        }

        #[test]
        fn valid_steps_have_a_bounded_delay_and_a_condition(s in settings()) {
            if let Ok(valid) = s.validated(None) {
                prop_assert!(valid.trigger.is_some() || valid.prompt.is_some());
                if let Some(delay) = valid.auto_next_delay() {
                    prop_assert!(delay >= Duration::zero());
                    prop_assert!(delay.num_seconds() <= MAX_AUTO_NEXT_DELAY_SECONDS);
                }
                prop_assert!(valid.auto_next_time_unit.is_none() || valid.auto_next_time.is_some());
            }
        }
    }
}
