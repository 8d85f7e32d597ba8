//! Fields that may be absent, `null`, or set: the Chatvolt seeds use `null` to clear.

use serde::{Deserialize, Deserializer};
use stagecoach_domain::Patch;

/// Use as `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>`:
/// absent → `None`, `null` → `Some(None)`, a value → `Some(Some(v))`.
pub(crate) fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Reads such a field as a [`Patch`].
pub(crate) fn patch<T>(field: Option<Option<T>>) -> Patch<T> {
    match field {
        None => Patch::Absent,
        Some(None) => Patch::Null,
        Some(Some(value)) => Patch::Set(value),
    }
}
