//! A scenario's reports over a period: the funnel (conversations that entered each step),
//! time in step (median and 90th percentile of the stays that ended), and the payments
//! recorded per step, by status and currency.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::ValidationError;
use crate::ids::StepId;

/// The longest period one report covers.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// The period a report covers when none is asked for: the last 30 days.
pub const DEFAULT_PERIOD_DAYS: i64 = 30;

/// `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A bound as a client writes it: RFC 3339, or a date (`2026-12-01`, midnight UTC; as the
/// end of a period, the whole day is in).
fn parse_bound(
    field: &'static str,
    text: &str,
    end: bool,
) -> Result<DateTime<Utc>, ValidationError> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(day) => {
            let day = if end { day + Duration::days(1) } else { day };
            Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
        }
        Err(_) => Err(ValidationError::single(
            field,
            "must be a date (2026-12-01) or an RFC 3339 time",
        )),
    }
}

impl Period {
    /// The period from a request's `from` and `to`, each optional: `to` defaults to
    /// `now` (included), `from` to 30 days before `to`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Period, ValidationError> {
        let to = match to.filter(|t| !t.trim().is_empty()) {
            Some(text) => parse_bound("to", text, true)?,
            // Up to now, now included.
            None => now + Duration::milliseconds(1),
        };
        let from = match from.filter(|f| !f.trim().is_empty()) {
            Some(text) => parse_bound("from", text, false)?,
            None => to - Duration::days(DEFAULT_PERIOD_DAYS),
        };
        if from >= to {
            return Err(ValidationError::single("from", "must be before to"));
        }
        if to - from > Duration::days(MAX_PERIOD_DAYS) {
            return Err(ValidationError::single(
                "from",
                format!("a report covers at most {MAX_PERIOD_DAYS} days"),
            ));
        }
        Ok(Period { from, to })
    }
}

/// The nearest-rank percentile `p` (0 to 100) of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// How long the stays of a step lasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StayTimes {
    /// Stays that ended in the period.
    pub ended: i64,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
}

/// Stay durations (step, milliseconds) summarized per step.
pub fn stay_times(durations: Vec<(StepId, i64)>) -> HashMap<StepId, StayTimes> {
    let mut by_step: HashMap<StepId, Vec<i64>> = HashMap::new();
    for (step, ms) in durations {
        by_step.entry(step).or_default().push(ms.max(0));
    }
    by_step
        .into_iter()
        .map(|(step, mut times)| {
            times.sort_unstable();
            let summary = StayTimes {
                ended: times.len() as i64,
                median_ms: percentile(&times, 50.0),
                p90_ms: percentile(&times, 90.0),
            };
            (step, summary)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_period_takes_dates_or_times_and_defaults_to_thirty_days() {
        let now = at("2026-12-02T10:00:00Z");
        let p = Period::parse(Some("2026-11-01"), Some("2026-11-30"), now).unwrap();
        assert_eq!(p.from, at("2026-11-01T00:00:00Z"));
        assert_eq!(p.to, at("2026-12-01T00:00:00Z"), "the last day is whole");
        let p = Period::parse(None, None, now).unwrap();
        let to = now + Duration::milliseconds(1);
        assert_eq!((p.from, p.to), (to - Duration::days(30), to));
        let p = Period::parse(Some("2026-12-01T12:00:00+03:00"), None, now).unwrap();
        assert_eq!(p.from, at("2026-12-01T09:00:00Z"));
        for (from, to, field) in [
            (Some("yesterday"), None, "from"),
            (None, Some("2026-13-01"), "to"),
            (Some("2026-12-02"), Some("2026-12-01"), "from"),
            (Some("2024-01-01"), Some("2026-01-01"), "from"),
        ] {
            let refused = Period::parse(from, to, now).unwrap_err();
            assert_eq!(refused.0[0].field, field, "{from:?} {to:?}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_per_step() {
        assert_eq!(percentile(&[], 50.0), None);
        let times: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&times, 50.0), Some(5));
        assert_eq!(percentile(&times, 90.0), Some(9));
        let (a, b) = (StepId::new(), StepId::new());
        let summary = stay_times(vec![(a, 30), (a, 10), (a, 20), (b, 5)]);
        assert_eq!(
            summary[&a],
            StayTimes {
                ended: 3,
                median_ms: Some(20),
                p90_ms: Some(30)
            }
        );
        assert_eq!(summary[&b].ended, 1);
    }
}
