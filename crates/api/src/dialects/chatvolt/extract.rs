//! The Chatvolt dialect's extractors: shared logic, Chatvolt's error body.

crate::extract::dialect_extractors!(super::error::ChatvoltError);
