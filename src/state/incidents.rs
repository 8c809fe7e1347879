//! The incidents part: every incident held, their display order, the filter, the cursor.
//!
//! Tens of thousands of incidents must stay within a frame's budget, so order and filter
//! change separately: all incidents are sorted once when their data changes (`order`), and a
//! filter keystroke only walks that order, or the smallest earlier result the new filter
//! narrows (typing on adds letters or words: nothing outside that result can start matching;
//! deleting goes back to a filter already seen, whose result is kept until the incidents
//! change).

use super::groups;
use crate::config::grouping::GroupSettings;
use crate::domain::{Incident, IncidentId, Sev};
use std::collections::HashSet;

/// The order of the list. `Sev` is the responder's default: most urgent first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    Sev,
    /// Oldest onset first: what has burned longest.
    Age,
    /// By feature name, most urgent first within each.
    Feature,
    /// Triggered, then acknowledged, then resolved, most urgent first within each.
    State,
}

impl SortKey {
    pub const ALL: [SortKey; 4] = [SortKey::Sev, SortKey::Age, SortKey::Feature, SortKey::State];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Sev => "sev",
            SortKey::Age => "age",
            SortKey::Feature => "feature",
            SortKey::State => "state",
        }
    }

    pub fn from_name(name: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }
}

/// One row of the incident list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// An incident of no group: an index into `all`.
    Single(usize),
    /// The parent row of a group: an index into `groups`.
    Group(usize),
    /// A member of an expanded group, drawn under its parent: an index into `all`.
    Member(usize),
}

#[derive(Debug, Default)]
pub struct Incidents {
    /// In no particular order: `order` and `shown` order them.
    pub all: Vec<Incident>,
    /// Indices of all incidents in display order. Derived when incidents change, so a filter
    /// keystroke never sorts.
    pub order: Vec<usize>,
    /// Indices into `all` that pass the filter, in display order: the rows of the list.
    /// Derived; kept in step by `update` so rendering never recomputes it.
    pub shown: Vec<usize>,
    /// Rows shown for each filter typed since the incidents last changed. Derived.
    filtered: Vec<(String, Vec<usize>)>,
    /// Open incidents per SEV, SEV1 first. Derived with `shown`, so the header and the list
    /// title never walk every incident on every frame.
    pub open_by_sev: [usize; 4],
    /// Which open incidents are one incident (`[grouping]`); None (nothing groups) until
    /// start-up brings the config's rules.
    pub grouping: Option<GroupSettings>,
    /// Groups of two or more, as indices into `all` by onset (`groups::group`). Derived.
    pub groups: Vec<Vec<usize>>,
    /// The group of each incident in `all`, if any. Derived.
    group_of: Vec<Option<usize>>,
    /// Groups whose members are drawn under the parent row, by the id of their first member.
    pub expanded: HashSet<IncidentId>,
    /// The rows drawn: `shown` with each group's members folded under one parent row, where
    /// its most urgent member shown puts it. Derived with `shown`.
    pub rows: Vec<Row>,
    /// Incidents marked for a bulk action (`space`), by id: they stay marked when rows move.
    pub marks: HashSet<IncidentId>,
    pub sort: SortKey,
    /// Position in `rows`.
    pub cursor: usize,
    pub selected_id: Option<IncidentId>,
    /// The cursor is on the parent row of `selected_id`'s group, not on the incident itself.
    pub selected_group: bool,
    pub filter: String,
    /// An incident that just became SEV1, and the tick it did: its row flashes for a moment.
    pub new_sev1: Option<(IncidentId, u64)>,
    /// Incidents a lever has contained (`containment`): they sort with the recovered ones.
    pub contained: HashSet<IncidentId>,
}

/// What `Incident::urgency_rank` adds to the class of an open incident whose signal has
/// recovered, so it sorts below every firing one.
const QUIET: u8 = 32;

/// Views of filters typed since the incidents last changed: enough for deleting back through
/// a long filter without scanning everything again.
const FILTERS_KEPT: usize = 16;

/// The filter's words, lowercased.
pub fn filter_words(filter: &str) -> Vec<String> {
    filter.split_whitespace().map(str::to_lowercase).collect()
}

/// Every word of the filter must appear (case-insensitively) in one of the row's fields: SEV,
/// type, feature, status, id, title. Allocates nothing for ASCII words.
pub fn matches(inc: &Incident, words: &[String]) -> bool {
    let sev = [b'S', b'E', b'V', b'0' + inc.sev.number()];
    let sev = std::str::from_utf8(&sev).unwrap_or("");
    let fields = [
        sev,
        inc.kind.short(),
        inc.feature.as_str(),
        inc.status.short(),
        inc.id.as_str(),
        inc.title.as_str(),
    ];
    words
        .iter()
        .all(|w| fields.iter().any(|f| contains_lowercase(f, w)))
}

/// Whether `hay`, lowercased, contains `needle` (already lowercase).
fn contains_lowercase(hay: &str, needle: &str) -> bool {
    if !needle.is_ascii() {
        return hay.to_lowercase().contains(needle);
    }
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    // Non-ASCII letters lowercase to non-ASCII (but for the Kelvin sign and a dotted capital
    // I, not worth a slower path per incident), so comparing bytes ASCII-insensitively
    // finds what lowercasing the whole text would.
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// `Incident::urgency_rank` as one integer with the same order: class in the top bits, then
/// the deadline's seconds (offset so negative ones sort first) and nanoseconds.
fn packed((class, secs, nanos): (u8, i64, u32)) -> u128 {
    let secs = (i128::from(secs) - i128::from(i64::MIN)) as u128;
    (u128::from(class) << 96) | (secs << 32) | u128::from(nanos)
}

/// True when every incident matching `new` also matches `old`: each old word is inside some
/// new word, as when a letter or a word was typed.
fn narrows(old: &[String], new: &[String]) -> bool {
    old.iter()
        .all(|o| new.iter().any(|n| n.contains(o.as_str())))
}

impl Incidents {
    /// The incident under the cursor; on a parent row, the group's most urgent member shown,
    /// whose detail, signals and levers stand for the group.
    pub fn selected(&self) -> Option<&Incident> {
        let ix = match self.rows.get(self.cursor)? {
            Row::Single(i) | Row::Member(i) => *i,
            Row::Group(g) => self.lead(*g)?,
        };
        self.all.get(ix)
    }

    /// The members of the group whose parent row is under the cursor, by onset.
    pub fn selected_members(&self) -> Option<&[usize]> {
        match self.rows.get(self.cursor)? {
            Row::Group(g) => self.groups.get(*g).map(Vec::as_slice),
            _ => None,
        }
    }

    /// The group `all[ix]` belongs to, if any.
    pub fn group_of(&self, ix: usize) -> Option<usize> {
        self.group_of.get(ix).copied().flatten()
    }

    /// A group's most urgent member: first in display order.
    pub fn lead(&self, g: usize) -> Option<usize> {
        let members = self.groups.get(g)?;
        members
            .iter()
            .copied()
            .min_by_key(|&i| (packed(self.all[i].urgency_rank()), &self.all[i].id))
    }

    /// The key that keeps a group expanded across polls: its first member's id.
    pub fn group_key(&self, g: usize) -> Option<&IncidentId> {
        self.groups
            .get(g)
            .and_then(|m| m.first())
            .map(|&i| &self.all[i].id)
    }

    /// Expands or collapses the group under the cursor (its parent row or a member row).
    pub(crate) fn toggle_group(&mut self) -> bool {
        let g = match self.rows.get(self.cursor) {
            Some(Row::Group(g)) => *g,
            Some(Row::Member(i)) => match self.group_of(*i) {
                Some(g) => g,
                None => return false,
            },
            _ => return false,
        };
        let Some(key) = self.group_key(g).cloned() else {
            return false;
        };
        if !self.expanded.remove(&key) {
            self.expanded.insert(key);
        }
        // Collapsing from a member leaves the cursor on the parent row.
        if let (Some(lead), Some(Row::Member(_))) = (self.lead(g), self.rows.get(self.cursor)) {
            self.selected_id = Some(self.all[lead].id.clone());
            self.selected_group = true;
        }
        self.build_rows();
        true
    }

    /// Replaces `source`'s incidents with `fresh` and re-sorts. Returns the replaced ones
    /// (to be freed off the frame path) and a SEV1 that was not firing before, unless this
    /// is the source's first poll: what is open when the cockpit starts is not news.
    /// `only_source`: no other source has incidents, so everything old is replaced.
    pub(crate) fn replace(
        &mut self,
        source: &str,
        fresh: Vec<Incident>,
        only_source: bool,
        first_poll: bool,
    ) -> (Vec<Incident>, Option<(IncidentId, String)>) {
        let was_sev1: HashSet<&str> = self
            .all
            .iter()
            // The inline fields first: comparing tens of thousands of source names is the
            // slow part of this scan.
            .filter(|i| is_loud_sev1(i) && i.source == source)
            .map(|i| i.id.as_str())
            .collect();
        let new_sev1 = fresh
            .iter()
            .find(|i| is_loud_sev1(i) && !was_sev1.contains(i.id.as_str()))
            .filter(|_| !first_poll)
            .map(|i| (i.id.clone(), i.title.to_string()));
        let replaced = if only_source {
            std::mem::replace(&mut self.all, fresh)
        } else {
            replace_from(&mut self.all, source, fresh)
        };
        self.rebuild();
        (replaced, new_sev1)
    }

    /// After the incidents changed: re-sorts all of them, re-filters, and keeps the same
    /// incident selected when it still shows.
    pub(crate) fn rebuild(&mut self) {
        let incidents = &self.all;
        self.open_by_sev = [0; 4];
        for i in incidents.iter().filter(|i| i.is_open()) {
            self.open_by_sev[usize::from(i.sev.number() - 1)] += 1;
        }
        // Sorted by one integer per incident, read in memory order, not by moving incidents
        // (hundreds of bytes each) or chasing them through memory on each of n log n
        // comparisons; then only runs of equal urgency are ordered by id.
        let contained = &self.contained;
        let mut keyed: Vec<(u128, usize)> = incidents
            .iter()
            .enumerate()
            .map(|(i, inc)| {
                let mut rank = inc.urgency_rank();
                // Contained after a lever: as quiet as recovered, whatever its countdown.
                if inc.firing && !contained.is_empty() && contained.contains(&inc.id) {
                    rank.0 = rank.0.saturating_add(QUIET);
                }
                (packed(rank), i)
            })
            .collect();
        keyed.sort_unstable();
        let mut start = 0;
        while start < keyed.len() {
            let key = keyed[start].0;
            let end = keyed[start..]
                .iter()
                .position(|(k, _)| *k != key)
                .map_or(keyed.len(), |n| start + n);
            if end - start > 1 {
                keyed[start..end]
                    .sort_unstable_by(|(_, a), (_, b)| incidents[*a].id.cmp(&incidents[*b].id));
            }
            start = end;
        }
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(keyed.into_iter().map(|(_, i)| i));
        // Another order keeps urgency within its own ties (the sort is stable).
        match self.sort {
            SortKey::Sev => {}
            SortKey::Age => order.sort_by_key(|&i| incidents[i].triggered_at),
            SortKey::Feature => order.sort_by(|&a, &b| {
                incidents[a]
                    .feature
                    .as_str()
                    .cmp(incidents[b].feature.as_str())
            }),
            SortKey::State => order.sort_by_key(|&i| match incidents[i].status {
                crate::domain::Status::Triggered => 0,
                crate::domain::Status::Acknowledged => 1,
                crate::domain::Status::Resolved => 2,
            }),
        }
        self.order = order;
        self.regroup();
        self.filtered.clear();
        self.apply_filter();
    }

    /// Groups the incidents again (`groups::group`); a group no longer there forgets it was
    /// expanded.
    fn regroup(&mut self) {
        self.groups = match &self.grouping {
            Some(rules) => groups::group(&self.all, rules),
            None => Vec::new(),
        };
        self.group_of.clear();
        self.group_of.resize(self.all.len(), None);
        for (g, members) in self.groups.iter().enumerate() {
            for &i in members {
                self.group_of[i] = Some(g);
            }
        }
        let keys: HashSet<&IncidentId> = (0..self.groups.len())
            .filter_map(|g| self.group_key(g))
            .collect();
        let kept: HashSet<IncidentId> = self
            .expanded
            .iter()
            .filter(|k| keys.contains(k))
            .cloned()
            .collect();
        self.expanded = kept;
        if !self.marks.is_empty() {
            let ids: HashSet<&IncidentId> = self.all.iter().map(|i| &i.id).collect();
            let kept: HashSet<IncidentId> = self
                .marks
                .iter()
                .filter(|m| ids.contains(m))
                .cloned()
                .collect();
            self.marks = kept;
        }
    }

    /// Sorts the list by `key`.
    pub(crate) fn set_sort(&mut self, key: SortKey) {
        self.sort = key;
        self.rebuild();
    }

    /// Marks or unmarks the row under the cursor; a parent row marks (or unmarks) every
    /// member of its group. Returns how many marks changed.
    pub(crate) fn toggle_mark(&mut self) -> usize {
        let ids: Vec<IncidentId> = match self.rows.get(self.cursor) {
            Some(Row::Single(i) | Row::Member(i)) => vec![self.all[*i].id.clone()],
            Some(Row::Group(g)) => self.groups[*g]
                .iter()
                .map(|&i| self.all[i].id.clone())
                .collect(),
            None => return 0,
        };
        let all_marked = ids.iter().all(|id| self.marks.contains(id));
        for id in &ids {
            if all_marked {
                self.marks.remove(id);
            } else {
                self.marks.insert(id.clone());
            }
        }
        ids.len()
    }

    /// Moves to the next row after the cursor (wrapping) whose incident, or a member of whose
    /// group, is an open, unacknowledged SEV1. False when there is none.
    pub(crate) fn next_unacked_sev1(&mut self) -> bool {
        let n = self.rows.len();
        let hit = |ix: usize| {
            let i = &self.all[ix];
            i.sev == Sev::Sev1 && i.status == crate::domain::Status::Triggered
        };
        let found = (1..=n)
            .map(|d| (self.cursor + d) % n)
            .find(|&pos| match self.rows[pos] {
                Row::Single(i) | Row::Member(i) => hit(i),
                Row::Group(g) => self.groups[g].iter().any(|&i| hit(i)),
            });
        match found {
            Some(pos) => {
                self.cursor = pos;
                self.note_selection();
                true
            }
            None => false,
        }
    }

    /// The grouping rules changed (at start-up).
    pub fn set_grouping(&mut self, rules: GroupSettings) {
        self.grouping = Some(rules);
        self.rebuild();
    }

    /// `rows` from `shown`: a group's parent row where its first member shown would be, its
    /// members under it when expanded, and no row for the other members otherwise.
    fn build_rows(&mut self) {
        let mut rows = std::mem::take(&mut self.rows);
        rows.clear();
        if self.groups.is_empty() {
            rows.extend(self.shown.iter().map(|&i| Row::Single(i)));
        } else {
            let mut placed = vec![false; self.groups.len()];
            for &i in &self.shown {
                let Some(g) = self.group_of(i) else {
                    rows.push(Row::Single(i));
                    continue;
                };
                if placed[g] {
                    continue;
                }
                placed[g] = true;
                rows.push(Row::Group(g));
                let open = self.group_key(g).is_some_and(|k| self.expanded.contains(k));
                if open {
                    // Members shown, in display order.
                    rows.extend(
                        self.shown
                            .iter()
                            .filter(|&&m| self.group_of(m) == Some(g))
                            .map(|&m| Row::Member(m)),
                    );
                }
            }
        }
        self.rows = rows;
        self.keep_selection();
    }

    /// The filter changed.
    pub(crate) fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.apply_filter();
    }

    /// The rows for the current filter: a result already computed for it, else the matches
    /// within the smallest known result the filter narrows, else within `order`.
    fn apply_filter(&mut self) {
        if let Some((_, v)) = self.filtered.iter().find(|(f, _)| *f == self.filter) {
            self.shown = v.clone();
            self.build_rows();
            return;
        }
        let words = filter_words(&self.filter);
        let known = self
            .filtered
            .iter()
            .filter(|(f, _)| narrows(&filter_words(f), &words))
            .min_by_key(|(_, v)| v.len());
        let incidents = &self.all;
        let source = known.map_or(&self.order, |(_, v)| v);
        let shown: Vec<usize> = if words.is_empty() {
            source.clone()
        } else {
            // Matched in memory order, where the incidents and their text were allocated
            // together, then kept in display order: walking tens of thousands of incidents in
            // display order missed the cache on every field.
            let mut keep = vec![false; incidents.len()];
            for &i in source {
                keep[i] = true;
            }
            for (inc, k) in incidents.iter().zip(keep.iter_mut()) {
                *k = *k && matches(inc, &words);
            }
            source.iter().copied().filter(|&i| keep[i]).collect()
        };
        if self.filtered.len() >= FILTERS_KEPT {
            self.filtered.remove(0);
        }
        self.filtered.push((self.filter.clone(), shown.clone()));
        self.shown = shown;
        self.build_rows();
    }

    /// Keeps the selected incident (or its group's parent row) selected when it still shows;
    /// an incident folded into a collapsed group is found on its parent row.
    fn keep_selection(&mut self) {
        // Looked up in memory order, then in the rows: following display order through
        // tens of thousands of incidents misses the cache on every step.
        let ix = self
            .selected_id
            .as_ref()
            .and_then(|id| self.all.iter().position(|i| &i.id == id));
        let group = ix.and_then(|ix| self.group_of(ix));
        let keep = ix.and_then(|ix| {
            let exact = |r: &Row| match (r, group) {
                (Row::Group(g), Some(mine)) => self.selected_group && *g == mine,
                (Row::Single(i) | Row::Member(i), _) => *i == ix && !self.selected_group,
                _ => false,
            };
            let parent = |r: &Row| matches!((r, group), (Row::Group(g), Some(mine)) if *g == mine);
            let member = |r: &Row| matches!(r, Row::Single(i) | Row::Member(i) if *i == ix);
            self.rows
                .iter()
                .position(exact)
                .or_else(|| self.rows.iter().position(member))
                .or_else(|| self.rows.iter().position(parent))
        });
        self.cursor = match keep {
            Some(pos) => pos,
            None => self.cursor.min(self.rows.len().saturating_sub(1)),
        };
        self.note_selection();
    }

    /// What is under the cursor, remembered by id so it stays selected when rows move.
    fn note_selection(&mut self) {
        self.selected_group = matches!(self.rows.get(self.cursor), Some(Row::Group(_)));
        self.selected_id = self.selected().map(|i| i.id.clone());
    }

    pub(crate) fn move_cursor(&mut self, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let last = self.rows.len() as isize - 1;
        self.cursor = (self.cursor as isize + delta).clamp(0, last) as usize;
        self.note_selection();
    }
}

/// Puts `fresh` in the slots of `source`'s incidents, so the other sources' incidents stay
/// where they are (tens of thousands of moves of hundreds of bytes each took longer than a
/// frame); returns the replaced ones. `incidents` has no order of its own: `order` sorts.
fn replace_from(
    incidents: &mut Vec<Incident>,
    source: &str,
    fresh: Vec<Incident>,
) -> Vec<Incident> {
    let mut fresh = fresh.into_iter();
    let mut replaced = Vec::new();
    let mut i = 0;
    while i < incidents.len() {
        if incidents[i].source != source {
            i += 1;
            continue;
        }
        match fresh.next() {
            Some(new) => {
                replaced.push(std::mem::replace(&mut incidents[i], new));
                i += 1;
            }
            // Fewer than before: the last incident fills the hole, checked next.
            None => replaced.push(incidents.swap_remove(i)),
        }
    }
    incidents.extend(fresh);
    replaced
}

/// An open, firing SEV1: what must reach a responder who is looking elsewhere.
fn is_loud_sev1(i: &Incident) -> bool {
    i.sev == Sev::Sev1 && i.is_open() && i.firing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_containment() {
        assert!(contains_lowercase("Support-Bot", "support"));
        assert!(contains_lowercase("SEV1", "sev1"));
        assert!(!contains_lowercase("SEV1", "sev2"));
        assert!(contains_lowercase("ÜBER cost", "über"));
        assert!(contains_lowercase("anything", ""));
        assert!(!contains_lowercase("ab", "abc"));
    }

    #[test]
    fn packed_ranks_keep_their_order() {
        let ranks = [
            (0u8, i64::MIN, 0u32),
            (0, -1, 999_999_999),
            (0, 0, 0),
            (0, 0, 1),
            (0, i64::MAX, u32::MAX),
            (1, i64::MIN, 0),
            (72, 5, 5),
            (u8::MAX, i64::MAX, u32::MAX),
        ];
        for pair in ranks.windows(2) {
            assert!(packed(pair[0]) < packed(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn typing_narrows_and_deleting_widens() {
        let w = |s: &str| filter_words(s);
        assert!(narrows(&w("sev"), &w("sev1")));
        assert!(narrows(&w("sev1"), &w("sev1 sup")));
        assert!(narrows(&w(""), &w("x")));
        assert!(!narrows(&w("sev1"), &w("sev")));
        assert!(!narrows(&w("sev1 sup"), &w("sev1")));
        assert!(!narrows(&w("cost"), &w("drift")));
    }
}
