//! The samples part: what each feature's model said, fetched on demand per window (the
//! incident's, the baseline's), with where it came from and when.

use crate::domain::sample::{Sample, Window};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One window's answer: the samples, or why there are none.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    pub source: String,
    pub at: DateTime<Utc>,
    pub result: Result<Vec<Sample>, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// Per feature and window, the last answer.
    pub fetched: HashMap<(String, Window), Fetched>,
    /// Queries sent and not answered yet.
    pub pending: Vec<(String, Window)>,
}

impl Samples {
    pub fn answered(
        &mut self,
        source: String,
        at: DateTime<Utc>,
        feature: String,
        window: Window,
        result: Result<Vec<Sample>, String>,
    ) {
        let key = (feature, window);
        self.pending.retain(|k| *k != key);
        self.fetched.insert(key, Fetched { source, at, result });
    }

    pub fn get(&self, feature: &str, window: Window) -> Option<&Fetched> {
        self.fetched.get(&(feature.to_string(), window))
    }

    pub fn is_pending(&self, feature: &str, window: Window) -> bool {
        self.pending
            .iter()
            .any(|(f, w)| f == feature && *w == window)
    }
}
