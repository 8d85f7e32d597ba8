//! Rate limits per API token, per organization and per provider channel, kept in this
//! process's memory: with several nodes behind a load balancer each node counts its own
//! share. A limit is written `N/unit` (`20/s`, `600/min`, `10000/h`): N requests at once,
//! refilled evenly over the unit. Health checks and pages are never limited.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use stagecoach_app::{AppError, Principal};

/// A limit as configured: `requests` per `period`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    requests: NonZeroU32,
    period: Duration,
    written: String,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || format!("'{text}' is not a rate: write it as N/s, N/min or N/h, or off");
        let (count, unit) = text.trim().split_once('/').ok_or_else(usage)?;
        let requests: NonZeroU32 = count.trim().parse().map_err(|_| usage())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(usage()),
        };
        Ok(Rate {
            requests,
            period,
            written: format!("{requests}/{}", unit.trim()),
        })
    }
}

impl Rate {
    fn quota(&self) -> Quota {
        let every = self.period / self.requests.get();
        Quota::with_period(every.max(Duration::from_nanos(1)))
            .expect("a positive period")
            .allow_burst(self.requests)
    }
}

/// A setting that may be `off`.
pub fn parse_setting(text: &str) -> Result<Option<Rate>, String> {
    match text.trim() {
        "off" | "none" => Ok(None),
        rate => rate.parse().map(Some),
    }
}

/// The limits of a server; `None` turns one off.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSettings {
    pub per_token: Option<Rate>,
    pub per_organization: Option<Rate>,
    pub per_channel: Option<Rate>,
}

struct Limit<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    rate: Rate,
    scope: &'static str,
}

impl<K: Hash + Eq + Clone> Limit<K> {
    fn new(rate: Rate, scope: &'static str) -> Self {
        Limit {
            limiter: RateLimiter::keyed(rate.quota()),
            rate,
            scope,
        }
    }

    fn check(&self, key: &K) -> Result<(), AppError> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            AppError::RateLimited {
                scope: self.scope,
                limit: self.rate.written.clone(),
                // Whole seconds, rounded up: `Retry-After` has no fractions.
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

/// The server's rate limiters. Cheap to share behind an `Arc`.
pub struct RateLimits {
    per_token: Option<Limit<uuid::Uuid>>,
    per_organization: Option<Limit<uuid::Uuid>>,
    per_channel: Option<Limit<String>>,
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        RateLimits {
            per_token: settings.per_token.map(|r| Limit::new(r, "this token")),
            per_organization: settings
                .per_organization
                .map(|r| Limit::new(r, "this organization")),
            per_channel: settings.per_channel.map(|r| Limit::new(r, "this channel")),
        }
    }

    /// No limits at all.
    pub fn unlimited() -> Self {
        Self::new(RateLimitSettings::default())
    }

    /// Counts a request of an authenticated caller against its token's and its
    /// organization's limits.
    pub(crate) fn check_caller(&self, who: &Principal) -> Result<(), AppError> {
        if let (Some(limit), Some(token)) = (&self.per_token, who.token_id) {
            limit.check(&token.0)?;
        }
        if let Some(limit) = &self.per_organization {
            limit.check(&who.organization_id.0)?;
        }
        Ok(())
    }

    /// Counts a provider's notification against its channel's limit.
    pub(crate) fn check_channel(&self, channel: &str) -> Result<(), AppError> {
        match &self.per_channel {
            Some(limit) => limit.check(&channel.to_owned()),
            None => Ok(()),
        }
    }

    /// Forgets the keys that have not been limited lately, so memory stays bounded by
    /// the callers of the last while.
    pub fn forget_idle(&self) {
        if let Some(limit) = &self.per_token {
            limit.limiter.retain_recent();
        }
        if let Some(limit) = &self.per_organization {
            limit.limiter.retain_recent();
        }
        if let Some(limit) = &self.per_channel {
            limit.limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_written_as_requests_per_unit() {
        let rate: Rate = "600/min".parse().unwrap();
        assert_eq!(
            (rate.requests.get(), rate.period),
            (600, Duration::from_secs(60))
        );
        assert_eq!(
            "20/s".parse::<Rate>().unwrap().period,
            Duration::from_secs(1)
        );
        assert_eq!(parse_setting("off").unwrap(), None);
        for bad in ["", "20", "0/s", "x/s", "20/day", "-1/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let limit: Limit<u32> = Limit::new("3/min".parse().unwrap(), "this token");
        for _ in 0..3 {
            assert!(limit.check(&1).is_ok());
        }
        match limit.check(&1) {
            Err(AppError::RateLimited {
                retry_after_secs, ..
            }) => assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}"),
            other => panic!("{other:?}"),
        }
        assert!(limit.check(&2).is_ok(), "each key has its own limit");
    }
}
