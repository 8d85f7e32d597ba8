//! The small closed vocabularies of the model. Their serialized spellings are the canonical
//! ones (Chatvolt's, which the seeds fix), also used in storage.

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use string_enum;

string_enum!(
    /// Where a conversation stands.
    ConversationStatus {
        Resolved => "RESOLVED",
        Unresolved => "UNRESOLVED",
        HumanRequested => "HUMAN_REQUESTED",
    }
);

string_enum!(
    /// How urgent a conversation is.
    Priority {
        Low => "LOW",
        Medium => "MEDIUM",
        High => "HIGH",
    }
);

string_enum!(
    /// Who a conversation is assigned to when it enters a step.
    AssigneeLogic {
        None => "none",
        Clear => "clear",
        SingleUser => "single_user",
        RandomSelected => "random_selected",
        FairDistributionSelected => "fair_distribution_selected",
    }
);

impl AssigneeLogic {
    /// Whether this logic picks among `selectedMembershipIdsForAssignee`.
    pub fn needs_members(self) -> bool {
        matches!(
            self,
            AssigneeLogic::SingleUser
                | AssigneeLogic::RandomSelected
                | AssigneeLogic::FairDistributionSelected
        )
    }
}

string_enum!(
    /// The unit of a step's auto-advance delay.
    TimeUnit {
        Minutes => "m",
        Hours => "h",
        Days => "d",
    }
);

impl TimeUnit {
    pub fn seconds(self) -> i64 {
        match self {
            TimeUnit::Minutes => 60,
            TimeUnit::Hours => 3_600,
            TimeUnit::Days => 86_400,
        }
    }
}

string_enum!(
    /// A member's role in an organization.
    MembershipRole {
        Owner => "OWNER",
        Admin => "ADMIN",
        User => "USER",
    }
);

string_enum!(
    /// What an API token may be used for. `sync` tokens call the APIs directly; `async` tokens
    /// only feed queued ingestion endpoints (TeleCRM's async API) and are refused elsewhere.
    TokenType {
        Sync => "sync",
        Async => "async",
    }
);

string_enum!(
    /// Who may see an agent.
    AgentVisibility {
        Public => "public",
        Private => "private",
    }
);

string_enum!(
    /// Where a conversation takes place (Chatvolt's channel names).
    Channel {
        Whatsapp => "whatsapp",
        Zapi => "zapi",
        Website => "website",
        Dashboard => "dashboard",
        Telegram => "telegram",
        InstagramDm => "instagramDm",
    }
);

impl Channel {
    /// Channels where Meta only lets a business send free text within 24 hours of the
    /// contact's last message (templates are still allowed).
    pub fn has_24h_window(self) -> bool {
        matches!(self, Channel::Whatsapp | Channel::InstagramDm)
    }
}

string_enum!(
    /// Who wrote a message.
    MessageDirection {
        Inbound => "inbound",
        Outbound => "outbound",
    }
);

string_enum!(
    /// Who or what caused a change, as recorded in the timeline.
    ActorKind {
        ApiToken => "api_token",
        Step => "step",
        Trigger => "trigger",
        Timer => "timer",
        System => "system",
        Channel => "channel",
        /// An AI agent, deciding in a turn.
        Ai => "ai",
        /// A member, signed in to the web UI.
        Member => "member",
    }
);

string_enum!(
    /// A stay's state, as Chatvolt's CRM conversation logs name it.
    StayStatus {
        Active => "active",
        Inactive => "inactive",
        Error => "error",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_through_text_and_json() {
        for status in ConversationStatus::ALL {
            assert_eq!(ConversationStatus::parse(status.as_str()), Some(*status));
            let json = serde_json::to_string(status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert_eq!(
            AssigneeLogic::parse("fair_distribution_selected"),
            Some(AssigneeLogic::FairDistributionSelected)
        );
        assert_eq!(TimeUnit::parse("s"), None);
    }
}
