use chrono::{DateTime, Utc};

use crate::ValidationError;
use crate::enums::MembershipRole;
use crate::error::Errors;
use crate::ids::{MembershipId, OrganizationId};

/// The tenant: every record belongs to exactly one organization, and no token reads across.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    /// The country calling code (`55`) given to phone numbers written without one.
    pub default_calling_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A person in an organization, the unit conversations are assigned to.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub id: MembershipId,
    pub organization_id: OrganizationId,
    pub email: String,
    pub name: String,
    pub role: MembershipRole,
    pub phone: Option<String>,
    /// Active, Inactive, On Leave, Working or Invited.
    pub availability: String,
    /// The role as TeleCRM names it (ADMIN, MANAGER, CALLER, MARKETING_USER), when set there.
    pub team_role: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const MAX_NAME_LEN: usize = 200;

/// A required, trimmed, bounded display name.
pub fn clean_name(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ValidationError::single(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ValidationError::single(
            field,
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// A country calling code: 1 to 3 digits, an optional leading `+` dropped.
pub fn clean_calling_code(raw: &str) -> Result<String, ValidationError> {
    let code = raw.trim().trim_start_matches('+');
    if code.is_empty() || code.len() > 3 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Err(ValidationError::single(
            "defaultCallingCode",
            "must be a country calling code of 1 to 3 digits, such as 55",
        ));
    }
    Ok(code.to_owned())
}

/// Trims and lower-cases an e-mail address, refusing what cannot be one.
pub fn normalize_email(raw: &str) -> Result<String, ValidationError> {
    let email = raw.trim().to_lowercase();
    let mut errors = Errors::default();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.contains(char::is_whitespace) => {}
        _ => errors.add("email", "must be an e-mail address such as ana@example.com"),
    }
    crate::identifier::check_length(&mut errors, "email", &email);
    errors.into_result().map(|()| email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "a b@example.com",
            "a@b@c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("name", "  Sales ").unwrap(), "Sales");
        assert!(clean_name("name", "   ").is_err());
        assert!(clean_name("name", &"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }
}
