//! Leads: contacts seen through TeleCRM's door, with their fields, actions and payments.

use serde_json::{Map, Value, json};
use stagecoach_domain::contact::{Contact, LeadProfile, split_name};
use stagecoach_domain::engine::effects::OutboundEffect;
use stagecoach_domain::engine::timeline::Actor;
use stagecoach_domain::ids::{ActionId, ContactId, OrganizationId, OutboxId};
use stagecoach_domain::leads::actions::{
    self, ActionKind, LeadAction, PAYMENT_STATUS_CHANGED, PaymentRecord, PaymentStatus,
    PaymentUpdateError, Spelling,
};
use stagecoach_domain::leads::fields::{self, ValueContext};
use stagecoach_domain::leads::settings::{FieldType, LeadSettings};
use stagecoach_storage::{ActionFilter, PaymentTotal, StoreError, Transaction};

use crate::{AppError, Entity, Principal, Stagecoach};

/// One entry of a request's `remarks`: a field or action that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remark {
    pub field: String,
    pub remark: String,
}

/// What happened to each requested action, in request order: created, or ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    pub action_id: Option<ActionId>,
}

#[derive(Debug, Clone)]
pub struct LeadWrite {
    pub lead_id: ContactId,
    pub actions: Vec<ActionOutcome>,
    pub remarks: Vec<Remark>,
}

/// Why a lead request is refused as a whole.
fn bad_request(
    field: impl Into<std::borrow::Cow<'static, str>>,
    message: impl Into<String>,
) -> AppError {
    AppError::invalid(field, message)
}

/// A lead's search filters: field values (several values of one field: any of them), a
/// creation window, and actions it must have.
#[derive(Debug, Clone, Default)]
pub struct LeadQuery {
    pub fields: Vec<(String, Vec<Value>)>,
    pub created_from: Option<chrono::DateTime<chrono::Utc>>,
    pub created_to: Option<chrono::DateTime<chrono::Utc>>,
    pub actions: Option<ActionFilter>,
}

impl Stagecoach {
    /// The organization's lead settings (the defaults until some are saved).
    pub async fn lead_settings(&self, who: &Principal) -> Result<LeadSettings, AppError> {
        self.lead_settings_of(who.organization_id).await
    }

    /// An organization's lead settings, for operators (the CLI).
    pub async fn lead_settings_of(&self, org: OrganizationId) -> Result<LeadSettings, AppError> {
        let mut tx = self.store.begin_read().await?;
        if tx.get_organization(org).await?.is_none() {
            return Err(AppError::not_found(Entity::Organization, "org"));
        }
        Ok(tx.lead_settings(org).await?.unwrap_or_default())
    }

    /// Replaces the lead settings. Custom action types that actions use cannot be removed,
    /// and a custom identifier must be unique among existing leads.
    pub async fn save_lead_settings(
        &self,
        org: OrganizationId,
        settings: LeadSettings,
    ) -> Result<LeadSettings, AppError> {
        let settings = settings.validated()?;
        let mut tx = self.store.begin_write().await?;
        let current = tx.lead_settings(org).await?.unwrap_or_default();
        for removed in current
            .action_types
            .iter()
            .filter(|a| settings.action_type(a.code).is_none())
        {
            if tx.custom_code_in_use(org, removed.code).await? {
                return Err(AppError::Conflict {
                    field: "actionTypes",
                    message: format!(
                        "custom action {} is used by actions and cannot be removed",
                        removed.code
                    ),
                });
            }
        }
        if current.identifier != settings.identifier {
            // Re-key every lead by the new identifier (only custom identifiers use the key;
            // phone and e-mail are unique columns of their own).
            let custom = settings
                .custom_fields
                .iter()
                .any(|f| f.api_name == settings.identifier);
            for mut contact in tx.list_leads(org, None, None).await? {
                contact.lead.key = custom
                    .then(|| {
                        contact
                            .lead
                            .custom
                            .get(&settings.identifier)
                            .and_then(key_of)
                    })
                    .flatten();
                match tx.update_contact(&contact).await {
                    Err(StoreError::UniqueViolation) => {
                        return Err(AppError::Conflict {
                            field: "identifier",
                            message: "several leads share a value of the new identifier".into(),
                        });
                    }
                    other => other?,
                }
            }
        }
        tx.save_lead_settings(org, &settings, self.now()).await?;
        tx.commit().await?;
        Ok(settings)
    }

    /// Creates a lead with its fields and actions. Fields and actions that fail their checks
    /// are skipped and reported in `remarks`; a missing or invalid identifier refuses all.
    pub async fn create_lead(
        &self,
        who: &Principal,
        fields: Map<String, Value>,
        actions: Vec<Value>,
    ) -> Result<LeadWrite, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_write().await?;
        check_action_types(&actions, Spelling::Sync)?;
        let mut ctx = LeadContext::load(tx.as_mut(), org).await?;
        let identifier = ctx.settings.identifier.clone();
        let id_value = identifier_value(&ctx, &fields)?;
        if let Some(existing) = ctx.find_by_identifier(tx.as_mut(), &id_value).await? {
            return Err(AppError::Conflict {
                field: "fields",
                message: format!("a lead with this {identifier} exists: {}", existing.id),
            });
        }
        let now = self.now();
        let mut contact = Contact {
            id: ContactId::new(),
            organization_id: org,
            first_name: None,
            last_name: None,
            phone: None,
            email: None,
            external_id: None,
            picture: None,
            metadata: Map::new(),
            lead: LeadProfile::default(),
            created_at: now,
            updated_at: now,
        };
        let mut remarks = Vec::new();
        ctx.apply_fields(&mut contact, &fields, &mut remarks, false)?;
        write_contact(tx.as_mut(), &contact, true).await?;
        let outcomes = self
            .record_actions(
                tx.as_mut(),
                who,
                &ctx,
                &mut contact,
                &actions,
                Spelling::Sync,
                &mut remarks,
            )
            .await?;
        ctx.save_if_changed(tx.as_mut(), now).await?;
        tx.commit().await?;
        Ok(LeadWrite {
            lead_id: contact.id,
            actions: outcomes,
            remarks,
        })
    }

    pub async fn lead(
        &self,
        who: &Principal,
        id: Option<ContactId>,
    ) -> Result<(Contact, LeadSettings), AppError> {
        let mut tx = self.store.begin_read().await?;
        let contact = find_lead(tx.as_mut(), who, id).await?;
        let settings = tx
            .lead_settings(who.organization_id)
            .await?
            .unwrap_or_default();
        Ok((contact, settings))
    }

    /// Changes the fields sent; the identifier cannot change (its presence refuses the
    /// request), and an invalid value refuses it too.
    pub async fn update_lead(
        &self,
        who: &Principal,
        id: Option<ContactId>,
        fields: Map<String, Value>,
    ) -> Result<(Contact, LeadSettings), AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_write().await?;
        let mut contact = find_lead(tx.as_mut(), who, id).await?;
        let mut ctx = LeadContext::load(tx.as_mut(), org).await?;
        if fields.contains_key(&ctx.settings.identifier) {
            return Err(AppError::Immutable {
                field: format!("fields.{}", ctx.settings.identifier),
            });
        }
        let mut remarks = Vec::new();
        ctx.apply_fields(&mut contact, &fields, &mut remarks, true)?;
        contact.updated_at = self.now();
        write_contact(tx.as_mut(), &contact, false).await?;
        ctx.save_if_changed(tx.as_mut(), contact.updated_at).await?;
        tx.commit().await?;
        Ok((contact, ctx.settings))
    }

    /// Leads matching a query, newest first, and how many match.
    pub async fn search_leads(
        &self,
        who: &Principal,
        query: &LeadQuery,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<Contact>, i64), AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_read().await?;
        let ctx = LeadContext::load(tx.as_mut(), org).await?;
        let mut matched = Vec::new();
        for contact in tx
            .list_leads(org, query.created_from, query.created_to)
            .await?
        {
            let view = lead_fields(&contact, &ctx.member_emails_by_id);
            let fields_match = query.fields.iter().all(|(name, wanted)| {
                view.get(name)
                    .is_some_and(|have| wanted.iter().any(|w| same_value(have, w)))
            });
            if !fields_match {
                continue;
            }
            if let Some(filter) = &query.actions {
                let (_, n) = tx.list_actions(org, contact.id, filter, 0, 1).await?;
                if n == 0 {
                    continue;
                }
            }
            matched.push(contact);
        }
        let total = matched.len() as i64;
        Ok((
            matched
                .into_iter()
                .skip(skip as usize)
                .take(limit as usize)
                .collect(),
            total,
        ))
    }

    /// Records actions on a lead, each created or ignored in request order.
    pub async fn add_actions(
        &self,
        who: &Principal,
        id: Option<ContactId>,
        actions: Vec<Value>,
        spelling: Spelling,
    ) -> Result<LeadWrite, AppError> {
        let mut tx = self.store.begin_write().await?;
        check_action_types(&actions, spelling)?;
        let mut contact = find_lead(tx.as_mut(), who, id).await?;
        let ctx = LeadContext::load(tx.as_mut(), who.organization_id).await?;
        let mut remarks = Vec::new();
        let outcomes = self
            .record_actions(
                tx.as_mut(),
                who,
                &ctx,
                &mut contact,
                &actions,
                spelling,
                &mut remarks,
            )
            .await?;
        tx.commit().await?;
        Ok(LeadWrite {
            lead_id: contact.id,
            actions: outcomes,
            remarks,
        })
    }

    /// A custom or payment action of a lead.
    pub async fn lead_action(
        &self,
        who: &Principal,
        lead: Option<ContactId>,
        id: Option<ActionId>,
    ) -> Result<LeadAction, AppError> {
        let mut tx = self.store.begin_read().await?;
        let contact = find_lead(tx.as_mut(), who, lead).await?;
        let action = find_action(tx.as_mut(), who, contact.id, id).await?;
        writable_kind(&action)?;
        Ok(action)
    }

    /// Seed 002: a custom action changes only the fields sent, each checked against its
    /// type's schema; a payment changes only its status, and a body naming its amount,
    /// currency or payment id is refused whatever the values.
    pub async fn update_lead_action(
        &self,
        who: &Principal,
        lead: Option<ContactId>,
        id: Option<ActionId>,
        body: Map<String, Value>,
    ) -> Result<LeadAction, AppError> {
        let org = who.organization_id;
        let mut tx = self.store.begin_write().await?;
        let contact = find_lead(tx.as_mut(), who, lead).await?;
        let mut action = find_action(tx.as_mut(), who, contact.id, id).await?;
        let stored = writable_kind(&action)?;
        let sent = body
            .get("type")
            .ok_or_else(|| bad_request("type", "is required"))?;
        let sent = actions::parse_kind(sent, Spelling::Sync).map_err(|e| bad_request("type", e))?;
        if sent != stored {
            return Err(bad_request("type", "must match the action's type"));
        }
        let now = self.now();
        let actor = who.actor();
        match stored {
            ActionKind::Payment => {
                let status = match actions::payment_update(&body) {
                    Ok(status) => status,
                    Err(PaymentUpdateError::Immutable { field }) => {
                        return Err(bad_request(field, actions::IMMUTABLE_PAYMENT_MESSAGE));
                    }
                    Err(PaymentUpdateError::InvalidStatus) => {
                        return Err(bad_request("status", PaymentStatus::expected()));
                    }
                };
                let payment = action.payment.as_mut().expect("payments carry their terms");
                if let Some(status) = status.filter(|s| *s != payment.status) {
                    let from = payment.status;
                    tx.set_payment_status(org, action.id, status, now).await?;
                    payment.status = status;
                    let change = LeadAction {
                        id: ActionId::new(),
                        organization_id: org,
                        contact_id: contact.id,
                        kind: PAYMENT_STATUS_CHANGED.to_owned(),
                        type_code: None,
                        fields: json!({"actionId": action.id, "from": from.as_str(), "to": status.as_str()})
                            .as_object()
                            .cloned()
                            .unwrap_or_default(),
                        payment: None,
                        performed_by: actor.label(),
                        created_at: now,
                        updated_at: now,
                    };
                    tx.insert_action(&change).await?;
                    self.emit_lead(
                        tx.as_mut(),
                        &contact,
                        "lead.payment.status_changed",
                        &actor,
                        json!({
                            "actionId": action.id, "from": from.as_str(), "to": status.as_str()
                        }),
                    )
                    .await?;
                }
            }
            ActionKind::Custom(code) => {
                let ctx = LeadContext::load(tx.as_mut(), org).await?;
                let schema = ctx.settings.action_type(code).cloned().ok_or_else(|| {
                    bad_request("type", format!("custom action {code} is no longer defined"))
                })?;
                let sent = match body.get("fields") {
                    None => Map::new(),
                    Some(Value::Object(map)) => map.clone(),
                    Some(_) => return Err(bad_request("fields", "must be an object")),
                };
                for (name, value) in &sent {
                    let def = schema
                        .fields
                        .iter()
                        .find(|f| &f.api_name == name)
                        .ok_or_else(|| {
                            bad_request(
                                format!("fields.{name}"),
                                format!("is not a field of action {code}"),
                            )
                        })?;
                    let checked = fields::check(def, value, &ctx.value_context())
                        .map_err(|e| bad_request(format!("fields.{name}"), e))?;
                    action.fields.insert(name.clone(), checked);
                }
                tx.set_action_fields(org, action.id, &action.fields, now)
                    .await?;
                self.emit_lead(tx.as_mut(), &contact, "lead.action.updated", &actor, json!({
                    "actionId": action.id, "type": code.to_string(), "changedFields": sent.keys().collect::<Vec<_>>()
                }))
                .await?;
            }
        }
        action.updated_at = now;
        tx.commit().await?;
        Ok(action)
    }

    /// A page of a lead's actions of every kind, newest first, and the total.
    pub async fn search_lead_actions(
        &self,
        who: &Principal,
        lead: Option<ContactId>,
        filter: &ActionFilter,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<LeadAction>, i64), AppError> {
        let mut tx = self.store.begin_read().await?;
        let contact = find_lead(tx.as_mut(), who, lead).await?;
        Ok(tx
            .list_actions(who.organization_id, contact.id, filter, skip, limit)
            .await?)
    }

    /// Payment totals per status and currency (and step), for a lead or the organization.
    pub async fn payment_totals(
        &self,
        who: &Principal,
        lead: Option<Option<ContactId>>,
        by_step: bool,
    ) -> Result<Vec<PaymentTotal>, AppError> {
        let mut tx = self.store.begin_read().await?;
        let contact = match lead {
            Some(id) => Some(find_lead(tx.as_mut(), who, id).await?.id),
            None => None,
        };
        Ok(tx
            .payment_totals(who.organization_id, contact, by_step)
            .await?)
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_actions(
        &self,
        tx: &mut dyn Transaction,
        who: &Principal,
        ctx: &LeadContext,
        contact: &mut Contact,
        requested: &[Value],
        spelling: Spelling,
        remarks: &mut Vec<Remark>,
    ) -> Result<Vec<ActionOutcome>, AppError> {
        let now = self.now();
        let actor = who.actor();
        let mut outcomes = Vec::new();
        let mut score = 0;
        for (i, entry) in requested.iter().enumerate() {
            let at = |field: &str| format!("actions[{i}]{field}");
            let Some(body) = entry.as_object() else {
                remarks.push(Remark {
                    field: at(""),
                    remark: "must be an object".into(),
                });
                outcomes.push(ActionOutcome { action_id: None });
                continue;
            };
            let kind = actions::parse_kind(body.get("type").unwrap_or(&Value::Null), spelling)
                .expect("types were checked before");
            let mut action = LeadAction {
                id: ActionId::new(),
                organization_id: who.organization_id,
                contact_id: contact.id,
                kind: "CUSTOM".into(),
                type_code: None,
                fields: Map::new(),
                payment: None,
                performed_by: actor.label(),
                created_at: now,
                updated_at: now,
            };
            match kind {
                ActionKind::Payment => match actions::new_payment(body) {
                    Ok(p) => {
                        action.kind = "PAYMENT".into();
                        action.payment = Some(PaymentRecord {
                            amount: p.amount,
                            currency: p.currency,
                            payment_id: p.payment_id,
                            status: p.status,
                        });
                    }
                    Err(problems) => {
                        for (field, problem) in problems {
                            remarks.push(Remark {
                                field: at(&format!(".{field}")),
                                remark: problem,
                            });
                        }
                        outcomes.push(ActionOutcome { action_id: None });
                        continue;
                    }
                },
                ActionKind::Custom(code) => {
                    let Some(schema) = ctx.settings.action_type(code) else {
                        remarks.push(Remark {
                            field: at(".type"),
                            remark: format!("custom action {code} is not defined"),
                        });
                        outcomes.push(ActionOutcome { action_id: None });
                        continue;
                    };
                    action.type_code = Some(code);
                    if let Some(values) = body.get("fields").and_then(Value::as_object) {
                        for (name, value) in values {
                            let checked = schema
                                .fields
                                .iter()
                                .find(|f| &f.api_name == name)
                                .ok_or_else(|| "not a field of this action".to_owned())
                                .and_then(|def| fields::check(def, value, &ctx.value_context()));
                            match checked {
                                Ok(v) => {
                                    action.fields.insert(name.clone(), v);
                                }
                                Err(e) => remarks.push(Remark {
                                    field: at(&format!(".fields.{name}")),
                                    remark: e,
                                }),
                            }
                        }
                    }
                    score += schema.score;
                }
            }
            tx.insert_action(&action).await?;
            self.emit_lead(tx, contact, "lead.action.created", &actor, json!({
                "actionId": action.id, "type": action.type_code.map_or("PAYMENT".to_owned(), |c| c.to_string())
            }))
            .await?;
            outcomes.push(ActionOutcome {
                action_id: Some(action.id),
            });
        }
        if score != 0 {
            contact.lead.score += score;
            contact.updated_at = now;
            write_contact(tx, contact, false).await?;
        }
        Ok(outcomes)
    }

    async fn emit_lead(
        &self,
        tx: &mut dyn Transaction,
        contact: &Contact,
        event_type: &str,
        actor: &Actor,
        data: Value,
    ) -> Result<(), AppError> {
        let about = (None, contact.id);
        self.queue_event(tx, contact.organization_id, about, event_type, actor, data)
            .await
    }
}

/// The settings and members a lead write checks values against.
pub(crate) struct LeadContext {
    organization: OrganizationId,
    pub settings: LeadSettings,
    pub calling_code: Option<String>,
    pub member_emails: Vec<String>,
    pub member_emails_by_id: Vec<(stagecoach_domain::ids::MembershipId, String)>,
    changed: bool,
}

impl LeadContext {
    pub(crate) async fn load(
        tx: &mut dyn Transaction,
        org: OrganizationId,
    ) -> Result<LeadContext, AppError> {
        let settings = tx.lead_settings(org).await?.unwrap_or_default();
        let calling_code = tx
            .get_organization(org)
            .await?
            .and_then(|o| o.default_calling_code);
        let (members, _) = tx.list_memberships(org, 0, 100_000).await?;
        Ok(LeadContext {
            organization: org,
            settings,
            calling_code,
            member_emails: members.iter().map(|m| m.email.clone()).collect(),
            member_emails_by_id: members.into_iter().map(|m| (m.id, m.email)).collect(),
            changed: false,
        })
    }

    fn value_context(&self) -> ValueContext<'_> {
        ValueContext {
            settings: &self.settings,
            calling_code: self.calling_code.as_deref(),
            member_emails: &self.member_emails,
        }
    }

    fn check(&self, name: &str, value: &Value) -> Result<Value, String> {
        let def = self
            .settings
            .field(name)
            .ok_or_else(|| "is not a lead field".to_owned())?;
        fields::check(&def, value, &self.value_context())
    }

    async fn find_by_identifier(
        &self,
        tx: &mut dyn Transaction,
        value: &Value,
    ) -> Result<Option<Contact>, AppError> {
        let org = self.organization;
        let text = value.as_str().unwrap_or_default();
        Ok(match self.settings.identifier.as_str() {
            "phone" => tx.find_contact_by_phone(org, text).await?,
            "email" => tx.find_contact_by_email(org, text).await?,
            _ => match key_of(value) {
                Some(key) => tx.find_contact_by_lead_key(org, &key).await?,
                None => None,
            },
        })
    }

    /// Applies field values to a contact: a bad value is skipped with a remark (create) or
    /// refuses the request (update, `strict`).
    fn apply_fields(
        &mut self,
        contact: &mut Contact,
        fields: &Map<String, Value>,
        remarks: &mut Vec<Remark>,
        strict: bool,
    ) -> Result<(), AppError> {
        for (name, value) in fields {
            let def = self.settings.field(name);
            let checked = match &def {
                None => Err("Unknown field".to_owned()),
                Some(def) if def.field_type == FieldType::Dropdown => {
                    // An unknown label becomes a new option, as in TeleCRM.
                    let label = value.as_str().map(str::trim).filter(|s| !s.is_empty());
                    match label {
                        Some(label) => {
                            if let Some(field) = self
                                .settings
                                .custom_fields
                                .iter_mut()
                                .find(|f| &f.api_name == name)
                                && !field.options.iter().any(|o| o == label)
                            {
                                field.options.push(label.to_owned());
                                self.changed = true;
                            }
                            Ok(Value::from(label))
                        }
                        None => Err("must be an option label".to_owned()),
                    }
                }
                Some(def) => fields::check(def, value, &self.value_context()),
            };
            let value = match checked {
                Ok(v) => v,
                Err(problem) if strict => {
                    return Err(bad_request(format!("fields.{name}"), problem));
                }
                Err(problem) => {
                    remarks.push(Remark {
                        field: format!("fields.{name}"),
                        remark: problem,
                    });
                    continue;
                }
            };
            match name.as_str() {
                "name" => {
                    let (first, last) = split_name(value.as_str().unwrap_or_default());
                    contact.first_name = first;
                    contact.last_name = last;
                }
                "phone" => contact.phone = value.as_str().map(str::to_owned),
                "email" => contact.email = value.as_str().map(str::to_owned),
                "rating" => contact.lead.rating = value.as_i64(),
                "status" => contact.lead.status = value.as_str().map(str::to_owned),
                "assignee" => {
                    let email = value.as_str().unwrap_or_default();
                    contact.lead.assignee = self
                        .member_emails_by_id
                        .iter()
                        .find(|(_, e)| e == email)
                        .map(|(id, _)| *id);
                }
                custom => {
                    if custom == self.settings.identifier {
                        contact.lead.key = key_of(&value);
                    }
                    contact.lead.custom.insert(custom.to_owned(), value);
                }
            }
        }
        Ok(())
    }

    async fn save_if_changed(
        &self,
        tx: &mut dyn Transaction,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), AppError> {
        if self.changed {
            tx.save_lead_settings(self.organization, &self.settings, now)
                .await?;
        }
        Ok(())
    }
}

/// A lead's fields as TeleCRM shows them: standard ones, then custom values.
pub fn lead_fields(
    contact: &Contact,
    member_emails: &[(stagecoach_domain::ids::MembershipId, String)],
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(name) = contact.display_name() {
        out.insert("name".into(), Value::from(name));
    }
    if let Some(phone) = &contact.phone {
        out.insert("phone".into(), Value::from(phone.clone()));
    }
    if let Some(email) = &contact.email {
        out.insert("email".into(), Value::from(email.clone()));
    }
    if let Some(rating) = contact.lead.rating {
        out.insert("rating".into(), Value::from(rating));
    }
    if let Some(status) = &contact.lead.status {
        out.insert("status".into(), Value::from(status.clone()));
    }
    if let Some(assignee) = contact.lead.assignee
        && let Some((_, email)) = member_emails.iter().find(|(id, _)| *id == assignee)
    {
        out.insert("assignee".into(), Value::from(email.clone()));
    }
    for (name, value) in &contact.lead.custom {
        out.insert(name.clone(), value.clone());
    }
    out.insert("score".into(), Value::from(contact.lead.score));
    out.insert(
        "created_on".into(),
        Value::from(contact.created_at.timestamp_millis()),
    );
    out
}

/// Search matching: exact and case-insensitive for text, by value for numbers.
fn same_value(have: &Value, wanted: &Value) -> bool {
    match (have, wanted) {
        (Value::String(a), Value::String(b)) => {
            a.eq_ignore_ascii_case(b.trim())
                || (a.chars().all(|c| c.is_ascii_digit())
                    && *a == b.chars().filter(char::is_ascii_digit).collect::<String>())
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(items), wanted) => items.iter().any(|i| same_value(i, wanted)),
        _ => have == wanted,
    }
}

fn key_of(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
}

/// Refuses a request that tries to write a type the API cannot write.
fn check_action_types(actions: &[Value], spelling: Spelling) -> Result<(), AppError> {
    for (i, entry) in actions.iter().enumerate() {
        let field = format!("actions[{i}].type");
        match entry.get("type") {
            Some(kind) => {
                actions::parse_kind(kind, spelling).map_err(|e| bad_request(field, e))?;
            }
            None => return Err(bad_request(field, "is required")),
        }
    }
    Ok(())
}

/// The identifier field's value of a lead write, checked: without it the write is refused.
fn identifier_value(ctx: &LeadContext, fields: &Map<String, Value>) -> Result<Value, AppError> {
    let identifier = &ctx.settings.identifier;
    let field = format!("fields.{identifier}");
    let value = fields
        .get(identifier)
        .ok_or_else(|| bad_request(field.clone(), "is required: it is the lead identifier"))?;
    let value = ctx
        .check(identifier, value)
        .map_err(|e| bad_request(field.clone(), e))?;
    match value
        .as_str()
        .and_then(stagecoach_domain::identifier::too_long)
    {
        Some(message) => Err(bad_request(field, message)),
        None => Ok(value),
    }
}

fn writable_kind(action: &LeadAction) -> Result<ActionKind, AppError> {
    match (action.kind.as_str(), action.type_code) {
        ("PAYMENT", _) => Ok(ActionKind::Payment),
        ("CUSTOM", Some(code)) => Ok(ActionKind::Custom(code)),
        _ => Err(bad_request(
            "actionId",
            "Only custom actions and payment actions can be retrieved",
        )),
    }
}

async fn find_lead(
    tx: &mut dyn Transaction,
    who: &Principal,
    id: Option<ContactId>,
) -> Result<Contact, AppError> {
    match id {
        Some(id) => tx.get_contact(who.organization_id, id).await?,
        None => None,
    }
    .ok_or(AppError::not_found(Entity::Lead, "leadId"))
}

async fn find_action(
    tx: &mut dyn Transaction,
    who: &Principal,
    contact: ContactId,
    id: Option<ActionId>,
) -> Result<LeadAction, AppError> {
    match id {
        Some(id) => tx.get_action(who.organization_id, contact, id).await?,
        None => None,
    }
    .ok_or(AppError::not_found(Entity::Action, "actionId"))
}

async fn write_contact(
    tx: &mut dyn Transaction,
    contact: &Contact,
    insert: bool,
) -> Result<(), AppError> {
    let written = if insert {
        tx.insert_contact(contact).await
    } else {
        tx.update_contact(contact).await
    };
    match written {
        Err(StoreError::UniqueViolation) => Err(AppError::Conflict {
            field: "fields",
            message: "another lead already has this phone, e-mail or identifier".into(),
        }),
        other => Ok(other?),
    }
}

/// TeleCRM's team-member availability states.
pub const AVAILABILITY: &[&str] = &["Active", "Inactive", "On Leave", "Working"];

/// TeleCRM's team-member roles.
pub const TEAM_ROLES: &[&str] = &["ADMIN", "MANAGER", "CALLER", "MARKETING_USER"];

/// How long a claimed queued lead write stays reserved for the worker that claimed it.
const QUEUE_LEASE: chrono::Duration = chrono::Duration::seconds(60);

impl Stagecoach {
    /// A page of members by name, and how many there are.
    pub async fn team_members(
        &self,
        who: &Principal,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<stagecoach_domain::organization::Membership>, i64), AppError> {
        let mut tx = self.store.begin_read().await?;
        Ok(tx
            .list_memberships(who.organization_id, skip, limit)
            .await?)
    }

    pub async fn team_member(
        &self,
        who: &Principal,
        email: &str,
    ) -> Result<stagecoach_domain::organization::Membership, AppError> {
        let email = stagecoach_domain::organization::normalize_email(email)?;
        let mut tx = self.store.begin_read().await?;
        tx.find_membership_by_email(who.organization_id, &email)
            .await?
            .ok_or(AppError::not_found(Entity::Membership, "email"))
    }

    /// Adds a member from TeleCRM's door: without a password they are invited, with one
    /// they are active (Stagecoach has no logins; the password is not kept).
    pub async fn add_team_member(
        &self,
        who: &Principal,
        name: &str,
        email: &str,
        phone: &str,
        role: &str,
        has_password: bool,
    ) -> Result<stagecoach_domain::organization::Membership, AppError> {
        let mut errors = stagecoach_domain::error::Errors::default();
        if phone.is_empty()
            || !phone.chars().all(|c| c.is_ascii_digit())
            || !(8..=15).contains(&phone.len())
        {
            errors.add(
                "phone_number",
                "must be digits with the country code, no + or spaces",
            );
        }
        if !TEAM_ROLES.contains(&role) {
            errors.add("role", format!("must be one of {}", TEAM_ROLES.join(", ")));
        }
        errors.into_result()?;
        let membership_role = if role == "ADMIN" || role == "MANAGER" {
            stagecoach_domain::enums::MembershipRole::Admin
        } else {
            stagecoach_domain::enums::MembershipRole::User
        };
        let member = self
            .add_member(who.organization_id, email, name, membership_role)
            .await?;
        let mut tx = self.store.begin_write().await?;
        let availability = if has_password { "Active" } else { "Invited" };
        tx.set_availability(who.organization_id, member.id, availability, self.now())
            .await?;
        tx.set_team_details(who.organization_id, member.id, Some(phone), Some(role))
            .await?;
        tx.commit().await?;
        self.team_member(who, email).await
    }

    /// Sets a member's availability (Active, Inactive, On Leave, Working).
    pub async fn set_team_member_state(
        &self,
        who: &Principal,
        email: &str,
        state: &str,
    ) -> Result<stagecoach_domain::organization::Membership, AppError> {
        if !AVAILABILITY.contains(&state) {
            return Err(AppError::invalid(
                "state",
                format!("must be one of {}", AVAILABILITY.join(", ")),
            ));
        }
        let member = self.team_member(who, email).await?;
        let mut tx = self.store.begin_write().await?;
        tx.set_availability(who.organization_id, member.id, state, self.now())
            .await?;
        tx.commit().await?;
        self.team_member(who, email).await
    }

    /// Accepts a create-or-update by identifier for the background worker (TeleCRM's
    /// async API); nothing is checked now, as there.
    pub async fn queue_lead_write(&self, who: &Principal, body: Value) -> Result<(), AppError> {
        let effect = OutboundEffect::Event {
            event_type: "lead.upsert.requested".into(),
            conversation_id: None,
            contact_id: None,
            actor: who.actor().label(),
            data: body,
        };
        let mut tx = self.store.begin_write().await?;
        tx.enqueue_kind(
            who.organization_id,
            "lead_upsert",
            OutboxId::new(),
            &effect,
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Processes queued lead writes (at most `limit`); returns how many were applied.
    /// Each is applied in its own transaction; one that fails its checks is marked failed.
    pub async fn process_queued_lead_writes(&self, limit: i64) -> Result<usize, AppError> {
        let now = self.now();
        let claimed = {
            let mut tx = self.store.begin_write().await?;
            let rows = self
                .claim_for_this_worker(tx.as_mut(), "lead_upsert", now, now + QUEUE_LEASE, limit)
                .await?;
            tx.commit().await?;
            rows
        };
        let mut applied = 0;
        for (org, entry) in claimed {
            let actor = entry
                .payload
                .get("actor")
                .and_then(Value::as_str)
                .unwrap_or("system")
                .to_owned();
            let body = entry.payload.get("data").cloned().unwrap_or(Value::Null);
            let outcome = self.apply_lead_write(org, &actor, &body).await;
            let status = match &outcome {
                Ok(()) => "done",
                Err(error) => {
                    tracing::warn!(outbox.id = %entry.id, %error, "queued lead write dropped");
                    "failed"
                }
            };
            let mut tx = self.store.begin_write().await?;
            tx.finish_outbox(entry.id, status, self.now()).await?;
            tx.commit().await?;
            applied += usize::from(outcome.is_ok());
        }
        Ok(applied)
    }

    async fn apply_lead_write(
        &self,
        org: OrganizationId,
        actor: &str,
        body: &Value,
    ) -> Result<(), AppError> {
        let fields = body
            .get("fields")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let actions: Vec<Value> = body
            .get("actions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Actions the async API cannot write are dropped, not the whole lead.
        let actions: Vec<Value> = actions
            .into_iter()
            .filter(|a| {
                a.get("type")
                    .is_some_and(|t| actions::parse_kind(t, Spelling::Async).is_ok())
            })
            .collect();
        let principal = Principal {
            organization_id: org,
            token_id: actor
                .strip_prefix("api_token:")
                .and_then(stagecoach_domain::ids::ApiTokenId::parse),
            member: None,
            token_type: stagecoach_domain::enums::TokenType::Async,
            scopes: None,
        };
        let mut tx = self.store.begin_write().await?;
        let mut ctx = LeadContext::load(tx.as_mut(), org).await?;
        let identifier = ctx.settings.identifier.clone();
        let id_value = identifier_value(&ctx, &fields)?;
        let now = self.now();
        let mut remarks = Vec::new();
        let mut contact = match ctx.find_by_identifier(tx.as_mut(), &id_value).await? {
            Some(mut existing) => {
                let mut update = fields.clone();
                update.remove(&identifier);
                ctx.apply_fields(&mut existing, &update, &mut remarks, false)?;
                existing.updated_at = now;
                write_contact(tx.as_mut(), &existing, false).await?;
                existing
            }
            None => {
                let mut contact = Contact {
                    id: ContactId::new(),
                    organization_id: org,
                    first_name: None,
                    last_name: None,
                    phone: None,
                    email: None,
                    external_id: None,
                    picture: None,
                    metadata: Map::new(),
                    lead: LeadProfile::default(),
                    created_at: now,
                    updated_at: now,
                };
                ctx.apply_fields(&mut contact, &fields, &mut remarks, false)?;
                write_contact(tx.as_mut(), &contact, true).await?;
                contact
            }
        };
        self.record_actions(
            tx.as_mut(),
            &principal,
            &ctx,
            &mut contact,
            &actions,
            Spelling::Async,
            &mut remarks,
        )
        .await?;
        ctx.save_if_changed(tx.as_mut(), now).await?;
        tx.commit().await?;
        Ok(())
    }
}
