//! When a failed delivery is tried again.

use std::time::Duration;

/// Standard Webhooks' example schedule: the waits after the 1st, 2nd, … failed attempt.
pub const DEFAULT_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryIn(Duration),
    GiveUp,
}

/// The wait after failed attempt number `attempt` (1-based): the schedule's entry with
/// ±20 % jitter (`jitter` in `-1.0..=1.0`), stretched to honour a `Retry-After` the
/// receiver sent, but never beyond twice the scheduled wait. Past the schedule: give up.
pub fn after_failure(
    schedule: &[Duration],
    attempt: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> AfterFailure {
    let Some(base) = schedule.get(attempt.saturating_sub(1) as usize) else {
        return AfterFailure::GiveUp;
    };
    let jittered = base.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0));
    let wait = match retry_after {
        Some(asked) => asked.clamp(jittered, *base * 2),
        None => jittered,
    };
    AfterFailure::RetryIn(wait)
}

/// Parses a schedule written as durations separated by commas: `5s,5m,30m,2h`.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let (number, unit) = part.split_at(
                part.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(part.len()),
            );
            let n: u64 = number
                .parse()
                .map_err(|_| format!("{part:?} is not a duration like 5s, 5m, 2h"))?;
            let seconds = match unit {
                "s" | "" => n,
                "m" => n * 60,
                "h" => n * 3600,
                "d" => n * 86_400,
                _ => return Err(format!("{part:?} is not a duration like 5s, 5m, 2h")),
            };
            Ok(Duration::from_secs(seconds))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn follows_the_schedule_then_gives_up() {
        let s = DEFAULT_SCHEDULE;
        assert_eq!(
            after_failure(&s, 1, None, 0.0),
            AfterFailure::RetryIn(Duration::from_secs(5))
        );
        assert_eq!(
            after_failure(&s, 7, None, 0.0),
            AfterFailure::RetryIn(Duration::from_secs(36_000))
        );
        assert_eq!(after_failure(&s, 8, None, 0.0), AfterFailure::GiveUp);
    }

    #[test]
    fn retry_after_is_honoured_within_twice_the_wait() {
        let s = DEFAULT_SCHEDULE;
        assert_eq!(
            after_failure(&s, 1, Some(Duration::from_secs(8)), 0.0),
            AfterFailure::RetryIn(Duration::from_secs(8))
        );
        assert_eq!(
            after_failure(&s, 1, Some(Duration::from_secs(3600)), 0.0),
            AfterFailure::RetryIn(Duration::from_secs(10))
        );
        assert_eq!(
            after_failure(&s, 1, Some(Duration::from_secs(1)), 0.0),
            AfterFailure::RetryIn(Duration::from_secs(5))
        );
    }

    #[test]
    fn schedules_parse() {
        assert_eq!(
            parse_schedule("5s, 5m,2h,1d").unwrap(),
            vec![
                Duration::from_secs(5),
                Duration::from_secs(300),
                Duration::from_secs(7200),
                Duration::from_secs(86_400)
            ]
        );
        assert!(parse_schedule("5x").is_err());
        assert!(parse_schedule("").is_err());
    }

    proptest! {
        #[test]
        fn jitter_stays_within_twenty_percent(attempt in 1u32..=7, jitter in -1.0f64..=1.0) {
            let AfterFailure::RetryIn(wait) = after_failure(&DEFAULT_SCHEDULE, attempt, None, jitter) else { panic!("retries") };
            let base = DEFAULT_SCHEDULE[attempt as usize - 1].as_secs_f64();
            prop_assert!(wait.as_secs_f64() >= base * 0.8 - 1e-6 && wait.as_secs_f64() <= base * 1.2 + 1e-6);
        }
    }
}
