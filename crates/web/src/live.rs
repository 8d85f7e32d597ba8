//! Live pages: a server-sent event stream per open board or conversation.
//!
//! A board's stream does not re-read columns on every change. Streams that show the same
//! board with the same filter (and the same right to see payments) share one feed: a task
//! that hears the store's changes, gathers them for a moment, and reads only what they
//! touched (the changed cards and the column figures) once for all those streams. A
//! conversation's stream only says that the conversation changed; the page fetches itself
//! again, as one person does by reloading.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Extension, Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::Serialize;
use stagecoach_app::{
    AppError, Change, ChangeNotice, ChangeSubscription, ChatSearch, Principal, Stagecoach,
};
use stagecoach_domain::ids::{ConversationId, OrganizationId, ScenarioId};
use stagecoach_domain::scope::{Area, Requirement, Scope};
use tokio::sync::broadcast;

use crate::pages::{BoardQuery, CardFragment, failure, refusal};
use crate::session::SignedIn;

/// How long a feed gathers changes after the first before it reads: a burst of writes
/// becomes one update, and a change still shows within a second.
const GATHER: Duration = Duration::from_millis(250);
/// How often a stream checks that its session is still open, and an idle feed that it
/// still has streams.
const RECHECK: Duration = Duration::from_secs(30);
/// Updates a slow stream may fall behind by before it is told to reload.
const STREAM_BACKLOG: usize = 64;

/// Which streams can share a feed: the same board, filter and view of payments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FeedKey {
    organization: OrganizationId,
    scenario: ScenarioId,
    filter: String,
    sees_payments: bool,
}

/// The open board feeds of this server.
pub(crate) struct Live {
    feeds: Mutex<HashMap<FeedKey, broadcast::Sender<Arc<str>>>>,
    /// Set when the server stops: every stream ends, so a graceful shutdown does not wait
    /// for browsers that keep their pages open.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Live {
    /// The streams end when `shutdown` completes.
    pub(crate) fn new(
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Arc<Live> {
        let live = Arc::new(Live {
            feeds: Mutex::default(),
            closing: tokio::sync::watch::channel(false).0,
        });
        let closing = live.closing.clone();
        tokio::spawn(async move {
            shutdown.await;
            closing.send_replace(true);
        });
        live
    }

    /// A receiver of the feed for `key`, started with `start` when none runs.
    fn subscribe(
        self: &Arc<Self>,
        key: FeedKey,
        start: impl FnOnce(broadcast::Sender<Arc<str>>),
    ) -> broadcast::Receiver<Arc<str>> {
        let mut feeds = self.feeds.lock().expect("live feeds lock");
        if let Some(sender) = feeds.get(&key) {
            return sender.subscribe();
        }
        let (sender, receiver) = broadcast::channel(STREAM_BACKLOG);
        feeds.insert(key, sender.clone());
        start(sender);
        receiver
    }

    /// Ends the feed if no stream listens any more; true when it ended. A newer feed
    /// registered under the same key since is left alone.
    fn close_if_unused(&self, key: &FeedKey, sender: &broadcast::Sender<Arc<str>>) -> bool {
        let mut feeds = self.feeds.lock().expect("live feeds lock");
        if sender.receiver_count() > 0 {
            return false;
        }
        if feeds.get(key).is_some_and(|s| s.same_channel(sender)) {
            feeds.remove(key);
        }
        true
    }
}

#[derive(Serialize)]
struct ColumnFigures {
    step: String,
    count: i64,
    payments: String,
}

#[derive(Serialize)]
struct CardHtml {
    id: String,
    step: String,
    /// Where the card sorts in its column: when it joined the board, then its id.
    order: i64,
    html: String,
}

#[derive(Serialize)]
struct BoardChanged {
    columns: Vec<ColumnFigures>,
    cards: Vec<CardHtml>,
    gone: Vec<String>,
}

/// A gathered batch of one organization's changes.
#[derive(Default)]
struct Batch {
    changes: Vec<Change>,
    /// Changes may have been missed: show everything again.
    resync: bool,
}

impl Batch {
    fn add(&mut self, notice: &ChangeNotice, org: OrganizationId) {
        match notice {
            ChangeNotice::Changed(changes) => {
                for change in changes.iter() {
                    if change.organization_id() == org && !self.changes.contains(change) {
                        self.changes.push(*change);
                    }
                }
            }
            ChangeNotice::Resync => self.resync = true,
        }
    }
}

/// The next batch of the organization's changes that `concerns` cares about, gathered for
/// [`GATHER`] after the first. Every [`RECHECK`] without one, `stop` says whether to give
/// up. `None` when the store closed or `stop` said so.
async fn next_batch(
    changes: &mut ChangeSubscription,
    org: OrganizationId,
    concerns: impl Fn(&Batch) -> bool,
    mut stop: impl FnMut() -> bool,
) -> Option<Batch> {
    let mut batch = Batch::default();
    while !concerns(&batch) {
        batch = Batch::default();
        tokio::select! {
            notice = changes.next() => batch.add(&notice?, org),
            () = tokio::time::sleep(RECHECK) => if stop() { return None },
        }
    }
    let gathering = tokio::time::sleep(GATHER);
    tokio::pin!(gathering);
    loop {
        tokio::select! {
            notice = changes.next() => batch.add(&notice?, org),
            () = &mut gathering => return Some(batch),
        }
    }
}

const RESYNC: &str = "{\"resync\":true}";

/// One board feed: hears changes, reads what they touched, sends it to every stream.
async fn run_board_feed(
    core: Stagecoach,
    live: Arc<Live>,
    key: FeedKey,
    who: Principal,
    query: BoardQuery,
    search: ChatSearch,
    mut changes: ChangeSubscription,
    sender: broadcast::Sender<Arc<str>>,
) {
    let org = who.organization_id;
    let concerns = |batch: &Batch| batch.resync || !batch.changes.is_empty();
    while let Some(batch) = next_batch(&mut changes, org, concerns, || {
        live.close_if_unused(&key, &sender)
    })
    .await
    {
        let message: Arc<str> = if batch.resync {
            Arc::from(RESYNC)
        } else {
            match core
                .board_update(
                    &who,
                    key.scenario,
                    &search,
                    crate::pages::CARDS_PER_COLUMN,
                    &batch.changes,
                )
                .await
            {
                Ok(update) => Arc::from(render_update(&update, &key, &query).as_str()),
                Err(error) => {
                    tracing::warn!(%error, "a live board could not read its changes");
                    Arc::from(RESYNC)
                }
            }
        };
        if sender.send(message).is_err() && live.close_if_unused(&key, &sender) {
            return;
        }
    }
    live.close_if_unused(&key, &sender);
}

fn render_update(
    update: &stagecoach_app::BoardUpdate,
    key: &FeedKey,
    query: &BoardQuery,
) -> String {
    let fragment = CardFragment::new(key.scenario, query, &update.columns);
    let changed = BoardChanged {
        columns: update
            .columns
            .iter()
            .map(|c| ColumnFigures {
                step: c.step.id.to_string(),
                count: c.count,
                payments: crate::pages::payments_line(c.open_payments.as_deref()),
            })
            .collect(),
        cards: update
            .cards
            .iter()
            .map(|card| CardHtml {
                id: card.conversation.id.to_string(),
                step: card.link.step_id.to_string(),
                order: card.link.created_at.timestamp_millis(),
                html: fragment.render(card, &update.member_names),
            })
            .collect(),
        gone: update.gone.iter().map(ToString::to_string).collect(),
    };
    serde_json::to_string(&changed).unwrap_or_else(|_| RESYNC.to_owned())
}

/// Ends with the session: a stream re-checks it now and then.
async fn session_open(core: &Stagecoach, secret: &str) -> bool {
    !matches!(
        core.session_principal(secret).await,
        Err(AppError::Unauthorized)
    )
}

fn event_stream(
    core: Stagecoach,
    secret: String,
    receiver: broadcast::Receiver<Arc<str>>,
    closing: tokio::sync::watch::Receiver<bool>,
    name: &'static str,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (core, secret, receiver, closing, false),
        move |(core, secret, mut receiver, mut closing, ended)| async move {
            if ended {
                return None;
            }
            loop {
                let next = tokio::select! {
                    // The server stops: the browser reconnects to whichever server is up.
                    _ = closing.wait_for(|closing| *closing) => return None,
                    message = receiver.recv() => Some(message),
                    () = tokio::time::sleep(RECHECK) => None,
                };
                match next {
                    Some(message) => {
                        let data: Arc<str> = match message {
                            Ok(data) => data,
                            Err(broadcast::error::RecvError::Lagged(_)) => Arc::from(RESYNC),
                            Err(broadcast::error::RecvError::Closed) => return None,
                        };
                        let event = Event::default().event(name).data(&*data);
                        return Some((Ok(event), (core, secret, receiver, closing, false)));
                    }
                    None if !session_open(&core, &secret).await => {
                        let event = Event::default().event("signed-out").data("{}");
                        return Some((Ok(event), (core, secret, receiver, closing, true)));
                    }
                    None => {}
                }
            }
        },
    )
}

/// `GET /ui/scenarios/{id}/live`: the board's changes, as `board` events.
pub(crate) async fn board_events(
    State(core): State<Stagecoach>,
    Extension(live): Extension<Arc<Live>>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<BoardQuery>,
) -> Response {
    let who = signed_in.principal;
    for scope in [
        Scope::read(Area::Scenarios),
        Scope::read(Area::Conversations),
    ] {
        if let Some(refused) = refusal(&who, scope) {
            return refused;
        }
    }
    let search = match query.search() {
        Ok(search) => search,
        Err(error) => return failure(&error),
    };
    let scenario = match core.get_scenario(&who, ScenarioId::parse(&id)).await {
        Ok(scenario) => scenario.id,
        Err(error) => return failure(&error),
    };
    let key = FeedKey {
        organization: who.organization_id,
        scenario,
        filter: query.filter_query(),
        sees_payments: who
            .require(Requirement::new(Scope::read(Area::Leads)))
            .is_ok(),
    };
    let receiver = live.subscribe(key.clone(), |sender| {
        // Subscribed before the stream answers: no change after that is missed.
        let changes = core.changes();
        tokio::spawn(run_board_feed(
            core.clone(),
            Arc::clone(&live),
            key,
            who,
            query,
            search,
            changes,
            sender,
        ));
    });
    let closing = live.closing.subscribe();
    Sse::new(event_stream(
        core,
        signed_in.secret,
        receiver,
        closing,
        "board",
    ))
    .keep_alive(KeepAlive::default())
    .into_response()
}

/// `GET /ui/conversations/{id}/live`: a `conversation` event whenever the conversation
/// changes (gathered like a board's), for the page to show itself again.
pub(crate) async fn conversation_events(
    State(core): State<Stagecoach>,
    Extension(live): Extension<Arc<Live>>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let who = signed_in.principal;
    if let Some(refused) = refusal(&who, Scope::read(Area::Conversations)) {
        return refused;
    }
    let conversation = match core
        .conversation_detail(&who, ConversationId::parse(&id))
        .await
    {
        Ok(detail) => detail.conversation.id,
        Err(error) => return failure(&error),
    };
    let (sender, receiver) = broadcast::channel(STREAM_BACKLOG);
    let org = who.organization_id;
    let watched = Change::Conversation(org, conversation);
    let mut changes = core.changes();
    tokio::spawn(async move {
        let concerns = |batch: &Batch| batch.resync || batch.changes.contains(&watched);
        while next_batch(&mut changes, org, concerns, || sender.receiver_count() == 0)
            .await
            .is_some()
        {
            if sender.send(Arc::from("{}")).is_err() {
                return;
            }
        }
    });
    let closing = live.closing.subscribe();
    Sse::new(event_stream(
        core,
        signed_in.secret,
        receiver,
        closing,
        "conversation",
    ))
    .keep_alive(KeepAlive::default())
    .into_response()
}
