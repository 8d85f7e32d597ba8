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
    /// `Inbound` with an `Idempotency-Key` on each request: what keeping answers costs.
    InboundKeyed,
    Move,
    /// `LiveMoves` without its streams: what the streams cost is the difference.
    ScenarioMoves,
    LiveMoves,
    CrmData,
    Board,
    UiBoard,
    Search,
    Actions,
    Timers,
}

/// How many event streams watch the board during `LiveMoves`.
pub const LIVE_STREAMS: usize = 100;

impl Workload {
    pub const ALL: [Workload; 12] = [
        Workload::Baseline,
        Workload::Inbound,
        Workload::InboundKeyed,
        Workload::Move,
        Workload::ScenarioMoves,
        Workload::LiveMoves,
        Workload::CrmData,
        Workload::Board,
        Workload::UiBoard,
        Workload::Search,
        Workload::Actions,
        Workload::Timers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Baseline => "baseline",
            Workload::Inbound => "inbound",
            Workload::InboundKeyed => "inbound-keyed",
            Workload::Move => "move",
            Workload::ScenarioMoves => "scenario-moves",
            Workload::LiveMoves => "live-moves",
            Workload::CrmData => "crm-data",
            Workload::Board => "board",
            Workload::UiBoard => "ui-board",
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
            Workload::InboundKeyed => {
                "the same, each request with a new Idempotency-Key: its answer is kept"
            }
            Workload::Move => "POST /crm/step/move to a random step of its scenario",
            Workload::ScenarioMoves => {
                "POST /crm/step/move within one scenario, nobody watching (live-moves' control)"
            }
            Workload::LiveMoves => {
                "POST /crm/step/move within one scenario, while 100 event streams watch its board"
            }
            Workload::UiBoard => "GET /ui/scenarios/{id}: the board page, 8 columns of 50 cards",
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
            Workload::Inbound | Workload::InboundKeyed => {
                let n = sequence.fetch_add(1, Ordering::Relaxed);
                let post = if workload == Workload::InboundKeyed {
                    Request::post_keyed
                } else {
                    Request::post
                };
                post(
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
            // Conversation `i` sits in scenario `i % SCENARIOS`: these are scenario 0's.
            Workload::ScenarioMoves | Workload::LiveMoves => Request::post(
                "/crm/step/move",
                json!({"conversationId": org.conversations[i - i % SCENARIOS],
                       "destStepId": org.scenarios[0].steps[step]}),
            ),
            Workload::UiBoard => Request::page(
                format!("/ui/scenarios/{}", org.scenarios[0].id),
                &org.ui_cookie,
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

/// What the event streams of `LiveMoves` heard.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct StreamsOutcome {
    pub streams: usize,
    /// Board events received, over all streams.
    pub events: u64,
    pub bytes: u64,
}

/// What the streams heard so far.
pub struct StreamCounters {
    events: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl StreamCounters {
    /// Counts from now on only.
    pub fn reset(&self) {
        self.events.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
    }
}

/// Event streams open on a board, counting what they hear until stopped.
pub struct Streams {
    tasks: tokio::task::JoinSet<()>,
    events: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    count: usize,
}

impl Streams {
    /// Opens `count` streams on scenario 0's board, each answered before this returns (so
    /// each is subscribed to changes).
    pub async fn open(base: &str, org: &Organization, count: usize) -> anyhow::Result<Streams> {
        let events = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        let path = format!("{base}/ui/scenarios/{}/live", org.scenarios[0].id);
        for _ in 0..count {
            let client = reqwest::Client::builder().http1_only().build()?;
            let mut response = client
                .get(&path)
                .header("cookie", &org.ui_cookie)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "a board event stream answered {}",
                response.status()
            );
            let (events, bytes) = (events.clone(), bytes.clone());
            tasks.spawn(async move {
                while let Ok(Some(chunk)) = response.chunk().await {
                    bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    let text = String::from_utf8_lossy(&chunk);
                    events.fetch_add(
                        text.matches("event: board").count() as u64,
                        Ordering::Relaxed,
                    );
                }
            });
        }
        Ok(Streams {
            tasks,
            events,
            bytes,
            count,
        })
    }

    /// The counters, to start them again from another task.
    pub fn counters(&self) -> StreamCounters {
        StreamCounters {
            events: self.events.clone(),
            bytes: self.bytes.clone(),
        }
    }

    pub async fn close(mut self) -> StreamsOutcome {
        // What is in flight when the moves stop arrives within the feed's gathering time.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        StreamsOutcome {
            streams: self.count,
            events: self.events.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}
