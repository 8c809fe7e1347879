//! One incident, not five: which open incidents are symptoms of one cause. A pure function
//! over the incident list, so the rules are tested without a screen and the list is grouped
//! the same way every time it is rebuilt.
//!
//! An incident joins a group on the same feature when its onset is within the window after
//! the group's first onset and its type is linked to a member's type (`[grouping]` in the
//! config). The window counts from the first onset, never from the latest member: chained
//! windows would let a busy feature fold a whole day into one row.

use crate::config::grouping::GroupSettings;
use crate::domain::Incident;

/// Groups of two or more open incidents, each as indices into `incidents` ordered by onset
/// (then id), the groups themselves ordered by their first member's onset (then id).
/// Resolved incidents are never grouped: nothing is left to do to them together.
pub fn group(incidents: &[Incident], rules: &GroupSettings) -> Vec<Vec<usize>> {
    if rules.links.is_empty() {
        return Vec::new();
    }
    let linked_at_all = |i: &Incident| rules.links.iter().any(|l| l.contains(&i.kind));
    let mut candidates: Vec<usize> = (0..incidents.len())
        .filter(|&i| incidents[i].is_open() && linked_at_all(&incidents[i]))
        .collect();
    candidates.sort_by(|&a, &b| {
        let (x, y) = (&incidents[a], &incidents[b]);
        (x.feature.as_str(), x.triggered_at, &x.id).cmp(&(
            y.feature.as_str(),
            y.triggered_at,
            &y.id,
        ))
    });
    let window = chrono::Duration::seconds(rules.window_secs.secs());
    let mut groups: Vec<Vec<usize>> = Vec::new();
    // Groups still open to new members, of the feature being walked.
    let mut open: Vec<usize> = Vec::new();
    let mut feature: Option<&str> = None;
    for &i in &candidates {
        let inc = &incidents[i];
        if feature != Some(inc.feature.as_str()) {
            feature = Some(inc.feature.as_str());
            open.clear();
        }
        // Candidates come in onset order, so a group whose window has passed stays closed.
        open.retain(|&g| inc.triggered_at - incidents[groups[g][0]].triggered_at <= window);
        let joins = open.iter().copied().find(|&g| {
            groups[g]
                .iter()
                .any(|&m| rules.linked(incidents[m].kind, inc.kind))
        });
        match joins {
            Some(g) => groups[g].push(i),
            None => {
                open.push(groups.len());
                groups.push(vec![i]);
            }
        }
    }
    groups.retain(|g| g.len() > 1);
    groups.sort_by(|a, b| {
        let (x, y) = (&incidents[a[0]], &incidents[b[0]]);
        (x.triggered_at, &x.id).cmp(&(y.triggered_at, &y.id))
    });
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IncidentType, SafeText, Sev, Status};
    use chrono::{DateTime, Duration, TimeZone, Utc};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn inc(id: &str, feature: &str, kind: IncidentType, onset_secs: i64) -> Incident {
        let at = t0() + Duration::seconds(onset_secs);
        Incident {
            id: id.into(),
            source: "sim".into(),
            kind,
            feature: SafeText::new(feature),
            sev: Sev::Sev2,
            title: SafeText::new(id),
            status: Status::Triggered,
            triggered_at: at,
            respond_by: at + Duration::hours(1),
            acked_by: None,
            acked_at: None,
            escalation_level: 0,
            firing: true,
            evidence: vec![],
            timeline: vec![],
            on_call: None,
            last_status_update: None,
            snoozed_until: None,
            assignees: Vec::new(),
        }
    }

    fn rules(window: i64) -> GroupSettings {
        GroupSettings {
            window_secs: crate::config::grouping::Window::try_from(window)
                .unwrap_or_else(|_| GroupSettings::off().window_secs),
            links: vec![
                [IncidentType::CapabilityDrift, IncidentType::EvalRegression],
                [IncidentType::CostExplosion, IncidentType::GuardrailBypass],
            ],
        }
    }

    use IncidentType::*;

    #[test]
    fn linked_types_on_one_feature_within_the_window_are_one_group() {
        let list = vec![
            inc("eval", "support-bot", EvalRegression, 400),
            inc("drift", "support-bot", CapabilityDrift, 100),
        ];
        assert_eq!(group(&list, &rules(900)), vec![vec![1, 0]]);
    }

    #[test]
    fn another_feature_an_unlinked_type_or_a_late_onset_stays_apart() {
        let list = vec![
            inc("drift", "support-bot", CapabilityDrift, 0),
            inc("eval-elsewhere", "summarizer", EvalRegression, 60),
            inc("retrieval", "support-bot", RetrievalDegradation, 60),
            inc("eval-late", "support-bot", EvalRegression, 901),
        ];
        assert!(group(&list, &rules(900)).is_empty());
        // The window's edge is inside it.
        let list = vec![
            inc("drift", "support-bot", CapabilityDrift, 0),
            inc("eval", "support-bot", EvalRegression, 900),
        ];
        assert_eq!(group(&list, &rules(900)), vec![vec![0, 1]]);
    }

    #[test]
    fn the_window_counts_from_the_first_onset_not_the_latest_member() {
        // drift, eval 10 min later, another eval 10 min after that: the third is 20 min after
        // the group began, outside a 15 min window, and alone (eval is not linked to eval).
        let list = vec![
            inc("drift", "f", CapabilityDrift, 0),
            inc("eval1", "f", EvalRegression, 600),
            inc("eval2", "f", EvalRegression, 1200),
        ];
        assert_eq!(group(&list, &rules(900)), vec![vec![0, 1]]);
    }

    #[test]
    fn a_type_joins_through_any_member_it_is_linked_to() {
        let mut r = rules(900);
        r.links.push([EvalRegression, RetrievalDegradation]);
        let list = vec![
            inc("drift", "f", CapabilityDrift, 0),
            inc("eval", "f", EvalRegression, 60),
            inc("retrieval", "f", RetrievalDegradation, 120),
        ];
        assert_eq!(group(&list, &r), vec![vec![0, 1, 2]]);
    }

    #[test]
    fn two_causes_on_one_feature_make_two_groups() {
        let list = vec![
            inc("drift", "f", CapabilityDrift, 0),
            inc("cost", "f", CostExplosion, 30),
            inc("eval", "f", EvalRegression, 60),
            inc("guardrail", "f", GuardrailBypass, 90),
        ];
        assert_eq!(group(&list, &rules(900)), vec![vec![0, 2], vec![1, 3]]);
    }

    #[test]
    fn resolved_incidents_and_no_links_group_nothing() {
        let mut eval = inc("eval", "f", EvalRegression, 60);
        eval.status = Status::Resolved;
        let list = vec![inc("drift", "f", CapabilityDrift, 0), eval];
        assert!(group(&list, &rules(900)).is_empty());
        let list = vec![
            inc("drift", "f", CapabilityDrift, 0),
            inc("eval", "f", EvalRegression, 60),
        ];
        assert!(group(&list, &GroupSettings::off()).is_empty());
    }

    #[test]
    fn the_same_list_in_any_order_groups_the_same_incidents() {
        let list = vec![
            inc("a", "f", CapabilityDrift, 0),
            inc("b", "f", EvalRegression, 60),
            inc("c", "g", CostExplosion, 10),
            inc("d", "g", GuardrailBypass, 20),
        ];
        let ids = |l: &[Incident]| -> Vec<Vec<String>> {
            group(l, &rules(900))
                .into_iter()
                .map(|g| g.into_iter().map(|i| l[i].id.clone()).collect())
                .collect()
        };
        let mut reversed = list.clone();
        reversed.reverse();
        assert_eq!(ids(&list), ids(&reversed));
        // By first onset: a at 0 s, then c at 10 s.
        assert_eq!(ids(&list), vec![vec!["a", "b"], vec!["c", "d"]]);
    }
}
