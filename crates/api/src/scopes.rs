//! Which scope each endpoint needs, for every dialect, in one table.
//!
//! The bearer-token extractors look the matched route up here before a handler runs, so a
//! restricted token is refused outside its scopes in every door. The OpenAPI document
//! carries the same table in each operation's `security`, and a test walks the document
//! with tokens that lack each operation's scope: a route added without an entry here is
//! refused to every restricted token, and fails that test.

use axum::http::Method;
use stagecoach_domain::scope::{Area, Requirement, Scope, TexterScope};

use Area::{Admin, Contacts, Conversations, Leads, Scenarios, Webhooks};
use TexterScope::{ListAllChats, ManageAllChats, ManageLabels, SendSessionMessage, ViewAllChats};

const fn read(area: Area) -> Requirement {
    Requirement::new(Scope::read(area))
}

const fn write(area: Area) -> Requirement {
    Requirement::new(Scope::write(area))
}

const fn texter(scope: TexterScope) -> Requirement {
    Requirement::texter(scope)
}

const fn any_texter(area: Area) -> Requirement {
    Requirement::any_texter(Scope::read(area))
}

macro_rules! tele {
    ($path:literal) => {
        concat!("/autoupdate/v2/enterprise/{enterpriseId}", $path)
    };
}

macro_rules! texter {
    ($path:literal) => {
        concat!("/server/api/v2", $path)
    };
}

/// Every endpoint that takes a bearer token, with what it needs.
static TABLE: &[(Method, &str, Requirement)] = &[
    // Chatvolt: scenarios and steps.
    (Method::GET, "/crm/scenario", read(Scenarios)),
    (Method::POST, "/crm/scenario", write(Scenarios)),
    (Method::PUT, "/crm/scenario", write(Scenarios)),
    (Method::DELETE, "/crm/scenario", write(Scenarios)),
    (Method::GET, "/crm/step", read(Scenarios)),
    (Method::POST, "/crm/step", write(Scenarios)),
    (Method::PUT, "/crm/step", write(Scenarios)),
    (Method::DELETE, "/crm/step", write(Scenarios)),
    // Chatvolt: conversations on the board. The board lists conversations, so reading
    // it is reading conversations.
    (
        Method::GET,
        "/crm/scenario/{scenarioId}/conversation",
        read(Conversations),
    ),
    (
        Method::DELETE,
        "/crm/scenario/{scenarioId}/conversation",
        write(Conversations),
    ),
    (Method::POST, "/crm/step/conversation", write(Conversations)),
    (Method::POST, "/crm/step/move", write(Conversations)),
    (Method::GET, "/crm/conversation/count", read(Conversations)),
    (Method::GET, "/crm/events", read(Conversations)),
    (Method::GET, "/crm/conversationLog", read(Conversations)),
    (Method::POST, "/crm/conversationLog", write(Conversations)),
    (
        Method::GET,
        "/crm/conversationLog/{logId}",
        read(Conversations),
    ),
    (
        Method::PUT,
        "/crm/conversationLog/{logId}",
        write(Conversations),
    ),
    (
        Method::PATCH,
        "/crm/conversationLog/{logId}",
        write(Conversations),
    ),
    (
        Method::DELETE,
        "/crm/conversationLog/{logId}",
        write(Conversations),
    ),
    // Chatvolt: conversations and messages.
    (Method::GET, "/conversation", read(Conversations)),
    (
        Method::GET,
        "/conversation/{conversationId}",
        read(Conversations),
    ),
    (
        Method::DELETE,
        "/conversation/{conversationId}",
        write(Conversations),
    ),
    (
        Method::GET,
        "/conversation/{conversationId}/messages/{count}",
        read(Conversations),
    ),
    (
        Method::POST,
        "/conversation/message/{type}/{value}",
        write(Conversations),
    ),
    (
        Method::POST,
        "/whatsapp/{phoneNumberId}/template-message",
        write(Conversations),
    ),
    (Method::GET, "/whatsapp/templates", read(Conversations)),
    // Creating a template changes the business account, which is the channels' area.
    (Method::POST, "/whatsapp/templates", write(Webhooks)),
    (
        Method::POST,
        "/conversations/{conversationId}/assign",
        write(Conversations),
    ),
    (
        Method::POST,
        "/conversations/{conversationId}/unassign",
        write(Conversations),
    ),
    (
        Method::GET,
        "/conversations/{conversationId}/tags",
        read(Conversations),
    ),
    (Method::GET, "/conversations/history", read(Conversations)),
    (Method::GET, "/conversations/export", read(Conversations)),
    (
        Method::GET,
        "/conversations/{conversationId}/export",
        read(Conversations),
    ),
    (
        Method::GET,
        "/conversations/{conversationId}/notes",
        read(Conversations),
    ),
    (
        Method::POST,
        "/conversations/{conversationId}/notes",
        write(Conversations),
    ),
    (
        Method::PUT,
        "/conversations/{conversationId}/notes/{noteId}",
        write(Conversations),
    ),
    (
        Method::DELETE,
        "/conversations/{conversationId}/notes/{noteId}",
        write(Conversations),
    ),
    (
        Method::POST,
        "/conversations/{conversationId}/tags",
        write(Conversations),
    ),
    (
        Method::POST,
        "/conversations/{conversationId}/set-status",
        write(Conversations),
    ),
    (
        Method::POST,
        "/conversations/{conversationId}/set-priority",
        write(Conversations),
    ),
    (
        Method::POST,
        "/conversations/{conversationId}/set-ai-enabled",
        write(Conversations),
    ),
    (
        Method::POST,
        "/conversations/{conversationId}/message-register",
        write(Conversations),
    ),
    // Chatvolt: contacts and agents.
    (Method::GET, "/contacts", read(Contacts)),
    (Method::POST, "/contacts", write(Contacts)),
    (Method::GET, "/contacts/variables", read(Contacts)),
    (Method::POST, "/contacts/variables", write(Contacts)),
    (Method::PUT, "/contacts/variables", write(Contacts)),
    (Method::DELETE, "/contacts/variables", write(Contacts)),
    (Method::DELETE, "/contacts/{id}", write(Contacts)),
    (Method::POST, "/agents", write(Admin)),
    (Method::GET, "/agents/{id}", read(Admin)),
    (Method::PATCH, "/agents/{id}", write(Admin)),
    (Method::DELETE, "/agents/{id}", write(Admin)),
    // Asking an agent stores the question and the answer in a conversation.
    (Method::POST, "/agents/{id}/query", write(Conversations)),
    // Texter: the scopes Texter lists for each endpoint, or the Stagecoach scope they
    // are part of.
    (Method::GET, texter!("/chats/search"), texter(ListAllChats)),
    // Texter asks "Send session message" to read one chat, not a view scope.
    (
        Method::GET,
        texter!("/chats/{chatId}"),
        texter(SendSessionMessage),
    ),
    (
        Method::PATCH,
        texter!("/chats/{chatId}"),
        texter(ManageAllChats),
    ),
    (
        Method::POST,
        texter!("/chats/assign"),
        texter(ManageAllChats),
    ),
    (
        Method::POST,
        texter!("/chats/{chatId}/resolve"),
        texter(ManageAllChats),
    ),
    (
        Method::POST,
        texter!("/chats/{chatId}/crm-data"),
        texter(ManageAllChats),
    ),
    (
        Method::POST,
        texter!("/chats/{chatId}/labels"),
        texter(ManageAllChats),
    ),
    (
        Method::GET,
        texter!("/messages/chat/{chatId}"),
        texter(ViewAllChats),
    ),
    (
        Method::POST,
        texter!("/messages/send/{chatId}"),
        texter(SendSessionMessage),
    ),
    // Texter lets any of its tokens read labels.
    (Method::GET, texter!("/labels"), any_texter(Conversations)),
    (
        Method::GET,
        texter!("/labels/{labelId}"),
        any_texter(Conversations),
    ),
    (Method::POST, texter!("/labels"), texter(ManageLabels)),
    (
        Method::PATCH,
        texter!("/labels/{labelId}"),
        texter(ManageLabels),
    ),
    (
        Method::DELETE,
        texter!("/labels/{labelId}"),
        texter(ManageLabels),
    ),
    // TeleCRM: leads, actions and payments.
    (Method::POST, tele!("/lead"), write(Leads)),
    (Method::POST, tele!("/lead/search"), read(Leads)),
    (Method::GET, tele!("/lead/{leadId}"), read(Leads)),
    (Method::POST, tele!("/lead/{leadId}"), write(Leads)),
    (Method::POST, tele!("/lead/{leadId}/action"), write(Leads)),
    (
        Method::POST,
        tele!("/lead/{leadId}/action/search"),
        read(Leads),
    ),
    (
        Method::GET,
        tele!("/lead/{leadId}/action/{actionId}"),
        read(Leads),
    ),
    (
        Method::POST,
        tele!("/lead/{leadId}/action/{actionId}"),
        write(Leads),
    ),
    (Method::GET, tele!("/metadata"), read(Leads)),
    (Method::GET, tele!("/custom-fields"), read(Leads)),
    (Method::GET, tele!("/custom-fields/{apiName}"), read(Leads)),
    (Method::GET, tele!("/custom-actions"), read(Leads)),
    (Method::GET, tele!("/lead-stage-pipeline"), read(Leads)),
    (
        Method::POST,
        "/enterprise/{enterpriseId}/autoupdatelead",
        write(Leads),
    ),
    // TeleCRM: team members are the organization's members.
    (Method::GET, tele!("/team-members"), read(Admin)),
    (Method::POST, tele!("/team-members"), write(Admin)),
    (Method::GET, tele!("/team-members/{email}"), read(Admin)),
    (
        Method::POST,
        tele!("/teammember/state_change"),
        write(Admin),
    ),
    // Stagecoach's own API.
    (Method::POST, "/v1/messages/inbound", write(Conversations)),
    (Method::GET, "/v1/conversations/{id}", read(Conversations)),
    (
        Method::GET,
        "/v1/conversations/{id}/timeline",
        read(Conversations),
    ),
    (
        Method::GET,
        "/v1/conversations/{id}/outbox",
        read(Conversations),
    ),
    (Method::GET, "/v1/lead-settings", read(Leads)),
    (Method::PUT, "/v1/lead-settings", write(Admin)),
    (Method::GET, "/v1/payments/totals", read(Leads)),
    (
        Method::GET,
        "/v1/leads/{leadId}/payments/totals",
        read(Leads),
    ),
    (Method::GET, "/v1/webhook-endpoints", read(Webhooks)),
    (Method::POST, "/v1/webhook-endpoints", write(Webhooks)),
    (Method::GET, "/v1/webhook-endpoints/{id}", read(Webhooks)),
    (Method::PATCH, "/v1/webhook-endpoints/{id}", write(Webhooks)),
    (
        Method::DELETE,
        "/v1/webhook-endpoints/{id}",
        write(Webhooks),
    ),
    (Method::GET, "/v1/deliveries", read(Webhooks)),
    (Method::GET, "/v1/deliveries/{id}", read(Webhooks)),
    (
        Method::POST,
        "/v1/deliveries/{id}/redeliver",
        write(Webhooks),
    ),
    (Method::POST, "/v1/deliveries/redeliver", write(Webhooks)),
    (Method::GET, "/v1/channels", read(Webhooks)),
    (Method::POST, "/v1/channels", write(Webhooks)),
    (Method::DELETE, "/v1/channels/{id}", write(Webhooks)),
    (Method::GET, "/v1/ai/settings", read(Admin)),
    (Method::PUT, "/v1/ai/settings", write(Admin)),
    (Method::DELETE, "/v1/ai/settings", write(Admin)),
    (
        Method::GET,
        "/v1/conversations/{id}/ai-turns",
        read(Conversations),
    ),
    (
        Method::PUT,
        "/v1/scenarios/{id}/step-order",
        write(Scenarios),
    ),
    // Reports read the board and the payments of its leads.
    (Method::GET, "/v1/reports/funnel", read(Scenarios)),
    (Method::GET, "/v1/reports/time-in-step", read(Scenarios)),
    (Method::GET, "/v1/reports/revenue", read(Leads)),
    // It writes nothing.
    (
        Method::POST,
        "/v1/conversations/{id}/preview-entry",
        read(Conversations),
    ),
];

/// Documented routes that take no bearer token: the providers prove themselves with a
/// signature or the channel's own token.
pub(crate) const PUBLIC_ROUTES: [&str; 2] = [
    "/webhooks/whatsapp/{channelId}",
    "/webhooks/zapi/{channelId}",
];

/// What the route `path` (as routed, e.g. `/crm/step`) needs for `method`, or `None` when
/// the table has no entry for it. A scan of a hundred entries costs less than hashing.
pub(crate) fn requirement(method: &Method, path: &str) -> Option<Requirement> {
    TABLE
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, requirement)| *requirement)
}

/// Every entry of the table, for the OpenAPI document.
pub(crate) fn all() -> impl Iterator<Item = (&'static Method, &'static str, Requirement)> {
    TABLE
        .iter()
        .map(|(method, path, requirement)| (method, *path, *requirement))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_has_no_duplicate_routes() {
        let unique: std::collections::HashSet<_> =
            super::TABLE.iter().map(|(m, p, _)| (m, *p)).collect();
        assert_eq!(unique.len(), super::TABLE.len());
    }
}
