//! The workloads: what each one asks of the server, and the timers drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::RngExt;
use serde_json::json;
use uuid::Uuid;

use crate::database::BenchDb;
use crate::load::{Request, RequestMaker};
use crate::seed::{self, Organization, SCENARIOS, STEPS_PER_SCENARIO};

/// The workloads, in the order they run. All but `Timers` are request-driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    Baseline,
    Inbound,
    Move,
    CrmData,
    Board,
    Search,
    Actions,
    Timers,
}

impl Workload {
    pub const ALL: [Workload; 8] = [
        Workload::Baseline,
        Workload::Inbound,
        Workload::Move,
        Workload::CrmData,
        Workload::Board,
        Workload::Search,
        Workload::Actions,
        Workload::Timers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Baseline => "baseline",
            Workload::Inbound => "inbound",
            Workload::Move => "move",
            Workload::CrmData => "crm-data",
            Workload::Board => "board",
            Workload::Search => "search",
            Workload::Actions => "actions",
            Workload::Timers => "timers",
        }
    }

    /// What one request does, for the report.
    pub fn description(self) -> &'static str {
        match self {
            Workload::Baseline => "GET /healthz (no storage)",
            Workload::Inbound => {
                "POST /v1/messages/inbound with a trigger word: the conversation moves"
            }
            Workload::Move => "POST /crm/step/move to a random step of its scenario",
            Workload::CrmData => "POST Texter /chats/{id}/crm-data, mergingMode merge",
            Workload::Board => {
                "GET /crm/scenario/{id}/conversation: 50 cards of one step (pages 0-9)"
            }
            Workload::Search => "GET Texter /chats/search?search=<phone without country code>",
            Workload::Actions => {
                "POST a TeleCRM custom action (1 in 2), update a payment's status (1 in 2)"
            }
            Workload::Timers => "pending auto-advances, a tenth of them due at once",
        }
    }
}

/// Makes the requests of a request-driven workload (not `Timers`).
pub fn request_maker(
    workload: Workload,
    org: Arc<Organization>,
    payments: Arc<Vec<(Uuid, String)>>,
) -> RequestMaker {
    let sequence = Arc::new(AtomicU64::new(0));
    Arc::new(move || {
        let mut rng = rand::rng();
        let i = rng.random_range(0..org.conversations.len());
        let scenario = &org.scenarios[i % SCENARIOS];
        let step = rng.random_range(0..STEPS_PER_SCENARIO);
        match workload {
            // Timers are driven by the clock, not by requests (see `drain_timers`).
            Workload::Baseline | Workload::Timers => Request::get("/healthz"),
            Workload::Inbound => {
                let n = sequence.fetch_add(1, Ordering::Relaxed);
                Request::post(
                    "/v1/messages/inbound",
                    json!({
                        "channel": "whatsapp",
                        "from": format!("+{}", seed::phone(i)),
                        "text": format!("hello, about {} please", seed::trigger_word(i % SCENARIOS, step)),
                        "externalId": format!("wamid.bench.{n}.{}", Uuid::now_v7().simple()),
                    }),
                )
            }
            Workload::Move => Request::post(
                "/crm/step/move",
                json!({"conversationId": org.conversations[i], "destStepId": scenario.steps[step]}),
            ),
            Workload::CrmData => Request::post(
                format!("/server/api/v2/chats/{}/crm-data", org.conversations[i]),
                json!({
                    "mergingMode": "merge",
                    "data": {"lastOrder": {"total": rng.random_range(10..5000), "items": ["a", "b"]},
                             "visits": rng.random_range(0..100)},
                }),
            ),
            Workload::Board => Request::get(format!(
                "/crm/scenario/{}/conversation?stepId={}&page={}&limit=50",
                scenario.id,
                scenario.steps[step],
                rng.random_range(0..10)
            )),
            // What an agent types: the number without its country code.
            Workload::Search => Request::get(format!(
                "/server/api/v2/chats/search?search={}&limit=20",
                &seed::phone(i)[2..]
            )),
            Workload::Actions => {
                let base = format!("/autoupdate/v2/enterprise/{}", org.id);
                if payments.is_empty() || rng.random_range(0..2) == 0 {
                    Request::post(
                        format!("{base}/lead/{}/action", org.contacts[i]),
                        json!({"actions": [{"type": seed::FOLLOW_UP_ACTION, "fields": {"note": "called back"}}]}),
                    )
                } else {
                    let (lead, action) = &payments[rng.random_range(0..payments.len())];
                    let status = ["PENDING", "PROCESSING", "COMPLETED"][rng.random_range(0..3)];
                    Request::post(
                        format!("{base}/lead/{lead}/action/{action}"),
                        json!({"type": "PAYMENT", "status": status}),
                    )
                }
            }
        }
    })
}

/// How the due timers drained.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct TimersOutcome {
    pub pending: i64,
    pub due: i64,
    /// From the moment they fell due until none was left.
    pub drained_s: f64,
    pub fired_per_s: f64,
    /// How long after falling due the last one fired.
    pub last_fired_late_s: f64,
    /// Timers still due when the wait gave up (0 when drained).
    pub left: i64,
}

/// Makes `due` of the pending auto-advances fall due together, a moment from now, and
/// waits (at most `limit`) until the server has fired them all.
pub async fn drain_timers(
    db: &BenchDb,
    due: usize,
    limit: Duration,
) -> anyhow::Result<TimersOutcome> {
    let pending = db.scalar("SELECT COUNT(*) FROM auto_advances").await?;
    // A moment ahead, so that all of them become due at the same instant.
    let due_at = Utc::now().timestamp_millis() + 2_000;
    db.execute_batch(&format!(
        "UPDATE auto_advances SET due_at = {due_at} WHERE conversation_id IN \
         (SELECT conversation_id FROM auto_advances ORDER BY conversation_id LIMIT {due})"
    ))
    .await?;
    let due_instant = Instant::now()
        + Duration::from_millis((due_at - Utc::now().timestamp_millis()).max(0) as u64);
    let remaining = format!("SELECT COUNT(*) FROM auto_advances WHERE due_at <= {due_at}");
    let due_count = db.scalar(&remaining).await?;
    tokio::time::sleep_until(due_instant.into()).await;
    let mut left = due_count;
    while left > 0 && due_instant.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = db.scalar(&remaining).await?;
    }
    let drained = due_instant.elapsed().as_secs_f64();
    let last_entry = db
        .scalar(&format!(
            "SELECT MAX(entered_at) FROM stays WHERE entered_at >= {due_at}"
        ))
        .await?;
    Ok(TimersOutcome {
        pending,
        due: due_count,
        drained_s: drained,
        fired_per_s: (due_count - left) as f64 / drained.max(f64::EPSILON),
        last_fired_late_s: if last_entry == 0 {
            0.0
        } else {
            (last_entry - due_at) as f64 / 1000.0
        },
        left,
    })
}
