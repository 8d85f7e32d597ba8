//! What a restricted API token may do.
//!
//! One set of scopes covers every endpoint of every dialect: read and write per area.
//! Write implies read of the same area, since most writes answer with what they wrote.
//! Texter's scope names are narrower grants inside that set: each one allows the Texter
//! endpoints Texter gives it, and nothing outside Texter's door. A token created without
//! scopes has full access.

use std::fmt;

/// A part of the model that scopes divide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    /// Scenarios and their steps.
    Scenarios,
    /// Conversations, their messages, CRM data, labels, board places and timelines.
    Conversations,
    /// Contacts.
    Contacts,
    /// Leads, their actions and payments, and the lead settings' discovery endpoints.
    Leads,
    /// Webhook endpoints, deliveries and connected channels.
    Webhooks,
    /// Agents, team members and the organization's settings.
    Admin,
}

impl Area {
    pub const ALL: [Area; 6] = [
        Area::Scenarios,
        Area::Conversations,
        Area::Contacts,
        Area::Leads,
        Area::Webhooks,
        Area::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Area::Scenarios => "scenarios",
            Area::Conversations => "conversations",
            Area::Contacts => "contacts",
            Area::Leads => "leads",
            Area::Webhooks => "webhooks",
            Area::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
}

/// One of Stagecoach's own scopes, written `area:read` or `area:write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    pub area: Area,
    pub access: Access,
}

impl Scope {
    pub const fn read(area: Area) -> Scope {
        Scope {
            area,
            access: Access::Read,
        }
    }

    pub const fn write(area: Area) -> Scope {
        Scope {
            area,
            access: Access::Write,
        }
    }

    /// Every scope, in the order they are listed to people.
    pub fn all() -> impl Iterator<Item = Scope> {
        Area::ALL
            .into_iter()
            .flat_map(|area| [Scope::read(area), Scope::write(area)])
    }

    pub fn parse(name: &str) -> Option<Scope> {
        Scope::all().find(|scope| scope.to_string() == name)
    }

    /// Whether holding `self` allows what `needed` allows.
    pub fn covers(self, needed: Scope) -> bool {
        self.area == needed.area && (self.access == needed.access || self.access == Access::Write)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = match self.access {
            Access::Read => "read",
            Access::Write => "write",
        };
        write!(f, "{}:{access}", self.area.name())
    }
}

/// What a member signed in to the web UI may do, by role: owners and admins everything
/// (`None`); users work conversations, contacts and leads, and read the rest.
pub fn member_scopes(role: crate::enums::MembershipRole) -> Option<Vec<Scope>> {
    use crate::enums::MembershipRole;
    match role {
        MembershipRole::Owner | MembershipRole::Admin => None,
        MembershipRole::User => Some(
            Area::ALL
                .into_iter()
                .map(|area| match area {
                    Area::Conversations | Area::Contacts | Area::Leads => Scope::write(area),
                    Area::Scenarios | Area::Webhooks | Area::Admin => Scope::read(area),
                })
                .collect(),
        ),
    }
}

/// Texter's token scopes, by the names Texter gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TexterScope {
    ManageAllChats,
    ListAllChats,
    ViewAllChats,
    SendSessionMessage,
    ManageLabels,
}

impl TexterScope {
    pub const ALL: [TexterScope; 5] = [
        TexterScope::ManageAllChats,
        TexterScope::ListAllChats,
        TexterScope::ViewAllChats,
        TexterScope::SendSessionMessage,
        TexterScope::ManageLabels,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TexterScope::ManageAllChats => "Manage all chats",
            TexterScope::ListAllChats => "List all chats",
            TexterScope::ViewAllChats => "View all chats",
            TexterScope::SendSessionMessage => "Send session message",
            TexterScope::ManageLabels => "Manage labels",
        }
    }

    pub fn parse(name: &str) -> Option<TexterScope> {
        TexterScope::ALL
            .into_iter()
            .find(|scope| scope.name() == name)
    }

    /// The Stagecoach scope this Texter scope is a part of.
    pub const fn part_of(self) -> Scope {
        match self {
            TexterScope::ListAllChats | TexterScope::ViewAllChats => {
                Scope::read(Area::Conversations)
            }
            TexterScope::ManageAllChats
            | TexterScope::SendSessionMessage
            | TexterScope::ManageLabels => Scope::write(Area::Conversations),
        }
    }
}

/// Which of Texter's names open a Texter endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TexterGrant {
    /// The one scope Texter lists for the endpoint.
    Scope(TexterScope),
    /// Any of them: Texter needs no scope for the endpoint, only a Texter token.
    AnyScope,
}

/// What one endpoint needs: a Stagecoach scope, or, in Texter's door, Texter's own name
/// for the part of it the endpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    pub scope: Scope,
    pub texter: Option<TexterGrant>,
}

impl Requirement {
    pub const fn new(scope: Scope) -> Requirement {
        Requirement {
            scope,
            texter: None,
        }
    }

    /// A Texter endpoint: Texter's scope, or the Stagecoach scope it is a part of.
    pub const fn texter(texter: TexterScope) -> Requirement {
        Requirement {
            scope: texter.part_of(),
            texter: Some(TexterGrant::Scope(texter)),
        }
    }

    /// A Texter endpoint that any Texter scope opens (Texter asks none), or `scope`.
    pub const fn any_texter(scope: Scope) -> Requirement {
        Requirement {
            scope,
            texter: Some(TexterGrant::AnyScope),
        }
    }

    /// The Texter scope that would open the endpoint, if one would.
    pub fn texter_scope(&self) -> Option<TexterScope> {
        match self.texter {
            Some(TexterGrant::Scope(scope)) => Some(scope),
            _ => None,
        }
    }

    /// Whether a token restricted to `granted` (scope names as stored) may call the
    /// endpoint. Names that are no scope grant nothing.
    pub fn is_met_by(&self, granted: &[String]) -> bool {
        granted.iter().any(|name| {
            if let Some(scope) = Scope::parse(name) {
                return scope.covers(self.scope);
            }
            match (self.texter, TexterScope::parse(name)) {
                (Some(TexterGrant::Scope(needed)), Some(held)) => needed == held,
                (Some(TexterGrant::AnyScope), Some(_)) => true,
                _ => false,
            }
        })
    }
}

/// Every name `--scope` accepts: Stagecoach's scopes, then Texter's.
pub fn valid_names() -> Vec<String> {
    Scope::all()
        .map(|scope| scope.to_string())
        .chain(TexterScope::ALL.iter().map(|scope| scope.name().to_owned()))
        .collect()
}

/// Whether `name` is a scope a token may be given.
/// Whether a caller holding `held` (`None`: everything) may give a new token `wanted`
/// (`None`: everything): only what the caller holds itself.
pub fn may_grant(held: Option<&[String]>, wanted: Option<&[String]>) -> bool {
    let Some(held) = held else { return true };
    let Some(wanted) = wanted else { return false };
    wanted.iter().all(|name| match Scope::parse(name) {
        Some(scope) => held
            .iter()
            .filter_map(|h| Scope::parse(h))
            .any(|h| h.covers(scope)),
        None => held.contains(name),
    })
}

pub fn is_valid_name(name: &str) -> bool {
    Scope::parse(name).is_some() || TexterScope::parse(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_caller_grants_only_what_it_holds() {
        let held = names(&["conversations:write", "Manage labels"]);
        assert!(may_grant(None, None));
        assert!(may_grant(
            Some(&held),
            Some(&names(&["conversations:read"]))
        ));
        assert!(may_grant(Some(&held), Some(&names(&["Manage labels"]))));
        assert!(!may_grant(Some(&held), None), "not everything");
        assert!(!may_grant(Some(&held), Some(&names(&["admin:read"]))));
        assert!(!may_grant(Some(&held), Some(&names(&["List all chats"]))));
    }

    #[test]
    fn a_user_member_works_conversations_but_only_reads_the_pipeline() {
        use crate::enums::MembershipRole;
        assert_eq!(member_scopes(MembershipRole::Owner), None);
        assert_eq!(member_scopes(MembershipRole::Admin), None);
        let user = member_scopes(MembershipRole::User).unwrap();
        let needs = |scope: Scope| user.iter().any(|held| held.covers(scope));
        assert!(needs(Scope::write(Area::Conversations)));
        assert!(needs(Scope::write(Area::Leads)));
        assert!(needs(Scope::read(Area::Scenarios)));
        assert!(!needs(Scope::write(Area::Scenarios)));
        assert!(!needs(Scope::write(Area::Webhooks)));
        assert!(!needs(Scope::write(Area::Admin)));
    }

    #[test]
    fn names_round_trip() {
        for scope in Scope::all() {
            assert_eq!(Scope::parse(&scope.to_string()), Some(scope));
        }
        for scope in TexterScope::ALL {
            assert_eq!(TexterScope::parse(scope.name()), Some(scope));
        }
        assert_eq!(valid_names().len(), 17);
        assert!(is_valid_name("leads:write"));
        assert!(is_valid_name("List all chats"));
        assert!(!is_valid_name("leads:admin"));
        assert!(!is_valid_name("list all chats"));
    }

    #[test]
    fn write_covers_read_of_its_area_only() {
        let read = Requirement::new(Scope::read(Area::Scenarios));
        let write = Requirement::new(Scope::write(Area::Scenarios));
        assert!(read.is_met_by(&names(&["scenarios:read"])));
        assert!(read.is_met_by(&names(&["scenarios:write"])));
        assert!(!write.is_met_by(&names(&["scenarios:read"])));
        assert!(!read.is_met_by(&names(&["conversations:write", "leads:read"])));
        assert!(!read.is_met_by(&[]));
    }

    #[test]
    fn texter_names_grant_their_texter_endpoints_only() {
        let list_chats = Requirement::texter(TexterScope::ListAllChats);
        let chatvolt_conversations = Requirement::new(Scope::read(Area::Conversations));
        let granted = names(&["List all chats"]);
        assert!(list_chats.is_met_by(&granted));
        assert!(!chatvolt_conversations.is_met_by(&granted));
        // The area scope opens the Texter endpoint as well.
        assert!(list_chats.is_met_by(&names(&["conversations:read"])));
        // Another Texter name does not.
        assert!(!list_chats.is_met_by(&names(&["View all chats"])));

        let list_labels = Requirement::any_texter(Scope::read(Area::Conversations));
        assert!(list_labels.is_met_by(&names(&["Send session message"])));
        assert!(list_labels.is_met_by(&names(&["conversations:write"])));
        assert!(!list_labels.is_met_by(&names(&["leads:read"])));
    }

    #[test]
    fn every_texter_scope_is_part_of_the_conversations_area() {
        for scope in TexterScope::ALL {
            assert_eq!(scope.part_of().area, Area::Conversations);
        }
    }
}
