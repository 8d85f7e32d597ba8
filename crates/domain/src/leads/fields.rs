//! Checking and normalizing lead and action field values by their type.

use chrono::NaiveDateTime;
use serde_json::Value;

use super::settings::{FieldDefinition, FieldType, LeadSettings};
use crate::contact::normalize_phone;
use crate::organization::normalize_email;

/// What checking a value needs to know beyond the value.
pub struct ValueContext<'a> {
    pub settings: &'a LeadSettings,
    pub calling_code: Option<&'a str>,
    /// The organization's members' e-mails (for `activeUsers` fields and `assignee`).
    pub member_emails: &'a [String],
}

/// The date format TeleCRM accepts besides epoch milliseconds.
pub const DATE_FORMAT: &str = "%d/%m/%Y %H:%M:%S";

/// The value as stored, or why it is refused.
pub fn check(
    def: &FieldDefinition,
    value: &Value,
    ctx: &ValueContext<'_>,
) -> Result<Value, String> {
    let text = || value.as_str().map(str::trim).filter(|s| !s.is_empty());
    match def.field_type {
        FieldType::Text => value
            .as_str()
            .map(|s| Value::from(s.to_owned()))
            .ok_or_else(|| "must be text".into()),
        FieldType::Email => text()
            .and_then(|s| normalize_email(s).ok())
            .map(Value::from)
            .ok_or_else(|| "Email is invalid".into()),
        FieldType::Phone => text()
            .and_then(|s| normalize_phone(s, ctx.calling_code))
            .map(Value::from)
            .ok_or_else(|| "must be a phone number with its country code".into()),
        FieldType::Number => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err("must be a number".into()),
        },
        FieldType::Money => text()
            .filter(|s| parse_decimal(s).is_some())
            .map(Value::from)
            .ok_or_else(|| "must be a numeric string".into()),
        FieldType::Date => match value {
            Value::Number(n) if n.as_i64().is_some() => Ok(value.clone()),
            Value::String(s) => NaiveDateTime::parse_from_str(s.trim(), DATE_FORMAT)
                .map(|at| Value::from(at.and_utc().timestamp_millis()))
                .map_err(|_| "must be epoch milliseconds or dd/MM/yyyy HH:mm:ss".into()),
            _ => Err("must be epoch milliseconds or dd/MM/yyyy HH:mm:ss".into()),
        },
        FieldType::Dropdown => text()
            .map(|s| Value::from(s.to_owned()))
            .ok_or_else(|| "must be an option label".into()),
        FieldType::Tags => match value {
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(value.clone()),
            _ => Err("must be an array of strings".into()),
        },
        FieldType::Website | FieldType::Medialink => text()
            .filter(|s| crate::step::check_http_url(s).is_ok())
            .map(Value::from)
            .ok_or_else(|| "must be an http(s) URL".into()),
        FieldType::Rating => match value.as_i64() {
            Some(r) if (1..=5).contains(&r) && value.is_i64() => Ok(Value::from(r)),
            _ => Err("Rating must be between 1 and 5".into()),
        },
        FieldType::Status => text()
            .and_then(|s| {
                ctx.settings
                    .statuses()
                    .find(|(_, l)| l.label.eq_ignore_ascii_case(s))
            })
            .map(|(_, l)| Value::from(l.label.clone()))
            .ok_or_else(|| "must be a status label of the lead stage pipeline".into()),
        FieldType::LostReason => text()
            .and_then(|s| {
                ctx.settings
                    .lost_reasons
                    .iter()
                    .find(|r| r.eq_ignore_ascii_case(s))
            })
            .map(|r| Value::from(r.clone()))
            .ok_or_else(|| "must be a lost reason label".into()),
        FieldType::ActiveUsers => text()
            .map(str::to_lowercase)
            .filter(|e| ctx.member_emails.contains(e))
            .map(Value::from)
            .ok_or_else(|| "must be the e-mail of a team member".into()),
    }
}

/// A decimal with at most two decimals, in hundredths (a money field has no currency).
pub fn parse_decimal(text: &str) -> Option<i64> {
    super::money::parse_hundredths(text, 2)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx(settings: &LeadSettings) -> ValueContext<'_> {
        ValueContext {
            settings,
            calling_code: Some("91"),
            member_emails: &[],
        }
    }

    #[test]
    fn values_are_checked_by_type() {
        let s = LeadSettings::default();
        let field = |name: &str| s.field(name).unwrap();
        assert_eq!(
            check(&field("phone"), &json!("9999999999"), &ctx(&s)),
            Ok(json!("919999999999"))
        );
        assert_eq!(
            check(&field("email"), &json!(" A@B.io "), &ctx(&s)),
            Ok(json!("a@b.io"))
        );
        assert!(check(&field("rating"), &json!("3"), &ctx(&s)).is_err());
        assert!(check(&field("rating"), &json!(6), &ctx(&s)).is_err());
        assert_eq!(check(&field("rating"), &json!(4), &ctx(&s)), Ok(json!(4)));
        assert_eq!(
            check(&field("status"), &json!("won"), &ctx(&s)),
            Ok(json!("Won"))
        );
        assert!(check(&field("status"), &json!("Nope"), &ctx(&s)).is_err());
        assert!(check(&field("assignee"), &json!("x@y.z"), &ctx(&s)).is_err());
    }

    #[test]
    fn dates_take_epoch_millis_or_the_workspace_format_not_iso() {
        let s = LeadSettings::default();
        let date = FieldDefinition {
            api_name: "d".into(),
            field_type: FieldType::Date,
            description: None,
            options: vec![],
            lock_after_create: false,
        };
        assert_eq!(
            check(&date, &json!("01/04/2026 00:00:00"), &ctx(&s)),
            Ok(json!(1_775_001_600_000i64))
        );
        assert_eq!(check(&date, &json!(5), &ctx(&s)), Ok(json!(5)));
        assert!(check(&date, &json!("2026-04-01T00:00:00Z"), &ctx(&s)).is_err());
    }

    #[test]
    fn decimals_are_exact_hundredths() {
        assert_eq!(parse_decimal("5000"), Some(500_000));
        assert_eq!(parse_decimal("12.5"), Some(1250));
        assert_eq!(parse_decimal("0.07"), Some(7));
        for bad in ["", "-1", "1.234", "1e3", "abc", "1.", ".5"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }
}
