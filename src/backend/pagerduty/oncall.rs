//! Who is on call, per escalation policy and level, from `GET /oncalls`: the pure half (what a
//! page of on-calls means, when the cache is due for a refresh, what an incident is shown).
//! The client reads the pages; the cache lives as long as the adapter, so the frame path and
//! every poll in between only read what was fetched.

use super::wire::{OnCallEntry, PdIncident, Reference};
use crate::domain::oncall::{OnCall, OnCallLevel, OnCallUser, MAX_NAMES_PER_LEVEL};
use crate::domain::text::fit;
use crate::domain::SafeText;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Escalation policies asked about per request: ids travel in the query string, and a URL of
/// thousands of ids is refused by proxies before PagerDuty sees it.
pub(super) const POLICIES_PER_REQUEST: usize = 25;
/// Policies read per refresh; the least urgent incidents' policies past it stay unknown.
pub(super) const MAX_POLICIES: usize = 100;
/// A name longer than this is cut: it is one cell of the detail pane, not a document.
const NAME_COLUMNS: usize = 60;

#[derive(Debug, Default)]
pub(super) struct OnCallCache {
    /// Levels per policy id, lowest first.
    by_policy: HashMap<String, Vec<OnCallLevel>>,
    /// The policies the last good read asked about: a policy outside it is due at once.
    asked: BTreeSet<String>,
    /// When the last good read finished (cockpit time, shown as its age).
    read_at: Option<DateTime<Utc>>,
    /// When the last good read finished; `None` also after a failure, so the next poll asks
    /// again (a 429 holds every request back until its reset anyway).
    fresh_since: Option<Instant>,
    /// Why the last read failed, while the levels held are from an earlier one.
    error: Option<String>,
}

/// The policy ids of `incidents`, most urgent incident first, at most `MAX_POLICIES`.
pub(super) fn policies_of(incidents: &[PdIncident]) -> Vec<String> {
    let mut ordered: Vec<&PdIncident> = incidents.iter().collect();
    ordered.sort_by_key(|i| (i.sev(), i.created_at));
    let mut seen = BTreeSet::new();
    ordered
        .into_iter()
        .filter_map(|i| Reference::id(&i.escalation_policy))
        .filter(|id| is_pd_id(id))
        .filter(|id| seen.insert(id.to_string()))
        .take(MAX_POLICIES)
        .map(str::to_string)
        .collect()
}

/// PagerDuty ids are letters and digits; anything else never goes into a query.
fn is_pd_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

impl OnCallCache {
    /// Whether a read is due: never read, the last read failed, a policy not asked about
    /// yet, or the last read older than `refresh`.
    pub(super) fn due(&self, policies: &[String], refresh: Duration) -> bool {
        if policies.is_empty() {
            return false;
        }
        let Some(since) = self.fresh_since else {
            return true;
        };
        since.elapsed() >= refresh || policies.iter().any(|p| !self.asked.contains(p))
    }

    pub(super) fn store(
        &mut self,
        policies: &[String],
        entries: Vec<OnCallEntry>,
        at: DateTime<Utc>,
    ) {
        self.by_policy = levels_by_policy(entries);
        self.asked = policies.iter().cloned().collect();
        self.read_at = Some(at);
        self.fresh_since = Some(Instant::now());
        self.error = None;
    }

    /// The read failed: what was held stays, marked with the error and its age.
    pub(super) fn fail(&mut self, error: String) {
        self.fresh_since = None;
        self.error = Some(error);
    }

    /// What `inc` shows: `None` when it names no escalation policy (nothing to look up).
    pub(super) fn for_incident(&self, inc: &PdIncident) -> Option<OnCall> {
        let policy = inc.escalation_policy.as_ref()?;
        let id = policy.id.as_deref().filter(|id| is_pd_id(id))?;
        let read = self.asked.contains(id);
        Some(OnCall {
            policy: SafeText::new(policy.summary.as_deref().unwrap_or(id)),
            levels: self.by_policy.get(id).cloned().unwrap_or_default(),
            read_at: self.read_at.filter(|_| read),
            error: self.error.as_deref().map(SafeText::new),
        })
    }
}

/// On-call entries grouped by policy and level, each person once per level ("Jane Doe (ML
/// primary)" when a schedule puts them there), at most `MAX_NAMES_PER_LEVEL` named.
fn levels_by_policy(entries: Vec<OnCallEntry>) -> HashMap<String, Vec<OnCallLevel>> {
    let mut grouped: HashMap<String, BTreeMap<u32, Vec<String>>> = HashMap::new();
    let mut people: HashMap<(String, u32), Vec<OnCallUser>> = HashMap::new();
    for e in entries {
        let (Some(policy), Some(level), Some(user)) = (
            Reference::id(&e.escalation_policy),
            e.escalation_level.filter(|l| *l >= 1),
            Reference::name(&e.user),
        ) else {
            continue;
        };
        let name = match Reference::name(&e.schedule).filter(|s| !s.trim().is_empty()) {
            Some(schedule) => format!("{user} ({schedule})"),
            None => user.to_string(),
        };
        let name = fit(SafeText::new(&name).as_str(), NAME_COLUMNS);
        let names = grouped
            .entry(policy.to_string())
            .or_default()
            .entry(level)
            .or_default();
        if !names.contains(&name) {
            names.push(name);
        }
        let Some(id) = Reference::id(&e.user).filter(|id| is_pd_id(id)) else {
            continue;
        };
        let users = people.entry((policy.to_string(), level)).or_default();
        if users.len() < MAX_NAMES_PER_LEVEL && !users.iter().any(|u| u.id == id) {
            users.push(OnCallUser {
                name: SafeText::new(&fit(SafeText::new(user).as_str(), NAME_COLUMNS)),
                id: id.to_string(),
            });
        }
    }
    grouped
        .into_iter()
        .map(|(policy, levels)| {
            let levels = levels
                .into_iter()
                .map(|(level, names)| OnCallLevel {
                    users: people.remove(&(policy.clone(), level)).unwrap_or_default(),
                    level,
                    more: names.len().saturating_sub(MAX_NAMES_PER_LEVEL),
                    names: names
                        .iter()
                        .take(MAX_NAMES_PER_LEVEL)
                        .map(|n| SafeText::new(n))
                        .collect(),
                })
                .collect();
            (policy, levels)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(policy: &str, level: u32, user: &str, schedule: Option<&str>) -> OnCallEntry {
        let r = |id: Option<&str>, s: &str| {
            Some(Reference {
                id: id.map(str::to_string),
                summary: Some(s.to_string()),
            })
        };
        OnCallEntry {
            escalation_policy: r(Some(policy), "AI on-call"),
            escalation_level: Some(level),
            user: r(Some("PU1"), user),
            schedule: schedule.and_then(|s| r(Some("PS1"), s)),
        }
    }

    #[test]
    fn entries_group_by_policy_and_level_each_person_once() {
        let mut many: Vec<OnCallEntry> = (0..8)
            .map(|n| entry("PEP1", 3, &format!("manager {n}"), None))
            .collect();
        many.extend([
            entry("PEP1", 2, "Jane Doe", Some("ML")),
            entry("PEP1", 1, "Ana Lima", Some("AI primary")),
            entry("PEP1", 1, "Ana Lima", Some("AI primary")),
            entry("PEP2", 1, "Bo Jensen", None),
        ]);
        let by = levels_by_policy(many);
        let pep1 = &by["PEP1"];
        assert_eq!(pep1.iter().map(|l| l.level).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(pep1[0].describe(), "Ana Lima (AI primary)");
        assert_eq!(pep1[1].describe(), "Jane Doe (ML)");
        assert_eq!(pep1[2].names.len(), MAX_NAMES_PER_LEVEL);
        assert!(pep1[2].describe().ends_with(" +3 more"), "{:?}", pep1[2]);
        assert_eq!(by["PEP2"][0].describe(), "Bo Jensen");
    }

    #[test]
    fn entries_without_a_policy_level_or_user_are_skipped_and_names_are_inert() {
        let mut bad = entry("PEP1", 0, "level zero", None);
        bad.escalation_level = Some(0);
        let mut no_user = entry("PEP1", 1, "x", None);
        no_user.user = None;
        let evil = entry("PEP1", 1, "Eve\u{1b}]52;c;aGk=\u{7}", None);
        let by = levels_by_policy(vec![bad, no_user, evil]);
        assert_eq!(by["PEP1"].len(), 1);
        assert_eq!(by["PEP1"][0].describe(), "Eve");
    }

    #[test]
    fn a_read_is_due_when_never_read_for_a_new_policy_or_after_refresh() {
        let mut c = OnCallCache::default();
        let p1 = vec!["PEP1".to_string()];
        let hour = Duration::from_secs(3600);
        assert!(!c.due(&[], hour), "no policy, nothing to read");
        assert!(c.due(&p1, hour));
        c.store(&p1, Vec::new(), Utc::now());
        assert!(!c.due(&p1, hour));
        assert!(c.due(&["PEP1".into(), "PEP2".into()], hour));
        assert!(c.due(&p1, Duration::ZERO));
        c.fail("HTTP 500".into());
        assert!(
            c.due(&p1, hour),
            "a failed read is tried again on the next poll"
        );
    }
}
