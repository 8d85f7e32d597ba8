//! The native dialect's extractors: shared logic, the native error body.

crate::extract::dialect_extractors!(super::error::ApiError);
