//! Partial updates where "absent" and "null" mean different things.

/// A field of a partial update: left as it is, cleared, or set.
///
/// The Chatvolt seeds say "Use null to remove", so an update must tell a field sent as `null`
/// apart from a field not sent at all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// The field's value after the update, given its value before.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Absent => current,
            Patch::Null => None,
            Patch::Set(value) => Some(value),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Set(value) => Patch::Set(f(value)),
        }
    }
}

impl<T> From<Option<T>> for Patch<T> {
    /// A field that was present in the input: `null` clears, a value sets.
    fn from(value: Option<T>) -> Self {
        match value {
            None => Patch::Null,
            Some(v) => Patch::Set(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_keeps_null_clears_set_replaces() {
        assert_eq!(Patch::<i32>::Absent.apply(Some(1)), Some(1));
        assert_eq!(Patch::<i32>::Null.apply(Some(1)), None);
        assert_eq!(Patch::Set(2).apply(Some(1)), Some(2));
        assert_eq!(Patch::Set(2).apply(None), Some(2));
    }
}
