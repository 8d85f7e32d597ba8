//! Lead actions: custom actions of the organization's types, and payments whose amount,
//! currency and payment id never change once recorded.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::money::{CURRENCIES, Currency};

/// The kind a system action recording a payment's status change has.
pub const PAYMENT_STATUS_CHANGED: &str = "PAYMENT_STATUS_CHANGED";

/// An entry of a lead's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadAction {
    pub id: crate::ids::ActionId,
    pub organization_id: crate::ids::OrganizationId,
    pub contact_id: crate::ids::ContactId,
    /// `CUSTOM`, `PAYMENT`, or a system kind such as [`PAYMENT_STATUS_CHANGED`].
    pub kind: String,
    /// A custom action's code.
    pub type_code: Option<u32>,
    pub fields: Map<String, Value>,
    pub payment: Option<PaymentRecord>,
    /// The actor label (`api_token:<id>`, `system`, …).
    pub performed_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub amount: Amount,
    pub currency: String,
    pub payment_id: Option<String>,
    pub status: PaymentStatus,
}

/// The fields of a payment that no update may carry, whatever their values.
pub const IMMUTABLE_PAYMENT_FIELDS: &[&str] = &["amount", "currency", "paymentid"];

/// Refusal of an update that names immutable payment fields (the message TeleCRM gives).
pub const IMMUTABLE_PAYMENT_MESSAGE: &str =
    "Cannot update amount, currency, or paymentid fields for existing payment action.";

/// A payment's status; any can follow any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Pending,
    Completed,
    Failed,
    Refunded,
    Cancelled,
    Processing,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Pending,
        PaymentStatus::Completed,
        PaymentStatus::Failed,
        PaymentStatus::Refunded,
        PaymentStatus::Cancelled,
        PaymentStatus::Processing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "PENDING",
            PaymentStatus::Completed => "COMPLETED",
            PaymentStatus::Failed => "FAILED",
            PaymentStatus::Refunded => "REFUNDED",
            PaymentStatus::Cancelled => "CANCELLED",
            PaymentStatus::Processing => "PROCESSING",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What a refused status is told: every valid one.
    pub fn expected() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
        format!("must be one of {}", names.join(", "))
    }
}

/// An amount: its exact value in hundredths, and its text as recorded (written with its
/// currency's decimals since those are checked; answers render the hundredths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    pub text: String,
    pub hundredths: i64,
}

/// A new payment's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub amount: Amount,
    pub currency: String,
    pub status: PaymentStatus,
    pub payment_id: Option<String>,
}

/// What an action's `type` says, as a client wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Custom(u32),
    Payment,
}

/// Which API's spelling of custom action types to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// `"1001"`.
    Sync,
    /// `"ACTION_1001"`.
    Async,
}

/// Reads an action `type`. `Err` for a type that exists but cannot be written through the
/// API (calls, messages, system events) or cannot be read at all.
pub fn parse_kind(value: &Value, spelling: Spelling) -> Result<ActionKind, String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) if spelling == Spelling::Sync => n.to_string(),
        _ => return Err("must be a string".into()),
    };
    if text == "PAYMENT" {
        return Ok(ActionKind::Payment);
    }
    let code = match spelling {
        Spelling::Sync => text.parse::<u32>().ok(),
        Spelling::Async => text
            .strip_prefix("ACTION_")
            .and_then(|c| c.parse::<u32>().ok()),
    };
    code.map(ActionKind::Custom)
        .ok_or_else(|| "Only custom actions and payment actions can be created".to_owned())
}

/// Checks a new payment; every problem names its field.
pub fn new_payment(body: &Map<String, Value>) -> Result<NewPayment, Vec<(&'static str, String)>> {
    let mut problems = Vec::new();
    let currency = body
        .get("currency")
        .and_then(Value::as_str)
        .and_then(Currency::find);
    // The amount is read with the currency's decimals; without a known currency, with
    // the most any has, so that a bad amount is reported along with the currency.
    let reading = currency.unwrap_or(Currency::UNKNOWN);
    let amount = body
        .get("amount")
        .and_then(Value::as_str)
        .and_then(|text| reading.parse_amount(text))
        .map(|hundredths| Amount {
            text: reading.format(hundredths),
            hundredths,
        });
    if amount.is_none() {
        problems.push(("amount", reading.amount_rule()));
    }
    if currency.is_none() {
        let codes: Vec<&str> = CURRENCIES.iter().map(|c| c.code).collect();
        problems.push(("currency", format!("must be one of {}", codes.join(", "))));
    }
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .and_then(PaymentStatus::parse);
    if status.is_none() {
        problems.push(("status", PaymentStatus::expected()));
    }
    let payment_id = match body.get("paymentid") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.trim().is_empty() => Some(id.trim().to_owned()),
        Some(_) => {
            problems.push(("paymentid", "must be a non-empty string".to_owned()));
            None
        }
    };
    match (amount, currency, status) {
        (Some(amount), Some(currency), Some(status)) if problems.is_empty() => Ok(NewPayment {
            amount,
            currency: currency.code.to_owned(),
            status,
            payment_id,
        }),
        _ => Err(problems),
    }
}

/// Why a payment update is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentUpdateError {
    /// The body names an immutable field (whatever its value, even the current one); the
    /// first of them.
    Immutable {
        field: &'static str,
    },
    InvalidStatus,
}

/// The status a payment update sets (`None`: unchanged). The amount, currency and payment
/// id can never change: a body that names any of them is refused as a whole.
pub fn payment_update(
    body: &Map<String, Value>,
) -> Result<Option<PaymentStatus>, PaymentUpdateError> {
    if let Some(field) = IMMUTABLE_PAYMENT_FIELDS
        .iter()
        .find(|field| body.contains_key(**field))
    {
        return Err(PaymentUpdateError::Immutable { field });
    }
    match body.get("status") {
        None => Ok(None),
        Some(value) => value
            .as_str()
            .and_then(PaymentStatus::parse)
            .map(Some)
            .ok_or(PaymentUpdateError::InvalidStatus),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn types_are_spelled_per_api() {
        assert_eq!(
            parse_kind(&json!("1001"), Spelling::Sync),
            Ok(ActionKind::Custom(1001))
        );
        assert_eq!(
            parse_kind(&json!("ACTION_1001"), Spelling::Async),
            Ok(ActionKind::Custom(1001))
        );
        assert!(parse_kind(&json!("1001"), Spelling::Async).is_err());
        assert!(parse_kind(&json!("ACTION_1001"), Spelling::Sync).is_err());
        assert!(parse_kind(&json!("INCOMING_CALL"), Spelling::Sync).is_err());
        assert_eq!(
            parse_kind(&json!("PAYMENT"), Spelling::Async),
            Ok(ActionKind::Payment)
        );
    }

    #[test]
    fn new_payments_need_a_positive_amount_a_known_currency_and_status() {
        let ok = new_payment(&map(
            json!({"type": "PAYMENT", "amount": "5000", "currency": "INR", "status": "PENDING"}),
        ))
        .unwrap();
        assert_eq!(
            ok.amount,
            Amount {
                text: "5000.00".into(),
                hundredths: 500_000
            }
        );
        let err = new_payment(&map(
            json!({"amount": "0", "currency": "EUR", "status": "PAID"}),
        ))
        .unwrap_err();
        let fields: Vec<_> = err.into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["amount", "currency", "status"]);
        assert!(
            new_payment(&map(
                json!({"amount": 5000, "currency": "INR", "status": "PENDING"})
            ))
            .is_err()
        );
    }

    #[test]
    fn updates_change_only_the_status() {
        assert_eq!(
            payment_update(&map(json!({"type": "PAYMENT", "status": "COMPLETED"}))),
            Ok(Some(PaymentStatus::Completed))
        );
        assert_eq!(payment_update(&map(json!({"type": "PAYMENT"}))), Ok(None));
        assert_eq!(
            payment_update(&map(json!({"status": "DONE"}))),
            Err(PaymentUpdateError::InvalidStatus)
        );
        for field in IMMUTABLE_PAYMENT_FIELDS {
            let body = map(json!({"type": "PAYMENT", "status": "COMPLETED", (*field): "5000"}));
            assert_eq!(
                payment_update(&body),
                Err(PaymentUpdateError::Immutable { field }),
                "{field}"
            );
        }
    }

    #[test]
    fn refused_statuses_are_told_every_valid_one() {
        let told = PaymentStatus::expected();
        for status in PaymentStatus::ALL {
            assert!(told.contains(status.as_str()), "{told}");
        }
    }

    #[test]
    fn payment_amounts_take_their_currency_s_decimals() {
        let payment = |amount: &str, currency: &str| {
            new_payment(&map(
                json!({"amount": amount, "currency": currency, "status": "PENDING"}),
            ))
        };
        assert_eq!(payment("199.9", "USD").unwrap().amount.text, "199.90");
        assert_eq!(payment("5000", "XOF").unwrap().amount.hundredths, 500_000);
        let refused = payment("5000.5", "XOF").unwrap_err();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, "amount");
        assert!(refused[0].1.contains("XOF has no decimals"), "{refused:?}");
    }

    fn any_json() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            "[A-Z0-9]{0,6}".prop_map(Value::from),
            any::<bool>().prop_map(Value::from)
        ]
    }

    proptest! {
        /// Whatever else an update body holds, naming amount, currency or paymentid refuses it.
        #[test]
        fn no_update_body_can_touch_the_money(
            extra in proptest::collection::btree_map("[a-z]{1,8}", any_json(), 0..5),
            immutable in proptest::sample::subsequence(IMMUTABLE_PAYMENT_FIELDS.to_vec(), 1..=3),
            value in any_json(),
        ) {
            let mut body: Map<String, Value> = extra.into_iter().collect();
            for field in immutable { body.insert(field.to_owned(), value.clone()); }
            let refused = payment_update(&body);
            prop_assert!(
                matches!(refused, Err(PaymentUpdateError::Immutable { field }) if body.contains_key(field)),
                "{:?}", refused
            );
        }

        /// Bodies without them change at most the status.
        #[test]
        fn other_bodies_change_at_most_the_status(extra in proptest::collection::btree_map("[a-z]{1,8}", any_json(), 0..5)) {
            let body: Map<String, Value> = extra.into_iter().filter(|(k, _)| !IMMUTABLE_PAYMENT_FIELDS.contains(&k.as_str())).collect();
            match payment_update(&body) {
                Ok(Some(status)) => prop_assert_eq!(body.get("status"), Some(&Value::from(status.as_str()))),
                Ok(None) => prop_assert!(!body.contains_key("status")),
                Err(e) => prop_assert_eq!(e, PaymentUpdateError::InvalidStatus),
            }
        }
    }
}
