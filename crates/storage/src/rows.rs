//! Conversions between column values and domain values, shared by both backends.
//! Times are stored as Unix epoch milliseconds, small lists and maps as JSON text.

use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};

use crate::StoreError;

pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

pub(crate) fn opt_time(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(time).transpose()
}

pub(crate) fn to_json<T: Serialize>(value: &Option<T>) -> Option<String> {
    value
        .as_ref()
        .map(|v| serde_json::to_string(v).expect("plain data always serializes"))
}

/// A JSON column that holds a secret: sealed when the store has a sealer.
pub(crate) fn to_sealed_json<T: Serialize>(
    sealer: Option<&dyn crate::Sealer>,
    value: &Option<T>,
) -> Option<String> {
    let json = to_json(value)?;
    Some(match sealer {
        Some(sealer) => sealer.seal(&json),
        None => json,
    })
}

/// Reads a column written by [`to_sealed_json`]. A value written before the store sealed
/// (plain JSON, which no sealed value looks like) is read as it is.
pub(crate) fn from_sealed_json<T: DeserializeOwned>(
    sealer: Option<&dyn crate::Sealer>,
    column: &str,
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    let Some(text) = text else {
        return Ok(None);
    };
    if is_plain_json(&text) {
        return from_json(column, Some(text));
    }
    let plain = sealer
        .and_then(|sealer| sealer.open(&text))
        .ok_or_else(|| {
            StoreError::Corrupt(format!("{column}: cannot be opened with this server key"))
        })?;
    from_json(column, Some(plain))
}

/// Whether a sealed-JSON column's value is still plain JSON (an object, list or `null`).
fn is_plain_json(text: &str) -> bool {
    matches!(
        text.trim_start().as_bytes().first(),
        Some(b'{' | b'[' | b'n')
    )
}

pub(crate) fn from_json<T: DeserializeOwned>(
    column: &str,
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    })
    .transpose()
}

/// Reads a stored enum spelling back.
pub(crate) fn parse_enum<T>(
    column: &str,
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("{column}: unknown value {text:?}")))
}

pub(crate) fn opt_enum<T>(
    column: &str,
    text: Option<String>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| parse_enum(column, &t, parse)).transpose()
}
