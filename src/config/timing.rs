//! How often a source is polled and how long one call may take, checked once: the moment the
//! config is read. `PollSecs` and `TimeoutSecs` cannot hold a value outside their limits, so
//! the adapters and the driver tasks receive a `Timing` that is valid by construction and
//! never check it again.

use super::limits::Limit;
use serde::Deserialize;
use std::time::Duration;

pub const POLL: Limit = Limit {
    key: "poll_secs",
    min: 1.0,
    max: 3600.0,
    why: "a cockpit must not poll a backend more than once a second",
};

pub const TIMEOUT: Limit = Limit {
    key: "timeout_secs",
    min: 0.5,
    max: 600.0,
    why: "seconds",
};

/// `poll_secs`: within `POLL`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct PollSecs(f64);

/// `timeout_secs`: within `TIMEOUT`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct TimeoutSecs(f64);

impl TryFrom<f64> for PollSecs {
    type Error = String;
    fn try_from(secs: f64) -> Result<Self, String> {
        POLL.refuse(secs).map_or(Ok(PollSecs(secs)), Err)
    }
}

impl TryFrom<f64> for TimeoutSecs {
    type Error = String;
    fn try_from(secs: f64) -> Result<Self, String> {
        TIMEOUT.refuse(secs).map_or(Ok(TimeoutSecs(secs)), Err)
    }
}

impl PollSecs {
    pub fn secs(self) -> f64 {
        self.0
    }

    pub fn duration(self) -> Duration {
        in_range(self.0)
    }
}

impl TimeoutSecs {
    pub fn secs(self) -> f64 {
        self.0
    }

    pub fn duration(self) -> Duration {
        in_range(self.0)
    }
}

/// Both limits lie well inside what a `Duration` holds; the fallback is never reached.
fn in_range(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(3600))
}

/// A source's poll interval and call timeout, valid by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub poll: Duration,
    pub timeout: Duration,
}

impl Timing {
    pub fn new(poll: PollSecs, timeout: TimeoutSecs) -> Timing {
        Timing {
            poll: poll.duration(),
            timeout: timeout.duration(),
        }
    }

    /// A source with nothing to poll on the configured interval (a pager, an HTTP hook): the
    /// kind decides how often its task wakes.
    pub fn unpolled(every: Duration, timeout: TimeoutSecs) -> Timing {
        Timing {
            poll: every,
            timeout: timeout.duration(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_and_nan_are_refused_in_one_wording() {
        for bad in [0.0, 0.999, 3600.5, f64::NAN, f64::INFINITY, -1.0] {
            let err = PollSecs::try_from(bad).err().unwrap_or_default();
            assert!(
                err.starts_with("expected 1 to 3600 (a cockpit must not poll"),
                "{bad}: {err}"
            );
        }
        let err = TimeoutSecs::try_from(1e300).err().unwrap_or_default();
        assert_eq!(err, "expected 0.5 to 600 (seconds), found 1e300");
        assert_eq!(
            PollSecs::try_from(15.0).map(PollSecs::duration),
            Ok(Duration::from_secs(15))
        );
    }

    #[test]
    fn read_from_toml_integers_and_floats() {
        #[derive(Deserialize)]
        struct T {
            poll_secs: PollSecs,
            timeout_secs: TimeoutSecs,
        }
        let t: T = toml::from_str("poll_secs = 15\ntimeout_secs = 2.5").expect("valid");
        let timing = Timing::new(t.poll_secs, t.timeout_secs);
        assert_eq!(timing.poll, Duration::from_secs(15));
        assert_eq!(timing.timeout, Duration::from_millis(2500));
        let err = toml::from_str::<T>("poll_secs = 0.5\ntimeout_secs = 2").err();
        assert!(
            err.is_some_and(|e| e.message().starts_with("expected 1 to 3600")),
            "refused while reading"
        );
    }
}
