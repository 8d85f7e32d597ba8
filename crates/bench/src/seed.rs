//! A realistic organization: 20 members; 5 scenarios of 8 steps, each step with a trigger
//! word, tags to add and remove, an assignment rule and a 24-hour auto-advance to the next
//! step; and N contacts, each with a WhatsApp conversation sitting in a step of one
//! scenario, tagged and assigned as that step would have left it, with its auto-advance
//! pending.
//!
//! Members, tokens, scenarios, steps and lead settings go through the CLI and the API,
//! so they are validated as a user's would be. The N conversations are bulk-loaded with
//! SQL in the shape the server writes them.

use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::database::BenchDb;
use crate::server::{RunningServer, ServerBinary};

pub const SCENARIOS: usize = 5;
pub const STEPS_PER_SCENARIO: usize = 8;
pub const MEMBERS: usize = 20;
const MEMBERS_PER_SCENARIO: usize = MEMBERS / SCENARIOS;
/// Conversations loaded per transaction.
const CHUNK: usize = 2_000;
/// The custom action type the actions workload records.
pub const FOLLOW_UP_ACTION: &str = "1001";

pub struct Scenario {
    pub id: Uuid,
    pub steps: Vec<Uuid>,
    pub members: Vec<Uuid>,
}

/// What the workloads need to know about the seeded organization.
pub struct Organization {
    pub id: Uuid,
    pub token: String,
    pub scenarios: Vec<Scenario>,
    /// Conversation `i` belongs to contact `contacts[i]` and sits in scenario
    /// `i % SCENARIOS`.
    pub conversations: Vec<Uuid>,
    pub contacts: Vec<Uuid>,
    /// A web UI session of the token (`name=value`), for the page workloads.
    pub ui_cookie: String,
}

/// Conversation `i`'s contact phone, as the server stores it (digits with the country
/// code).
pub fn phone(i: usize) -> String {
    format!("5511{i:09}")
}

/// The word that moves a conversation of scenario `scenario` into step `step`.
pub fn trigger_word(scenario: usize, step: usize) -> String {
    format!("plan{scenario}x{step}")
}

pub fn stage_tag(step: usize) -> String {
    format!("stage-{step}")
}

/// The assignment rule of step `step` (the same in every scenario): the first two steps
/// assign nobody, then three fair-distribution steps, a random one, a single-user one,
/// and a last step that clears the assignees.
fn assignment(step: usize, members: &[Uuid]) -> Value {
    let all: Vec<String> = members.iter().map(Uuid::to_string).collect();
    match step {
        0 | 1 => json!({"assigneeLogicType": "none"}),
        2..=4 => json!({"assigneeLogicType": "fair_distribution_selected",
            "selectedMembershipIdsForAssignee": all}),
        5 => json!({"assigneeLogicType": "random_selected",
            "selectedMembershipIdsForAssignee": all}),
        6 => json!({"assigneeLogicType": "single_user",
            "selectedMembershipIdsForAssignee": [all[0]]}),
        _ => json!({"assigneeLogicType": "clear"}),
    }
}

/// Who a seeded conversation in `step` is assigned to, as the step's rule would leave it.
fn seeded_assignee(step: usize, i: usize, members: &[Uuid]) -> Option<Uuid> {
    match step {
        2..=5 => Some(members[i % members.len()]),
        6 => Some(members[0]),
        _ => None,
    }
}

/// Creates the organization, its members, token, scenarios, steps and lead settings.
/// The server must be running; `cli` runs admin commands against the same database.
pub async fn configure(cli: &ServerBinary, server: &RunningServer) -> anyhow::Result<Organization> {
    let org: Uuid = cli
        .admin(&[
            "org",
            "create",
            "--name",
            "Bench Co",
            "--default-calling-code",
            "55",
        ])
        .await?
        .parse()
        .context("org create printed no id")?;
    let org_arg = org.to_string();
    let token = cli
        .admin(&["token", "create", "--org", &org_arg, "--name", "bench"])
        .await?;
    let mut members = Vec::with_capacity(MEMBERS);
    for m in 0..MEMBERS {
        let id = cli
            .admin(&[
                "member",
                "add",
                "--org",
                &org_arg,
                "--email",
                &format!("agent{m}@bench.example"),
                "--name",
                &format!("Agent {m}"),
            ])
            .await?;
        members.push(id.parse().context("member add printed no id")?);
    }
    let api = Api::new(&server.base, &token);
    let mut scenarios = Vec::with_capacity(SCENARIOS);
    for s in 0..SCENARIOS {
        let scenario = api
            .send(
                reqwest::Method::POST,
                "/crm/scenario",
                json!({"name": format!("Pipeline {s}")}),
            )
            .await?;
        let scenario_id = id_of(&scenario)?;
        let group = members[s * MEMBERS_PER_SCENARIO..(s + 1) * MEMBERS_PER_SCENARIO].to_vec();
        let mut steps = Vec::with_capacity(STEPS_PER_SCENARIO);
        for k in 0..STEPS_PER_SCENARIO {
            let mut body = json!({
                "scenarioId": scenario_id,
                "name": format!("Stage {k}"),
                "trigger": trigger_word(s, k),
                "defaultTags": [stage_tag(k)],
                "defaultTagsToRemove": (0..STEPS_PER_SCENARIO).filter(|other| *other != k).map(stage_tag).collect::<Vec<_>>(),
            });
            merge(&mut body, assignment(k, &group));
            steps.push(id_of(
                &api.send(reqwest::Method::POST, "/crm/step", body).await?,
            )?);
        }
        for k in 0..STEPS_PER_SCENARIO {
            api.send(
                reqwest::Method::PUT,
                "/crm/step",
                json!({"id": steps[k], "autoNextStepId": steps[(k + 1) % STEPS_PER_SCENARIO],
                    "autoNextTime": 24, "autoNextTimeUnit": "h"}),
            )
            .await?;
        }
        scenarios.push(Scenario {
            id: scenario_id,
            steps,
            members: group,
        });
    }
    api.send(
        reqwest::Method::PUT,
        "/v1/lead-settings",
        json!({
            "identifier": "phone",
            "pipeline": [
                {"stageType": "OPEN", "statuses": [{"label": "Fresh"}, {"label": "Contacted"}]},
                {"stageType": "WON", "statuses": [{"label": "Won"}]},
                {"stageType": "LOST", "statuses": [{"label": "Lost"}]}
            ],
            "actionTypes": [{"code": 1001, "displayName": "Follow-up", "score": 5,
                "fields": [{"apiName": "note", "type": "TEXT"}]}]
        }),
    )
    .await?;
    let ui_cookie = sign_in(&server.base, &token).await?;
    Ok(Organization {
        id: org,
        token,
        scenarios,
        conversations: Vec::new(),
        contacts: Vec::new(),
        ui_cookie,
    })
}

/// Signs in to the web UI with the token, as a browser does; returns the session cookie.
pub async fn sign_in(base: &str, token: &str) -> anyhow::Result<String> {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(format!("{base}/ui/login"))
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await?;
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("signing in to the web UI gave no session cookie")?;
    Ok(cookie.to_owned())
}

/// Bulk-loads `count` contacts with one conversation each, every conversation in a step
/// with its tags, assignee, board card, stay and pending auto-advance (due in 30 days).
pub async fn load_conversations(
    db: &BenchDb,
    org: &mut Organization,
    count: usize,
) -> anyhow::Result<()> {
    let now = Utc::now().timestamp_millis();
    let ninety_days = Duration::from_secs(90 * 24 * 3600).as_millis() as i64;
    let due = now + Duration::from_secs(30 * 24 * 3600).as_millis() as i64;
    let org_id = db.uuid(org.id);
    let (yes, no) = (db.boolean(true), db.boolean(false));
    let request_contact = r#"'{"name":false,"email":false,"phone":false}'"#;
    org.contacts.reserve(count);
    org.conversations.reserve(count);
    for start in (0..count).step_by(CHUNK) {
        let end = (start + CHUNK).min(count);
        let mut rows = Rows::default();
        for i in start..end {
            let (contact, conversation, link, stay) = (
                Uuid::now_v7(),
                Uuid::now_v7(),
                Uuid::now_v7(),
                Uuid::now_v7(),
            );
            org.contacts.push(contact);
            org.conversations.push(conversation);
            let scenario = &org.scenarios[i % SCENARIOS];
            let k = (i / SCENARIOS) % STEPS_PER_SCENARIO;
            // Spread over the last 90 days, oldest first.
            let at = now - ninety_days + (ninety_days * i as i64) / count.max(1) as i64;
            let (contact, conversation, link, stay) = (
                db.uuid(contact),
                db.uuid(conversation),
                db.uuid(link),
                db.uuid(stay),
            );
            let (scenario_id, step) = (db.uuid(scenario.id), db.uuid(scenario.steps[k]));
            let target = db.uuid(scenario.steps[(k + 1) % STEPS_PER_SCENARIO]);
            // With the folded copies chat search matches, as the server writes them
            // (migration 0011): "Contact {i}" folds to "contact {i}", no title to "".
            rows.contacts.push(format!(
                "({contact},{org_id},'Contact','{i}','{}',NULL,NULL,NULL,'{{}}',{at},{at},'contact {i}')",
                phone(i)
            ));
            rows.conversations.push(format!(
                "({conversation},{org_id},{contact},'whatsapp',NULL,'UNRESOLVED','MEDIUM',{yes},NULL,\
                 '{{\"plan\":\"basic\",\"visits\":{}}}',{request_contact},{at},{at},0,{at},{at},{no},'')",
                i % 7
            ));
            rows.links.push(format!(
                "({link},{org_id},{conversation},{scenario_id},{step},{stay},{yes},{at},{at})"
            ));
            rows.stays.push(format!(
                "({stay},{org_id},{conversation},{scenario_id},{step},'active',{at},NULL,{at},{at})"
            ));
            rows.tags
                .push(format!("({conversation},{org_id},'{}',0)", stage_tag(k)));
            if let Some(member) = seeded_assignee(k, i, &scenario.members) {
                rows.assignees.push(format!(
                    "({conversation},{org_id},{},{at})",
                    db.uuid(member)
                ));
            }
            rows.timers.push(format!(
                "({conversation},{org_id},{link},{stay},{step},{target},{due},NULL,{at})"
            ));
        }
        db.execute_batch(&rows.sql())
            .await
            .with_context(|| format!("loading conversations {start}..{end}"))?;
    }
    db.analyze().await
}

#[derive(Default)]
struct Rows {
    contacts: Vec<String>,
    conversations: Vec<String>,
    links: Vec<String>,
    stays: Vec<String>,
    tags: Vec<String>,
    assignees: Vec<String>,
    open_assignments: Vec<String>,
    timers: Vec<String>,
}

impl Rows {
    fn sql(&self) -> String {
        let insert = |table: &str, columns: &str, rows: &[String]| {
            if rows.is_empty() {
                String::new()
            } else {
                format!("INSERT INTO {table} ({columns}) VALUES {};", rows.join(","))
            }
        };
        [
            insert(
                "contacts",
                "id, organization_id, first_name, last_name, phone, email, external_id, picture, metadata, created_at, updated_at, \
                 search_name",
                &self.contacts,
            ),
            insert(
                "conversations",
                "id, organization_id, contact_id, channel, title, status, priority, ai_enabled, agent_id, crm_data, \
                 contact_fields_to_collect, last_inbound_at, last_message_at, unread_count, created_at, updated_at, external_bot, \
                 search_title",
                &self.conversations,
            ),
            insert(
                "scenario_links",
                "id, organization_id, conversation_id, scenario_id, step_id, stay_id, available, created_at, updated_at",
                &self.links,
            ),
            insert(
                "stays",
                "id, organization_id, conversation_id, scenario_id, step_id, status, entered_at, exited_at, created_at, updated_at",
                &self.stays,
            ),
            insert(
                "conversation_tags",
                "conversation_id, organization_id, tag, position",
                &self.tags,
            ),
            insert(
                "conversation_assignees",
                "conversation_id, organization_id, membership_id, assigned_at",
                &self.assignees,
            ),
            insert(
                "open_assignments",
                "scenario_id, membership_id, conversation_id, organization_id, assigned_at",
                &self.open_assignments,
            ),
            insert(
                "auto_advances",
                "conversation_id, organization_id, link_id, stay_id, step_id, target_step_id, due_at, claimed_until, created_at",
                &self.timers,
            ),
        ]
        .concat()
        .trim_end_matches(';')
        .to_owned()
    }
}

/// Creates `count` pending payments spread over the first leads, for the actions
/// workload's status updates; returns (lead id, action id) pairs.
pub async fn create_payments(
    server: &RunningServer,
    org: &Organization,
    count: usize,
) -> anyhow::Result<Vec<(Uuid, String)>> {
    let api = Api::new(&server.base, &org.token);
    let mut payments = Vec::with_capacity(count);
    for p in 0..count {
        let lead = org.contacts[p % org.contacts.len()];
        let created = api
            .send(
                reqwest::Method::POST,
                &format!("/autoupdate/v2/enterprise/{}/lead/{lead}/action", org.id),
                json!({"actions": [{"type": "PAYMENT", "amount": "149.90", "currency": "USD",
                    "status": "PENDING", "paymentid": format!("bench-{p}")}]}),
            )
            .await?;
        let action = created["actions"][0]["action_id"]
            .as_str()
            .with_context(|| format!("the payment was not created: {created}"))?
            .to_owned();
        payments.push((lead, action));
    }
    Ok(payments)
}

/// A small JSON client for setup calls (the load itself goes through `load::drive`).
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let response = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn id_of(body: &Value) -> anyhow::Result<Uuid> {
    body["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .with_context(|| format!("no id in {body}"))
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}
