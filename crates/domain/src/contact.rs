//! Contacts: the people who write in. One contact per phone number or e-mail within an
//! organization, so phone numbers are compared in one canonical form.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ids::{ContactId, OrganizationId};

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: ContactId,
    pub organization_id: OrganizationId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// E.164 digits without the `+` (see [`normalize_phone`]).
    pub phone: Option<String>,
    /// Lower-cased.
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub picture: Option<String>,
    pub metadata: Map<String, Value>,
    /// What the contact is as a lead.
    pub lead: LeadProfile,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A contact's lead attributes beyond name, phone and e-mail.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LeadProfile {
    /// The organization's identifier field's value, normalized; unique per organization.
    pub key: Option<String>,
    pub rating: Option<i64>,
    /// A status label of the lead stage pipeline.
    pub status: Option<String>,
    pub assignee: Option<crate::ids::MembershipId>,
    /// Custom field values by api name.
    pub custom: Map<String, Value>,
    /// The sum of the scores of the custom actions recorded on the lead.
    pub score: i64,
}

impl Contact {
    /// Whether anything tells this contact apart: a phone number, an e-mail address, an
    /// external id or a name. A contact with none of them could never be found again.
    pub fn is_identifiable(&self) -> bool {
        let given = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.trim().is_empty());
        given(&self.phone)
            || given(&self.email)
            || given(&self.external_id)
            || given(&self.first_name)
            || given(&self.last_name)
    }

    /// "First Last", or whichever part exists.
    pub fn display_name(&self) -> Option<String> {
        match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(f), None) => Some(f.clone()),
            (None, Some(l)) => Some(l.clone()),
            (None, None) => None,
        }
    }
}

/// Splits a full name into first and last name at the first space.
pub fn split_name(full: &str) -> (Option<String>, Option<String>) {
    let full = full.trim();
    if full.is_empty() {
        return (None, None);
    }
    match full.split_once(char::is_whitespace) {
        Some((first, last)) if !last.trim().is_empty() => {
            (Some(first.to_owned()), Some(last.trim().to_owned()))
        }
        _ => (Some(full.to_owned()), None),
    }
}

/// The canonical form of a phone number: its E.164 digits without the `+`.
///
/// `+55 11 98765-4321`, `5511987654321` and, with default calling code `55`,
/// `(11) 98765-4321` all give `5511987654321`. A number written with `+` or `00` is
/// international; so is one with 12 digits or more, unless it starts with a trunk `0`. Any
/// other is national and gets the default calling code, without its trunk `0`. Without a
/// default calling code a national number is kept as its digits. `None` when there are not
/// enough digits to be a phone number (fewer than 6) or too many (more than 15).
pub fn normalize_phone(raw: &str, default_calling_code: Option<&str>) -> Option<String> {
    let trimmed = raw.trim();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let mut digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if trimmed.starts_with("00") {
        digits.drain(..2);
    }
    if digits.len() < 6 {
        return None;
    }
    // A leading 0 is a national trunk prefix; otherwise 12 digits or more already carry a
    // country code.
    let national = !international && (digits.starts_with('0') || digits.len() < 12);
    let canonical = match (national, default_calling_code) {
        (true, Some(code)) => format!("{code}{}", digits.trim_start_matches('0')),
        _ => digits,
    };
    (canonical.len() <= 15).then_some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_number_written_three_ways_matches() {
        let expected = Some("5511987654321".to_owned());
        assert_eq!(normalize_phone("+55 11 98765-4321", Some("55")), expected);
        assert_eq!(normalize_phone("5511987654321", Some("55")), expected);
        assert_eq!(normalize_phone("(11) 98765-4321", Some("55")), expected);
        assert_eq!(normalize_phone("0055 11 98765 4321", None), expected);
        assert_eq!(normalize_phone("011 98765-4321", Some("55")), expected);
    }

    #[test]
    fn national_numbers_without_a_default_keep_their_digits() {
        assert_eq!(
            normalize_phone("(11) 98765-4321", None),
            Some("11987654321".into())
        );
    }

    #[test]
    fn garbage_is_not_a_phone() {
        assert_eq!(normalize_phone("abc", Some("55")), None);
        assert_eq!(normalize_phone("123", Some("55")), None);
        assert_eq!(normalize_phone("+1234567890123456", None), None);
    }

    #[test]
    fn names_split_at_the_first_space() {
        assert_eq!(
            split_name(" Ana  Maria Souza "),
            (Some("Ana".into()), Some("Maria Souza".into()))
        );
        assert_eq!(split_name("Ana"), (Some("Ana".into()), None));
        assert_eq!(split_name("  "), (None, None));
    }
}
