//! The shapes of the TeleCRM bodies that handlers read as JSON values rather than parse
//! into types: an action update, so that the payment check sees every key the body names;
//! new actions, so that a bad one is skipped with a remark instead of refusing the whole
//! request; and the async API's body, which is queued as sent. These types document those
//! bodies in the OpenAPI document, and nothing deserializes them.

#![allow(
    dead_code,
    reason = "the types document bodies that handlers read as JSON values"
)]

use serde::Deserialize;
use serde_json::{Map, Value};
use stagecoach_domain::leads::actions::PaymentStatus;
use stagecoach_domain::leads::money::CURRENCIES;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// The `type` of a payment action.
#[derive(Deserialize, ToSchema)]
pub enum PaymentType {
    #[serde(rename = "PAYMENT")]
    Payment,
}

fn currency_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(CURRENCIES.iter().map(|c| c.code)))
        .description(Some(
            "ISO 4217 code. Amounts are written with its decimals (ISO 4217's minor \
             units): none for XOF, two for the others.",
        ))
        .build()
}

/// A custom action to record.
#[derive(Deserialize, ToSchema)]
pub struct NewCustomAction {
    /// The action type's code: `"1001"` in the sync API, `"ACTION_1001"` in the async one
    /// (see `custom-actions`).
    #[serde(rename = "type")]
    #[schema(example = "1001")]
    pub kind: String,
    /// Values by the type's field api names, each checked against its field schema
    /// (`custom-actions?detail=true`); a bad one is skipped and reported in `remarks`.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Map<String, Value>>,
}

/// A payment to record. Its amount, currency and payment id never change afterwards.
#[derive(Deserialize, ToSchema)]
pub struct NewPaymentAction {
    #[serde(rename = "type")]
    pub kind: PaymentType,
    /// A positive decimal number as a string, with at most as many decimals as the
    /// currency has (`"199.9"` or `"199.90"` in USD, `"5000"` in XOF).
    #[schema(example = "5000")]
    pub amount: String,
    #[schema(schema_with = currency_schema)]
    pub currency: String,
    pub status: PaymentStatus,
    /// The payment's id at its provider.
    pub paymentid: Option<String>,
}

/// An action to record: a custom action or a payment. Any other type refuses the
/// request; an action that fails its checks is skipped and reported in `remarks`.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum NewAction {
    Custom(NewCustomAction),
    Payment(NewPaymentAction),
}

/// The update of a custom action: only the fields sent change.
#[derive(Deserialize, ToSchema)]
pub struct CustomActionUpdate {
    /// The action's type code, as recorded (`"1001"`); it must match the action.
    #[serde(rename = "type")]
    #[schema(example = "1001")]
    pub kind: String,
    /// New values by the type's field api names, each checked against its field schema;
    /// one bad value refuses the update.
    #[schema(value_type = Object, required = false)]
    pub fields: Option<Map<String, Value>>,
}

/// The update of a payment: only its status can change. A body naming `amount`,
/// `currency` or `paymentid` is refused with 400, whatever the values.
#[derive(Deserialize, ToSchema)]
pub struct PaymentActionUpdate {
    #[serde(rename = "type")]
    pub kind: PaymentType,
    /// The new status; left out, the payment stays as it is.
    #[schema(value_type = PaymentStatus, required = false)]
    pub status: Option<PaymentStatus>,
}

/// An action update, by the action's type.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ActionUpdateBody {
    Custom(CustomActionUpdate),
    Payment(PaymentActionUpdate),
}

/// A lead to create, or to update by its identifier, in the background.
#[derive(Deserialize, ToSchema)]
pub struct AutoUpdateLeadBody {
    /// Lead fields by api name; the identifier field picks the lead to update, or
    /// creates one. A write without it is accepted, and dropped by the worker.
    #[schema(value_type = Object, required = false)]
    pub fields: Option<Map<String, Value>>,
    /// Custom actions (`"ACTION_1001"`) and payments to record on the lead; other types
    /// are dropped.
    pub actions: Option<Vec<NewAction>>,
}
