//! Who a conversation is assigned to when it enters a step.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::enums::AssigneeLogic;
use crate::ids::MembershipId;

/// A source of uniform choices, injectable so tests are deterministic.
pub trait Pick: Send {
    /// An index in `0..n` (`n` > 0).
    fn index(&mut self, n: usize) -> usize;
}

/// How busy a candidate member is in the scenario, for fair distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberLoad {
    pub membership_id: MembershipId,
    /// Open (not RESOLVED) conversations of the scenario assigned to the member now.
    pub open_conversations: i64,
    /// When the member was assigned the most recent of those open conversations.
    pub last_assigned_at: Option<DateTime<Utc>>,
}

/// What the assignee logic decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// Leave the assignees as they are.
    Keep,
    /// Remove every assignee.
    Clear,
    /// Assign this member (replacing the current assignees).
    Assign(MembershipId),
}

/// Applies a step's assignee logic. `loads` holds one entry per selected member (members
/// missing from it count as idle and never assigned); it is used only by fair distribution.
pub fn assign(
    logic: Option<AssigneeLogic>,
    selected: &[MembershipId],
    loads: &[MemberLoad],
    pick: &mut dyn Pick,
) -> Assignment {
    match logic {
        None | Some(AssigneeLogic::None) => Assignment::Keep,
        Some(AssigneeLogic::Clear) => Assignment::Clear,
        Some(_) if selected.is_empty() => Assignment::Keep,
        Some(AssigneeLogic::SingleUser) => Assignment::Assign(selected[0]),
        Some(AssigneeLogic::RandomSelected) => {
            Assignment::Assign(selected[pick.index(selected.len()).min(selected.len() - 1)])
        }
        Some(AssigneeLogic::FairDistributionSelected) => {
            let load_of = |id: MembershipId| {
                loads
                    .iter()
                    .find(|l| l.membership_id == id)
                    .map_or((0, None), |l| (l.open_conversations, l.last_assigned_at))
            };
            // Fewest open conversations; then assigned least recently (never first); then
            // the order the operator listed them in.
            let chosen = selected
                .iter()
                .enumerate()
                .min_by_key(|(position, id)| {
                    let (open, last) = load_of(**id);
                    (open, last, *position)
                })
                .map(|(_, id)| *id)
                .expect("selected is not empty");
            Assignment::Assign(chosen)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    pub(crate) struct Fixed(pub usize);
    impl Pick for Fixed {
        fn index(&mut self, _n: usize) -> usize {
            self.0
        }
    }

    fn load(id: MembershipId, open: i64, last: Option<DateTime<Utc>>) -> MemberLoad {
        MemberLoad {
            membership_id: id,
            open_conversations: open,
            last_assigned_at: last,
        }
    }

    #[test]
    fn simple_logics() {
        let (a, b) = (MembershipId::new(), MembershipId::new());
        assert_eq!(assign(None, &[a], &[], &mut Fixed(0)), Assignment::Keep);
        assert_eq!(
            assign(Some(AssigneeLogic::None), &[a], &[], &mut Fixed(0)),
            Assignment::Keep
        );
        assert_eq!(
            assign(Some(AssigneeLogic::Clear), &[a], &[], &mut Fixed(0)),
            Assignment::Clear
        );
        assert_eq!(
            assign(Some(AssigneeLogic::SingleUser), &[a], &[], &mut Fixed(0)),
            Assignment::Assign(a)
        );
        assert_eq!(
            assign(
                Some(AssigneeLogic::RandomSelected),
                &[a, b],
                &[],
                &mut Fixed(1)
            ),
            Assignment::Assign(b)
        );
    }

    #[test]
    fn fair_distribution_prefers_the_least_loaded_then_the_least_recently_assigned() {
        let (a, b, c) = (
            MembershipId::new(),
            MembershipId::new(),
            MembershipId::new(),
        );
        let now = Utc::now();
        let fair = Some(AssigneeLogic::FairDistributionSelected);
        let loads = [
            load(a, 3, Some(now)),
            load(b, 1, Some(now)),
            load(c, 1, Some(now - Duration::hours(1))),
        ];
        assert_eq!(
            assign(fair, &[a, b, c], &loads, &mut Fixed(0)),
            Assignment::Assign(c)
        );
        let loads = [load(a, 0, Some(now)), load(b, 0, None)];
        assert_eq!(
            assign(fair, &[a, b], &loads, &mut Fixed(0)),
            Assignment::Assign(b),
            "never assigned goes first"
        );
        assert_eq!(
            assign(fair, &[a, b], &[], &mut Fixed(0)),
            Assignment::Assign(a),
            "then list order"
        );
    }
}
