//! The Texter dialect's extractors. Texter's token scopes are checked with every other
//! dialect's, in [`crate::scopes`].

crate::extract::dialect_extractors!(super::error::TexterError);
