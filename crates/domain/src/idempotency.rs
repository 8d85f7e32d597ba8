//! Idempotency keys: a client sends `Idempotency-Key` with a POST so that retrying it
//! (after a timeout, a dropped connection) cannot do the work twice. The rules here say
//! which keys are taken, what a retry is answered, and which answers are kept.

use std::time::Duration;

use crate::error::ValidationError;
use crate::identifier::MAX_IDENTIFIER_CHARS;

/// The header, as the dialects' documents name it (field names of refusals use it).
pub const HEADER: &str = "Idempotency-Key";

/// How long a key's answer is kept, from the first request.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Refuses a key that is empty, longer than an identifier, or not printable ASCII (a
/// UUID, a hash, an order number all are).
pub fn check_key(key: &str) -> Result<(), ValidationError> {
    let refuse = |message: String| Err(ValidationError::single(HEADER, message));
    if key.trim().is_empty() {
        return refuse("must not be empty".to_owned());
    }
    if !key.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return refuse("must be printable ASCII".to_owned());
    }
    // ASCII: bytes are characters.
    if key.len() > MAX_IDENTIFIER_CHARS {
        return refuse(format!("must be at most {MAX_IDENTIFIER_CHARS} characters"));
    }
    Ok(())
}

/// What identifies a request under its key: its method, its path with the query string,
/// and its body byte for byte. A retry sends all three unchanged.
pub fn request_hash(method: &str, target: &str, body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    // Lengths first, so that no two different requests run together into the same bytes.
    for part in [method.as_bytes(), target.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a key already holds, as far as the verdict on a new request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState<'a> {
    pub request_hash: &'a str,
    pub answered: bool,
    /// The first request is still running: its server process is alive (and, on this
    /// server, still has it in hand).
    pub owner_alive: bool,
    /// A write of the first request committed.
    pub work_done: bool,
}

/// What a request that brings a key someone already used is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The key was used for another request (another body, path or method), which is
    /// answered, running, or done: refused.
    DifferentRequest,
    /// The first request's answer, again.
    Replay,
    /// The first request is still running: refused, to be tried again shortly.
    InFlight,
    /// The first request's process stopped after its work committed but before its
    /// answer was kept: refused, and the work is not done again.
    AnswerLost,
    /// The request that held the key was abandoned (its process stopped) before any of
    /// its work committed: this request, the same or a corrected one, takes the key over
    /// and runs.
    TakeOver,
}

pub fn verdict(held: KeyState<'_>, request_hash: &str) -> Verdict {
    let abandoned = !held.answered && !held.owner_alive;
    if abandoned && !held.work_done {
        Verdict::TakeOver
    } else if held.request_hash != request_hash {
        Verdict::DifferentRequest
    } else if held.answered {
        Verdict::Replay
    } else if held.owner_alive {
        Verdict::InFlight
    } else {
        Verdict::AnswerLost
    }
}

/// Whether an answer is kept for retries: a success, or whatever followed work that
/// committed. A refusal that changed nothing (invalid input, a missing record, a rate
/// limit, a failure before any write) releases the key, so the client can correct the
/// request and send it again under the same key.
pub fn keeps_answer(status: u16, work_done: bool) -> bool {
    (200..400).contains(&status) || work_done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(hash: &str, answered: bool, owner_alive: bool, work_done: bool) -> KeyState<'_> {
        KeyState {
            request_hash: hash,
            answered,
            owner_alive,
            work_done,
        }
    }

    #[test]
    fn keys_are_printable_ascii_identifiers() {
        assert!(check_key("0b7c8f0e-6a39-4d0b-9f31-2f3c1b9f1a77").is_ok());
        assert!(check_key("order 1234").is_ok());
        for bad in ["", "   ", "chave-ç", "tab\tkey"] {
            let refused = check_key(bad).unwrap_err();
            assert_eq!(refused.0[0].field, HEADER, "{bad:?}");
        }
        assert!(check_key(&"k".repeat(MAX_IDENTIFIER_CHARS)).is_ok());
        assert!(check_key(&"k".repeat(MAX_IDENTIFIER_CHARS + 1)).is_err());
    }

    #[test]
    fn a_request_is_its_method_target_and_body() {
        let hash = request_hash("POST", "/v1/contacts", b"{}");
        assert_eq!(hash, request_hash("POST", "/v1/contacts", b"{}"));
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, request_hash("POST", "/v1/contacts?x=1", b"{}"));
        assert_ne!(hash, request_hash("POST", "/v1/contacts", b"{ }"));
        assert_ne!(hash, request_hash("PUT", "/v1/contacts", b"{}"));
        assert_ne!(
            request_hash("POST", "/a", b"b"),
            request_hash("POST", "/ab", b"")
        );
    }

    #[test]
    fn a_different_request_is_refused_unless_the_first_was_abandoned_having_done_nothing() {
        for (answered, alive, done) in [
            (true, true, true),
            (true, false, false),
            (false, true, false),
            (false, false, true),
        ] {
            assert_eq!(
                verdict(held("a", answered, alive, done), "b"),
                Verdict::DifferentRequest
            );
        }
        assert_eq!(
            verdict(held("a", false, false, false), "b"),
            Verdict::TakeOver
        );
    }

    #[test]
    fn the_same_request_is_replayed_refused_or_taken_over_by_what_the_first_became() {
        assert_eq!(verdict(held("a", true, false, true), "a"), Verdict::Replay);
        assert_eq!(
            verdict(held("a", false, true, true), "a"),
            Verdict::InFlight
        );
        assert_eq!(
            verdict(held("a", false, true, false), "a"),
            Verdict::InFlight
        );
        assert_eq!(
            verdict(held("a", false, false, true), "a"),
            Verdict::AnswerLost
        );
        assert_eq!(
            verdict(held("a", false, false, false), "a"),
            Verdict::TakeOver
        );
    }

    #[test]
    fn successes_and_answers_after_work_are_kept() {
        assert!(keeps_answer(201, false));
        assert!(keeps_answer(200, true));
        assert!(keeps_answer(500, true));
        assert!(!keeps_answer(400, false));
        assert!(!keeps_answer(429, false));
        assert!(!keeps_answer(503, false));
    }
}
