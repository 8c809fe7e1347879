//! The incidents part: every incident held, their display order, the filter, the cursor.
//!
//! Tens of thousands of incidents must stay within a frame's budget, so order and filter
//! change separately: all incidents are sorted once when their data changes (`order`), and a
//! filter keystroke only walks that order, or the smallest earlier result the new filter
//! narrows (typing on adds letters or words: nothing outside that result can start matching;
//! deleting goes back to a filter already seen, whose result is kept until the incidents
//! change).

use crate::domain::{Incident, IncidentId, Sev};
use std::collections::HashSet;

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
    /// Position in `shown`.
    pub cursor: usize,
    pub selected_id: Option<IncidentId>,
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
    pub fn selected(&self) -> Option<&Incident> {
        self.shown.get(self.cursor).and_then(|&i| self.all.get(i))
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
        self.order = order;
        self.filtered.clear();
        self.apply_filter();
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
            self.keep_selection();
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
        self.keep_selection();
    }

    /// Keeps the selected incident selected when it still shows.
    fn keep_selection(&mut self) {
        // Looked up in memory order, then in the rows: following display order through
        // tens of thousands of incidents misses the cache on every step.
        let keep = self
            .selected_id
            .as_ref()
            .and_then(|id| self.all.iter().position(|i| &i.id == id))
            .and_then(|ix| self.shown.iter().position(|&i| i == ix));
        self.cursor = match keep {
            Some(pos) => pos,
            None => self.cursor.min(self.shown.len().saturating_sub(1)),
        };
        self.selected_id = self.selected().map(|i| i.id.clone());
    }

    pub(crate) fn move_cursor(&mut self, delta: isize) {
        if self.shown.is_empty() {
            return;
        }
        let last = self.shown.len() as isize - 1;
        self.cursor = (self.cursor as isize + delta).clamp(0, last) as usize;
        self.selected_id = self.selected().map(|i| i.id.clone());
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
