use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use stagecoach_domain::conversation::{Conversation, Handling, ScenarioLink};
use stagecoach_domain::engine::assignment::MemberLoad;
use stagecoach_domain::enums::{Channel, ConversationStatus, Priority};
use stagecoach_domain::ids::{
    AgentId, ContactId, ConversationId, MembershipId, OrganizationId, ScenarioId, StepId,
};
use stagecoach_domain::step::RequestContact;
use uuid::Uuid;

use crate::StoreError;
use crate::rows::{from_json, opt_time, parse_enum, time};
use crate::sql::Executor;

/// A board link a step entry writes, with what the transaction knew of it before.
#[derive(Debug, Clone, Copy)]
pub struct LinkWrite<'a> {
    pub link: &'a ScenarioLink,
    /// Whether the link was available before this write; `None` for a new link.
    pub was_available: Option<bool>,
}

/// Filters of a conversation listing (Chatvolt's `GET /conversation`), newest first.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// `Some(None)`: conversations without an agent.
    pub agent: Option<Option<AgentId>>,
    pub channel: Option<Channel>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub status: Option<ConversationStatus>,
    pub priority: Option<Priority>,
    /// `Some(None)`: unassigned conversations.
    pub assignee: Option<Option<MembershipId>>,
    pub unread: Option<bool>,
    pub tag: Option<String>,
    pub ai_enabled: Option<bool>,
    /// Conversations active in this scenario (and step).
    pub scenario: Option<ScenarioId>,
    pub step: Option<StepId>,
    /// Keyset cursor: strictly older than this (created_at, id).
    pub before: Option<(DateTime<Utc>, ConversationId)>,
}

/// A search over chats (Texter's `GET /chats/search`), newest last message first.
#[derive(Debug, Clone, Default)]
pub struct ChatSearch {
    /// Part of the contact's name or phone number, or of the conversation's title; names
    /// and titles match ignoring case and accents.
    pub text: Option<String>,
    /// Chats on any of these channels (empty: any).
    pub channels: Vec<Channel>,
    /// Chats carrying any of these tags.
    pub tags: Vec<String>,
    /// Chats handled in any of these ways (empty: any).
    pub handlings: Vec<Handling>,
    /// `Some(None)`: chats assigned to nobody; `Some(Some(m))`: chats assigned to `m`.
    pub assignee: Option<Option<MembershipId>>,
    /// Chats with any of these priorities (empty: any).
    pub priorities: Vec<Priority>,
    /// Chats in any of these statuses (empty: any).
    pub statuses: Vec<ConversationStatus>,
}

impl ChatSearch {
    /// Whether the search matches every chat.
    pub fn is_empty(&self) -> bool {
        self.text.is_none()
            && self.channels.is_empty()
            && self.tags.is_empty()
            && self.handlings.is_empty()
            && self.assignee.is_none()
            && self.priorities.is_empty()
            && self.statuses.is_empty()
    }
}

#[async_trait]
pub trait Conversations {
    /// Reads the conversation and holds it until the transaction ends, so concurrent
    /// read-modify-write updates of it (CRM data merges) happen one after the other.
    async fn lock_conversation(
        &mut self,
        org: OrganizationId,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError>;
    /// A page of a chat search and how many chats match.
    async fn search_conversations(
        &mut self,
        org: OrganizationId,
        search: &ChatSearch,
        skip: i64,
        limit: i64,
    ) -> Result<(Vec<Conversation>, i64), StoreError>;
    async fn insert_conversation(&mut self, conversation: &Conversation) -> Result<(), StoreError>;
    /// Writes the conversation with its tags and assignees. Members already assigned keep
    /// their assignment time; new ones are assigned at `now`.
    async fn save_conversation(
        &mut self,
        conversation: &Conversation,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// [`Self::save_conversation`], then [`crate::Board::save_link`] for each of the
    /// conversation's `links` in order, with one refresh of `open_assignments` for all:
    /// what a step entry writes. `stored` is the conversation as this transaction last
    /// read or wrote it: tags, assignees and indexed columns equal to it are not
    /// rewritten (SQLite rewrites an index whenever its column is set, changed or not),
    /// and `open_assignments` is refreshed only when the assignees, whether the
    /// conversation is resolved, or the scenarios it is on the board of changed.
    async fn save_conversation_and_links(
        &mut self,
        stored: &Conversation,
        conversation: &Conversation,
        links: &[LinkWrite<'_>],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn get_conversation(
        &mut self,
        org: OrganizationId,
        id: ConversationId,
    ) -> Result<Option<Conversation>, StoreError>;
    /// Several conversations in one go (unknown ids are left out, order not kept).
    async fn get_conversations(
        &mut self,
        org: OrganizationId,
        ids: &[ConversationId],
    ) -> Result<Vec<Conversation>, StoreError>;
    /// The contact's most recent conversation on a channel.
    async fn latest_conversation(
        &mut self,
        org: OrganizationId,
        contact: ContactId,
        channel: Channel,
    ) -> Result<Option<Conversation>, StoreError>;
    /// [`Self::latest_conversation`], held like [`Self::lock_conversation`].
    async fn lock_latest_conversation(
        &mut self,
        org: OrganizationId,
        contact: ContactId,
        channel: Channel,
    ) -> Result<Option<Conversation>, StoreError>;
    async fn list_conversations(
        &mut self,
        org: OrganizationId,
        filter: &ConversationFilter,
        limit: i64,
    ) -> Result<Vec<Conversation>, StoreError>;
    /// Deletes the conversation with its messages, links, stays and timeline.
    async fn delete_conversation(
        &mut self,
        org: OrganizationId,
        id: ConversationId,
    ) -> Result<bool, StoreError>;
    /// A member's open (not RESOLVED) conversations active in a scenario, and when the
    /// member was last assigned one of the scenario's conversations.
    async fn member_loads(
        &mut self,
        org: OrganizationId,
        scenario: ScenarioId,
        members: &[MembershipId],
    ) -> Result<Vec<MemberLoad>, StoreError>;
}

/// Writes a conversation, its tags and assignees, and `links`, then refreshes its
/// `open_assignments`. With `stored` (the row as the transaction knows it), only what
/// differs from it is written, and the refresh runs only when its inputs changed.
pub(crate) async fn write_conversation<E: Executor + ?Sized>(
    on: &mut E,
    stored: Option<&Conversation>,
    c: &Conversation,
    links: &[LinkWrite<'_>],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    crate::sql::query(
        "UPDATE conversations SET title = $3, status = $4, priority = $5, ai_enabled = $6, \
         crm_data = $7, contact_fields_to_collect = $8, last_inbound_at = $9, unread_count = $10, \
         updated_at = $11, crm_deep_link = $12, external_bot = $13, search_title = $14 \
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(c.organization_id.0)
    .bind(c.id.0)
    .bind(&c.title)
    .bind(c.status.as_str())
    .bind(c.priority.as_str())
    .bind(c.ai_enabled)
    .bind(serde_json::to_string(&c.crm_data).expect("a JSON map serializes"))
    .bind(serde_json::to_string(&c.contact_fields_to_collect).expect("plain data serializes"))
    .bind(c.last_inbound_at.map(crate::rows::millis))
    .bind(c.unread_count)
    .bind(crate::rows::millis(c.updated_at))
    .bind(&c.crm_deep_link)
    .bind(c.external_bot)
    .bind(crate::repos::search_text::conversation_search_title(
        c.title.as_deref(),
    ))
    .execute(on)
    .await?;
    let changed = |same: fn(&Conversation, &Conversation) -> bool| match stored {
        Some(stored) => !same(stored, c),
        None => true,
    };
    // The columns other indexes cover, in a statement of their own.
    if changed(|a, b| {
        a.agent_id == b.agent_id && a.channel == b.channel && a.last_message_at == b.last_message_at
    }) {
        crate::sql::query(
            "UPDATE conversations SET agent_id = $3, channel = $4, last_message_at = $5 \
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(c.organization_id.0)
        .bind(c.id.0)
        .bind(c.agent_id.map(|a| a.0))
        .bind(c.channel.as_str())
        .bind(c.last_message_at.map(crate::rows::millis))
        .execute(on)
        .await?;
    }
    // Tags and assignees: a statement or two each, whatever their number.
    if changed(|a, b| a.tags == b.tags) {
        crate::sql::query("DELETE FROM conversation_tags WHERE conversation_id = $1")
            .bind(c.id.0)
            .execute(on)
            .await?;
        if !c.tags.is_empty() {
            let mut qb = crate::sql::QueryBuilder::new(
                "INSERT INTO conversation_tags (conversation_id, organization_id, tag, position) ",
            );
            qb.push_values(c.tags.iter().enumerate(), |mut row, (position, tag)| {
                row.push_bind(c.id.0)
                    .push_bind(c.organization_id.0)
                    .push_bind(tag.clone())
                    .push_bind(position as i64);
            });
            qb.build().execute(on).await?;
        }
    }
    let assignees_changed = changed(|a, b| a.assignees == b.assignees);
    if assignees_changed {
        // Assignees who stay keep their assignment time; new ones get `now`.
        let mut qb = crate::sql::QueryBuilder::new(
            "DELETE FROM conversation_assignees WHERE conversation_id = ",
        );
        qb.push_bind(c.id.0);
        if !c.assignees.is_empty() {
            qb.push(" AND membership_id NOT IN ");
            crate::repos::push_list!(qb, c.assignees.iter().map(|m| m.0));
        }
        qb.build().execute(on).await?;
        if !c.assignees.is_empty() {
            let mut qb = crate::sql::QueryBuilder::new(
                "INSERT INTO conversation_assignees (conversation_id, organization_id, membership_id, assigned_at) ",
            );
            qb.push_values(&c.assignees, |mut row, member| {
                row.push_bind(c.id.0)
                    .push_bind(c.organization_id.0)
                    .push_bind(member.0)
                    .push_bind(crate::rows::millis(now));
            });
            qb.push(" ON CONFLICT (conversation_id, membership_id) DO NOTHING");
            qb.build().execute(on).await?;
        }
    }
    for write in links {
        debug_assert_eq!(
            write.link.conversation_id, c.id,
            "a link of another conversation"
        );
        crate::repos::board::upsert_link(write.link)
            .execute(on)
            .await?;
    }
    // Its rows depend on the assignees, on whether the conversation is resolved and on
    // which scenarios it is on the board of (a link never changes scenario).
    let board_changed = links
        .iter()
        .any(|write| write.was_available != Some(write.link.available));
    let resolution_changed = changed(|a, b| {
        (a.status == ConversationStatus::Resolved) == (b.status == ConversationStatus::Resolved)
    });
    if board_changed || assignees_changed || resolution_changed {
        // Once, after the conversation and its links are all written.
        refresh_open_assignments(on, c.id.0).await?;
    }
    Ok(())
}

/// Rewrites one conversation's rows of `open_assignments` (see migration 0006) from its
/// assignees, status and board links; run after any of them is saved.
pub(crate) async fn refresh_open_assignments<E: Executor + ?Sized>(
    on: &mut E,
    conversation: Uuid,
) -> Result<(), StoreError> {
    const REFRESH: [&str; 2] = [
        "DELETE FROM open_assignments WHERE conversation_id = $1",
        "INSERT INTO open_assignments (scenario_id, membership_id, conversation_id, organization_id, assigned_at) \
         SELECT l.scenario_id, a.membership_id, a.conversation_id, a.organization_id, a.assigned_at \
         FROM conversation_assignees a \
         JOIN scenario_links l ON l.conversation_id = a.conversation_id AND l.available \
         JOIN conversations v ON v.id = a.conversation_id AND v.status <> 'RESOLVED' \
         WHERE a.conversation_id = $1",
    ];
    for sql in REFRESH {
        crate::sql::query(sql)
            .bind(conversation)
            .execute(on)
            .await?;
    }
    Ok(())
}

/// How each engine reads fair distribution's member loads: the query up to the
/// organization's bind, then (after the scenario and member filters) its ending. Both
/// answer `membership_id`, `open_count` and `last_assigned` for members with open
/// conversations.
pub(crate) struct MemberLoadsSql {
    pub select: &'static str,
    pub group: &'static str,
}

/// SQLite reads the counts its triggers keep (migration 0008); the latest assignment is
/// the last entry of `open_assignments_latest`.
pub(crate) const MEMBER_LOADS_SQLITE: MemberLoadsSql = MemberLoadsSql {
    select: "SELECT membership_id, open_count, \
             (SELECT MAX(o.assigned_at) FROM open_assignments o \
              WHERE o.scenario_id = c.scenario_id AND o.membership_id = c.membership_id) AS last_assigned \
             FROM member_open_counts c WHERE open_count > 0 AND organization_id = ",
    group: "",
};

/// PostgreSQL counts: shared count rows would make its concurrent writers queue (and
/// deadlock when two moves swap assignees).
pub(crate) const MEMBER_LOADS_POSTGRES: MemberLoadsSql = MemberLoadsSql {
    select: "SELECT membership_id, COUNT(*) AS open_count, MAX(assigned_at) AS last_assigned \
             FROM open_assignments WHERE organization_id = ",
    group: " GROUP BY membership_id",
};

crate::sql::row_struct! {
    pub(crate) struct ConversationRow {
        id: Uuid,
        organization_id: Uuid,
        contact_id: Uuid,
        channel: String,
        title: Option<String>,
        status: String,
        priority: String,
        ai_enabled: bool,
        agent_id: Option<Uuid>,
        crm_data: String,
        contact_fields_to_collect: String,
        last_inbound_at: Option<i64>,
        last_message_at: Option<i64>,
        unread_count: i64,
        crm_deep_link: Option<String>,
        external_bot: bool,
        created_at: i64,
        updated_at: i64,
    }
}

impl ConversationRow {
    pub(crate) fn into_domain(
        self,
        tags: Vec<String>,
        assignees: Vec<MembershipId>,
    ) -> Result<Conversation, StoreError> {
        let crm_data: Option<Map<String, Value>> = from_json("crm_data", Some(self.crm_data))?;
        let collect: Option<RequestContact> = from_json(
            "contact_fields_to_collect",
            Some(self.contact_fields_to_collect),
        )?;
        Ok(Conversation {
            id: ConversationId(self.id),
            organization_id: OrganizationId(self.organization_id),
            contact_id: ContactId(self.contact_id),
            channel: parse_enum("channel", &self.channel, Channel::parse)?,
            title: self.title,
            status: parse_enum("status", &self.status, ConversationStatus::parse)?,
            priority: parse_enum("priority", &self.priority, Priority::parse)?,
            ai_enabled: self.ai_enabled,
            agent_id: self.agent_id.map(AgentId),
            assignees,
            tags,
            crm_data: crm_data.unwrap_or_default(),
            contact_fields_to_collect: collect.unwrap_or_default(),
            last_inbound_at: opt_time(self.last_inbound_at)?,
            last_message_at: opt_time(self.last_message_at)?,
            unread_count: self.unread_count,
            crm_deep_link: self.crm_deep_link,
            external_bot: self.external_bot,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

/// Whether a search text is a phone number (or part of one): at least two digits and
/// nothing but digits and phone punctuation. Such a search looks at phone numbers only.
pub(crate) fn is_phone_search(text: &str) -> bool {
    text.chars().filter(char::is_ascii_digit).count() >= 2
        && text
            .chars()
            .all(|ch| ch.is_ascii_digit() || " +-().".contains(ch))
}

/// A search page's row with the number of matches in all (`COUNT(*) OVER ()`), so the
/// filter runs once for both.
pub(crate) struct CountedConversationRow {
    pub(crate) row: ConversationRow,
    pub(crate) total_count: i64,
}

impl crate::sql::FromRow for CountedConversationRow {
    fn from_row(row: &mut crate::sql::Row) -> Result<Self, StoreError> {
        Ok(Self {
            row: <ConversationRow as crate::sql::FromRow>::from_row(row)?,
            total_count: row.take("total_count")?,
        })
    }
}

/// What the text of a chat search looks for, as `LIKE` patterns.
pub(crate) struct TextPatterns {
    /// The text, folded as names and titles are ([`crate::repos::search_text`]), for
    /// their folded copies (`%text%`); `None` for a phone number (or part of one), which
    /// looks at phone numbers alone.
    pub(crate) text: Option<String>,
    /// The text's digits, for phone numbers, when it holds at least two.
    pub(crate) digits: Option<String>,
}

/// How many of a phone search's last digits the trigram indexes are asked for. A
/// number's leading digits are its country and area codes, which most of an
/// organization's contacts share, so their trigrams are in nearly every row: with them,
/// a search for a whole number read most of the index (13 ms at a million numbers on
/// SQLite, 10 ms on PostgreSQL, against 0.3 ms for its last six digits). The last digits
/// narrow the rows to a handful, and the whole number is then checked on those alone.
const PHONE_DIGITS_INDEXED: usize = 6;

impl TextPatterns {
    pub(crate) fn new(text: &str) -> Self {
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        Self {
            text: (!is_phone_search(text))
                .then(|| format!("%{}%", stagecoach_domain::text::fold(text.trim()))),
            digits: (digits.len() >= 2).then_some(digits),
        }
    }

    /// The phone's `LIKE` pattern for the index and, when the digits are longer than
    /// what the index is asked for, the whole digits to check on the rows it finds.
    fn phone(&self) -> Option<(String, Option<&str>)> {
        let digits = self.digits.as_deref()?;
        Some(if digits.len() > PHONE_DIGITS_INDEXED {
            let tail = &digits[digits.len() - PHONE_DIGITS_INDEXED..];
            (format!("%{tail}%"), Some(digits))
        } else {
            (format!("%{digits}%"), None)
        })
    }

    /// Appends the phone condition: the `LIKE` the trigram index answers and, for a long
    /// number, the whole-number check with `substring_position`, the engine's function
    /// for where one string is in another (`instr`, `strpos`), which no index takes, so
    /// it only checks the rows the index found.
    fn push_phone_condition(&self, qb: &mut crate::sql::QueryBuilder, substring_position: &str) {
        let Some((indexed, whole)) = self.phone() else {
            return;
        };
        qb.push("phone LIKE ").push_bind(indexed);
        if let Some(whole) = whole {
            qb.push(format_args!(" AND {substring_position}(phone, "))
                .push_bind(whole.to_owned())
                .push(") > 0");
        }
    }
}

/// Appends an engine's condition that `v` is a conversation whose contact's name or
/// phone, or whose title, matches: each engine answers it from its trigram indexes.
pub(crate) type PushTextMatch = fn(&mut crate::sql::QueryBuilder, OrganizationId, &TextPatterns);

/// SQLite: the FTS5 trigram table of migration 0009, which holds the folded copies since
/// 0011. One `SELECT` per column, joined by `UNION`: SQLite does not use the index for an
/// `OR` across a virtual table's columns.
pub(crate) fn push_text_match_sqlite(
    qb: &mut crate::sql::QueryBuilder,
    _org: OrganizationId,
    patterns: &TextPatterns,
) {
    const FROM: &str = "SELECT rowid FROM conversation_search WHERE ";
    qb.push(" AND v.id IN (SELECT conversation_id FROM conversation_search_keys WHERE search_rowid IN (");
    let mut union = "";
    if let Some(text) = &patterns.text {
        for column in ["name", "title"] {
            qb.push(union)
                .push(FROM)
                .push(format_args!("{column} LIKE "))
                .push_bind(text.clone());
            union = " UNION ";
        }
    }
    if patterns.digits.is_some() {
        qb.push(union).push(FROM);
        // instr() is not a column constraint, so FTS5 leaves it to SQLite.
        patterns.push_phone_condition(qb, "instr");
    }
    qb.push("))");
}

/// PostgreSQL: the pg_trgm indexes of migrations 0009 (phone) and 0011 (the folded name
/// and title), on the columns compared here (without pg_trgm, the same query scans). The
/// title is on another table than the name and phone, so it is a `UNION` too.
pub(crate) fn push_text_match_postgres(
    qb: &mut crate::sql::QueryBuilder,
    org: OrganizationId,
    patterns: &TextPatterns,
) {
    const CONTACTS: &str = "SELECT m.id FROM conversations m JOIN contacts c ON c.id = m.contact_id WHERE c.organization_id = ";
    qb.push(" AND v.id IN (");
    let mut union = "";
    if let Some(text) = &patterns.text {
        qb.push(CONTACTS)
            .push_bind(org.0)
            .push(" AND c.search_name LIKE ")
            .push_bind(text.clone())
            .push(" UNION SELECT id FROM conversations WHERE organization_id = ")
            .push_bind(org.0)
            .push(" AND search_title LIKE ")
            .push_bind(text.clone());
        union = " UNION ";
    }
    if patterns.digits.is_some() {
        qb.push(union).push(CONTACTS).push_bind(org.0).push(" AND ");
        patterns.push_phone_condition(qb, "strpos");
    }
    qb.push(")");
}

/// Appends the `WHERE` clause of a chat search.
macro_rules! push_chat_search {
    ($qb:expr, $org:expr, $s:expr, $text_match:expr) => {{
        let s: &$crate::repos::conversations::ChatSearch = $s;
        $qb.push(" WHERE v.organization_id = ").push_bind($org.0);
        if let Some(text) = &s.text {
            let push_text_match: $crate::repos::conversations::PushTextMatch = $text_match;
            push_text_match(
                &mut $qb,
                $org,
                &$crate::repos::conversations::TextPatterns::new(text),
            );
        }
        if !s.channels.is_empty() {
            $qb.push(" AND v.channel IN ");
            $crate::repos::push_list!($qb, s.channels.iter().map(|c| c.as_str()));
        }
        if !s.tags.is_empty() {
            $qb.push(" AND EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation_id = v.id AND t.tag IN ");
            $crate::repos::push_list!($qb, s.tags.iter().cloned());
            $qb.push(")");
        }
        if !s.handlings.is_empty() {
            // The SQL form of Conversation::handling; a test keeps the two in agreement.
            const ASSIGNED: &str = "EXISTS (SELECT 1 FROM conversation_assignees a WHERE a.conversation_id = v.id)";
            let clauses: Vec<String> = s
                .handlings
                .iter()
                .map(|h| match h {
                    stagecoach_domain::conversation::Handling::Resolved => "v.status = 'RESOLVED'".to_owned(),
                    stagecoach_domain::conversation::Handling::Pending => format!(
                        "(v.status = 'HUMAN_REQUESTED' OR (v.status = 'UNRESOLVED' AND NOT v.ai_enabled AND NOT {ASSIGNED}))"
                    ),
                    stagecoach_domain::conversation::Handling::Assigned => format!("(v.status = 'UNRESOLVED' AND {ASSIGNED})"),
                    stagecoach_domain::conversation::Handling::Bot => {
                        format!("(v.status = 'UNRESOLVED' AND v.ai_enabled AND NOT {ASSIGNED})")
                    }
                })
                .collect();
            $qb.push(" AND (").push(clauses.join(" OR ")).push(")");
        }
        match s.assignee {
            None => {}
            Some(None) => {
                $qb.push(" AND NOT EXISTS (SELECT 1 FROM conversation_assignees a WHERE a.conversation_id = v.id)");
            }
            Some(Some(member)) => {
                $qb.push(" AND EXISTS (SELECT 1 FROM conversation_assignees a WHERE a.conversation_id = v.id AND a.membership_id = ")
                    .push_bind(member.0)
                    .push(")");
            }
        }
        if !s.priorities.is_empty() {
            $qb.push(" AND v.priority IN ");
            $crate::repos::push_list!($qb, s.priorities.iter().map(|p| p.as_str()));
        }
        if !s.statuses.is_empty() {
            $qb.push(" AND v.status IN ");
            $crate::repos::push_list!($qb, s.statuses.iter().map(|p| p.as_str()));
        }
    }};
}
pub(crate) use push_chat_search;

macro_rules! impl_conversations {
    ($tx:ty, lock_clause = $lock:literal, member_loads = $loads:expr, text_match = $text_match:expr) => {
        impl $tx {
            /// The latest-conversation query, with or without the engine's lock clause.
            async fn find_latest_conversation(
                &mut self,
                sql: &'static str,
                org: stagecoach_domain::ids::OrganizationId,
                contact: stagecoach_domain::ids::ContactId,
                channel: stagecoach_domain::enums::Channel,
            ) -> Result<Option<stagecoach_domain::conversation::Conversation>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::conversations::ConversationRow>(sql)
                    .bind(org.0)
                    .bind(contact.0)
                    .bind(channel.as_str())
                    .fetch_all(self.conn())
                    .await?;
                Ok(self.complete_conversations(rows).await?.pop())
            }

            /// Adds tags and assignees to conversation rows: two queries for the whole page.
            async fn complete_conversations(
                &mut self,
                rows: Vec<$crate::repos::conversations::ConversationRow>,
            ) -> Result<Vec<stagecoach_domain::conversation::Conversation>, $crate::StoreError> {
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<uuid::Uuid> = rows.iter().map($crate::repos::conversations::row_id).collect();
                let mut tags: std::collections::HashMap<uuid::Uuid, Vec<String>> = std::collections::HashMap::new();
                let mut qb = $crate::sql::QueryBuilder::new(
                    "SELECT conversation_id, tag FROM conversation_tags WHERE conversation_id IN ",
                );
                $crate::repos::push_list!(qb, ids.iter().copied());
                qb.push(" ORDER BY position, tag");
                for row in qb.build().fetch_all(self.conn()).await? {
                    tags.entry(row.try_get("conversation_id")?)
                        .or_default()
                        .push(row.try_get("tag")?);
                }
                let mut assignees: std::collections::HashMap<uuid::Uuid, Vec<stagecoach_domain::ids::MembershipId>> =
                    std::collections::HashMap::new();
                let mut qb = $crate::sql::QueryBuilder::new(
                    "SELECT conversation_id, membership_id FROM conversation_assignees WHERE conversation_id IN ",
                );
                $crate::repos::push_list!(qb, ids.iter().copied());
                qb.push(" ORDER BY assigned_at, membership_id");
                for row in qb.build().fetch_all(self.conn()).await? {
                    assignees
                        .entry(row.try_get("conversation_id")?)
                        .or_default()
                        .push(stagecoach_domain::ids::MembershipId(row.try_get("membership_id")?));
                }
                rows.into_iter()
                    .zip(ids)
                    .map(|(row, id)| {
                        row.into_domain(
                            tags.remove(&id).unwrap_or_default(),
                            assignees.remove(&id).unwrap_or_default(),
                        )
                    })
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::repos::conversations::Conversations for $tx {
            async fn lock_conversation(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ConversationId,
            ) -> Result<Option<stagecoach_domain::conversation::Conversation>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::conversations::ConversationRow>(
                    concat!("SELECT * FROM conversations WHERE organization_id = $1 AND id = $2", $lock),
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_all(self.conn())
                .await?;
                Ok(self.complete_conversations(rows).await?.pop())
            }

            async fn search_conversations(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                search: &$crate::repos::conversations::ChatSearch,
                skip: i64,
                limit: i64,
            ) -> Result<(Vec<stagecoach_domain::conversation::Conversation>, i64), $crate::StoreError> {
                const FROM: &str = " FROM conversations v";
                let mut page = $crate::sql::QueryBuilder::new("SELECT v.*, COUNT(*) OVER () AS total_count");
                page.push(FROM);
                $crate::repos::conversations::push_chat_search!(page, org, search, $text_match);
                page.push(" ORDER BY COALESCE(v.last_message_at, v.created_at) DESC, v.id DESC LIMIT ")
                    .push_bind(limit)
                    .push(" OFFSET ")
                    .push_bind(skip);
                let counted: Vec<$crate::repos::conversations::CountedConversationRow> =
                    page.build_query_as().fetch_all(self.conn()).await?;
                let total = match counted.first() {
                    Some(first) => first.total_count,
                    None if skip == 0 => 0,
                    // A page past the end carries no count: ask for it.
                    None => {
                        let mut count = $crate::sql::QueryBuilder::new("SELECT COUNT(*)");
                        count.push(FROM);
                        $crate::repos::conversations::push_chat_search!(count, org, search, $text_match);
                        count.build_query_scalar().fetch_one(self.conn()).await?
                    }
                };
                let rows = counted.into_iter().map(|c| c.row).collect();
                Ok((self.complete_conversations(rows).await?, total))
            }

            async fn insert_conversation(
                &mut self,
                c: &stagecoach_domain::conversation::Conversation,
            ) -> Result<(), $crate::StoreError> {
                self.note_change($crate::changes::Change::Conversation(c.organization_id, c.id));
                $crate::sql::query(
                    "INSERT INTO conversations (id, organization_id, contact_id, channel, title, status, \
                     priority, ai_enabled, agent_id, crm_data, contact_fields_to_collect, last_inbound_at, \
                     unread_count, created_at, updated_at, search_title) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(c.id.0)
                .bind(c.organization_id.0)
                .bind(c.contact_id.0)
                .bind(c.channel.as_str())
                .bind(&c.title)
                .bind(c.status.as_str())
                .bind(c.priority.as_str())
                .bind(c.ai_enabled)
                .bind(c.agent_id.map(|a| a.0))
                .bind(serde_json::to_string(&c.crm_data).expect("a JSON map serializes"))
                .bind(serde_json::to_string(&c.contact_fields_to_collect).expect("plain data serializes"))
                .bind(c.last_inbound_at.map($crate::rows::millis))
                .bind(c.unread_count)
                .bind($crate::rows::millis(c.created_at))
                .bind($crate::rows::millis(c.updated_at))
                .bind($crate::repos::search_text::conversation_search_title(c.title.as_deref()))
                .execute(self.conn())
                .await?;
                self.save_conversation(c, c.created_at).await
            }

            async fn save_conversation(
                &mut self,
                c: &stagecoach_domain::conversation::Conversation,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                self.note_change($crate::changes::Change::Conversation(c.organization_id, c.id));
                $crate::repos::conversations::write_conversation(self.conn(), None, c, &[], now).await
            }

            async fn save_conversation_and_links(
                &mut self,
                stored: &stagecoach_domain::conversation::Conversation,
                c: &stagecoach_domain::conversation::Conversation,
                links: &[$crate::repos::conversations::LinkWrite<'_>],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), $crate::StoreError> {
                self.note_change($crate::changes::Change::Conversation(c.organization_id, c.id));
                $crate::repos::conversations::write_conversation(self.conn(), Some(stored), c, links, now).await
            }

            async fn get_conversation(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ConversationId,
            ) -> Result<Option<stagecoach_domain::conversation::Conversation>, $crate::StoreError> {
                let rows = $crate::sql::query_as::<$crate::repos::conversations::ConversationRow>(
                    "SELECT * FROM conversations WHERE organization_id = $1 AND id = $2",
                )
                .bind(org.0)
                .bind(id.0)
                .fetch_all(self.conn())
                .await?;
                Ok(self.complete_conversations(rows).await?.pop())
            }

            async fn get_conversations(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                ids: &[stagecoach_domain::ids::ConversationId],
            ) -> Result<Vec<stagecoach_domain::conversation::Conversation>, $crate::StoreError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = $crate::sql::QueryBuilder::new("SELECT * FROM conversations WHERE organization_id = ");
                qb.push_bind(org.0).push(" AND id IN ");
                $crate::repos::push_list!(qb, ids.iter().map(|id| id.0));
                let rows = qb
                    .build_query_as::<$crate::repos::conversations::ConversationRow>()
                    .fetch_all(self.conn())
                    .await?;
                self.complete_conversations(rows).await
            }

            async fn latest_conversation(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                contact: stagecoach_domain::ids::ContactId,
                channel: stagecoach_domain::enums::Channel,
            ) -> Result<Option<stagecoach_domain::conversation::Conversation>, $crate::StoreError> {
                let sql = $crate::repos::conversations::latest_conversation_sql!();
                self.find_latest_conversation(sql, org, contact, channel).await
            }

            async fn lock_latest_conversation(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                contact: stagecoach_domain::ids::ContactId,
                channel: stagecoach_domain::enums::Channel,
            ) -> Result<Option<stagecoach_domain::conversation::Conversation>, $crate::StoreError> {
                let sql = concat!($crate::repos::conversations::latest_conversation_sql!(), $lock);
                self.find_latest_conversation(sql, org, contact, channel).await
            }

            async fn list_conversations(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                f: &$crate::repos::conversations::ConversationFilter,
                limit: i64,
            ) -> Result<Vec<stagecoach_domain::conversation::Conversation>, $crate::StoreError> {
                let mut qb = $crate::sql::QueryBuilder::new("SELECT v.* FROM conversations v WHERE v.organization_id = ");
                qb.push_bind(org.0);
                match f.agent {
                    Some(Some(agent)) => { qb.push(" AND v.agent_id = ").push_bind(agent.0); }
                    Some(None) => { qb.push(" AND v.agent_id IS NULL"); }
                    None => {}
                }
                if let Some(channel) = f.channel { qb.push(" AND v.channel = ").push_bind(channel.as_str()); }
                if let Some(from) = f.created_from { qb.push(" AND v.created_at >= ").push_bind($crate::rows::millis(from)); }
                if let Some(to) = f.created_to { qb.push(" AND v.created_at <= ").push_bind($crate::rows::millis(to)); }
                if let Some(status) = f.status { qb.push(" AND v.status = ").push_bind(status.as_str()); }
                if let Some(priority) = f.priority { qb.push(" AND v.priority = ").push_bind(priority.as_str()); }
                if let Some(ai) = f.ai_enabled { qb.push(" AND v.ai_enabled = ").push_bind(ai); }
                match f.unread {
                    Some(true) => { qb.push(" AND v.unread_count > 0"); }
                    Some(false) => { qb.push(" AND v.unread_count = 0"); }
                    None => {}
                }
                match f.assignee {
                    Some(Some(member)) => {
                        qb.push(" AND EXISTS (SELECT 1 FROM conversation_assignees a WHERE a.conversation_id = v.id AND a.membership_id = ")
                            .push_bind(member.0).push(")");
                    }
                    Some(None) => { qb.push(" AND NOT EXISTS (SELECT 1 FROM conversation_assignees a WHERE a.conversation_id = v.id)"); }
                    None => {}
                }
                if let Some(tag) = &f.tag {
                    qb.push(" AND EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation_id = v.id AND t.tag = ")
                        .push_bind(tag.clone()).push(")");
                }
                if f.scenario.is_some() || f.step.is_some() {
                    qb.push(" AND EXISTS (SELECT 1 FROM scenario_links l WHERE l.conversation_id = v.id AND l.available");
                    if let Some(scenario) = f.scenario { qb.push(" AND l.scenario_id = ").push_bind(scenario.0); }
                    if let Some(step) = f.step { qb.push(" AND l.step_id = ").push_bind(step.0); }
                    qb.push(")");
                }
                if let Some((at, id)) = f.before {
                    let at = $crate::rows::millis(at);
                    qb.push(" AND (v.created_at < ").push_bind(at)
                        .push(" OR (v.created_at = ").push_bind(at)
                        .push(" AND v.id < ").push_bind(id.0).push("))");
                }
                qb.push(" ORDER BY v.created_at DESC, v.id DESC LIMIT ").push_bind(limit);
                let rows: Vec<$crate::repos::conversations::ConversationRow> =
                    qb.build_query_as().fetch_all(self.conn()).await?;
                self.complete_conversations(rows).await
            }

            async fn delete_conversation(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                id: stagecoach_domain::ids::ConversationId,
            ) -> Result<bool, $crate::StoreError> {
                self.note_change($crate::changes::Change::Conversation(org, id));
                let done = $crate::sql::query("DELETE FROM conversations WHERE organization_id = $1 AND id = $2")
                    .bind(org.0)
                    .bind(id.0)
                    .execute(self.conn())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn member_loads(
                &mut self,
                org: stagecoach_domain::ids::OrganizationId,
                scenario: stagecoach_domain::ids::ScenarioId,
                members: &[stagecoach_domain::ids::MembershipId],
            ) -> Result<Vec<stagecoach_domain::engine::assignment::MemberLoad>, $crate::StoreError> {
                if members.is_empty() {
                    return Ok(Vec::new());
                }
                let loads: $crate::repos::conversations::MemberLoadsSql = $loads;
                let mut qb = $crate::sql::QueryBuilder::new(loads.select);
                qb.push_bind(org.0).push(" AND scenario_id = ").push_bind(scenario.0);
                qb.push(" AND membership_id IN ");
                $crate::repos::push_list!(qb, members.iter().map(|m| m.0));
                qb.push(loads.group);
                let mut counted = std::collections::HashMap::new();
                for row in qb.build().fetch_all(self.conn()).await? {
                    let member: uuid::Uuid = row.try_get("membership_id")?;
                    let open: i64 = row.try_get("open_count")?;
                    let last = $crate::rows::opt_time(row.try_get("last_assigned")?)?;
                    counted.insert(member, (open, last));
                }
                Ok(members
                    .iter()
                    .map(|member| {
                        let (open, last) = counted.get(&member.0).copied().unwrap_or((0, None));
                        stagecoach_domain::engine::assignment::MemberLoad {
                            membership_id: *member,
                            open_conversations: open,
                            last_assigned_at: last,
                        }
                    })
                    .collect())
            }
        }
    };
}
pub(crate) use impl_conversations;

/// A contact's most recent conversation on a channel (a macro, so that the locking
/// variant can append its engine's lock clause at compile time).
macro_rules! latest_conversation_sql {
    () => {
        "SELECT * FROM conversations WHERE organization_id = $1 AND contact_id = $2 \
         AND channel = $3 ORDER BY created_at DESC, id DESC LIMIT 1"
    };
}
pub(crate) use latest_conversation_sql;

/// The id of a row, before it becomes a conversation.
pub(crate) fn row_id(row: &ConversationRow) -> Uuid {
    row.id
}

#[cfg(test)]
mod tests {
    use super::{TextPatterns, is_phone_search};

    #[test]
    fn phone_searches_are_digits_and_phone_punctuation() {
        for phone in ["98765", "+55 11 98765-4321", "(11) 9876.5432", "12"] {
            assert!(is_phone_search(phone), "{phone}");
        }
        for other in ["ana", "ana 123", "7", "+", "room 12b"] {
            assert!(!is_phone_search(other), "{other}");
        }
    }

    #[test]
    fn long_phone_searches_ask_the_index_for_their_last_digits_and_check_the_rest() {
        let phone = |text: &str| {
            TextPatterns::new(text)
                .phone()
                .map(|(indexed, whole)| (indexed, whole.map(str::to_owned)))
        };
        assert_eq!(phone("98765"), Some(("%98765%".into(), None)));
        assert_eq!(phone("987654"), Some(("%987654%".into(), None)));
        assert_eq!(
            phone("+55 11 98765-4321"),
            Some(("%654321%".into(), Some("5511987654321".into())))
        );
        assert_eq!(phone("room 7"), None, "one digit is not a phone search");
        let text = TextPatterns::new("Room 98765");
        assert_eq!(text.text.as_deref(), Some("%room 98765%"));
        assert_eq!(
            TextPatterns::new(" JOÃO Conceição ").text.as_deref(),
            Some("%joao conceicao%"),
            "folded as the copies are"
        );
        assert_eq!(
            TextPatterns::new("(11) 98765").text,
            None,
            "phone numbers alone"
        );
    }
}
