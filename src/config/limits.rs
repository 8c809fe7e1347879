//! Limits a number in config.toml must stay within, in one wording. Out of range is refused,
//! never clamped: a cockpit that quietly polls at another rate than written misleads whoever
//! reads the file. Poll interval and timeout are refused while the file is read (timing.rs);
//! the rest by the config check, for whichever kind of source declares them.

/// Inclusive bounds for the number under `key`.
#[derive(Debug)]
pub struct Limit {
    pub key: &'static str,
    pub min: f64,
    pub max: f64,
    pub why: &'static str,
}

impl Limit {
    /// What is wrong with `value`, if anything.
    pub fn refuse(&self, value: f64) -> Option<String> {
        // A huge number in full would be a line of three hundred digits.
        let found = if value.abs() >= 1e15 {
            format!("{value:e}")
        } else {
            value.to_string()
        };
        (!(value >= self.min && value <= self.max)).then(|| {
            format!(
                "expected {} to {} ({}), found {found}",
                self.min, self.max, self.why
            )
        })
    }
}

pub const REPLY: Limit = Limit {
    key: "max_reply_mib",
    min: 1.0,
    max: 1024.0,
    why: "MiB per reply",
};

pub const INCIDENTS: Limit = Limit {
    key: "max_incidents",
    min: 1.0,
    max: 100_000.0,
    why: "incidents held per source",
};

pub const PACE: Limit = Limit {
    key: "answer_time_factor",
    min: 1.0,
    max: 100.0,
    why: "times the last answer time between poll starts",
};

pub const PAGES: Limit = Limit {
    key: "max_pages",
    min: 1.0,
    max: 100.0,
    why: "pages per poll",
};

pub const LOG_ENTRIES: Limit = Limit {
    key: "max_log_entries",
    min: 1.0,
    max: 10_000.0,
    why: "PagerDuty log entries read per incident timeline",
};

pub const PAGE_SIZE: Limit = Limit {
    key: "page_size",
    min: 1.0,
    max: 100.0,
    why: "PagerDuty refuses pages larger than 100",
};

pub const ONCALL_REFRESH: Limit = Limit {
    key: "oncall_refresh_secs",
    min: 30.0,
    max: 86_400.0,
    why: "seconds between reads of who is on call",
};

/// Prompts read per poll of a prompt registry (Phoenix, Langfuse).
pub const PROMPTS: Limit = Limit {
    key: "max_prompts",
    min: 1.0,
    max: 1000.0,
    why: "prompts read per poll, two requests each",
};

/// Versions of a prompt offered for a rollback.
pub const PROMPT_VERSIONS: Limit = Limit {
    key: "max_prompt_versions",
    min: 1.0,
    max: 100.0,
    why: "newest versions offered per prompt, one request",
};
