//! Identifier-like values a client or provider chooses: a message's external id, a
//! channel's account id, a contact's external id, a lead's identifier, an e-mail address.
//! They are looked up through indexes, and an index entry has a size limit on PostgreSQL
//! (about 2.7 KB), so each is bounded here, the same on both engines. Free text (names,
//! messages, prompts) is bounded only by the request body limit.

use crate::error::Errors;

/// The longest identifier taken, in characters (at most 1,020 bytes of UTF-8).
pub const MAX_IDENTIFIER_CHARS: usize = 255;

/// Notes in `errors` when `value` is longer than [`MAX_IDENTIFIER_CHARS`].
pub fn check_length(errors: &mut Errors, field: &'static str, value: &str) {
    if let Some(message) = too_long(value) {
        errors.add(field, message);
    }
}

/// Why `value` is too long to be an identifier, if it is.
pub fn too_long(value: &str) -> Option<String> {
    // Bytes bound characters from above: most values are settled without counting.
    (value.len() > MAX_IDENTIFIER_CHARS && value.chars().count() > MAX_IDENTIFIER_CHARS)
        .then(|| format!("must be at most {MAX_IDENTIFIER_CHARS} characters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_bounded_in_characters_not_bytes() {
        assert_eq!(too_long(&"a".repeat(MAX_IDENTIFIER_CHARS)), None);
        assert_eq!(too_long(&"ç".repeat(MAX_IDENTIFIER_CHARS)), None);
        assert!(too_long(&"a".repeat(MAX_IDENTIFIER_CHARS + 1)).is_some());
        let mut errors = Errors::default();
        check_length(&mut errors, "externalId", &"x".repeat(900_000));
        let refused = errors.into_result().unwrap_err();
        assert_eq!(refused.0[0].field, "externalId");
    }
}
