//! The derived incident view: sort order and filter.
//!
//! Tens of thousands of incidents must stay within a frame's budget, so the two change
//! separately: all incidents are sorted once when their data changes (`order`), and a filter
//! keystroke only walks that order, or the smallest earlier view the new filter narrows
//! (typing on adds letters or words: nothing outside that view can start matching; deleting
//! goes back to a filter already seen, whose view is kept until the incidents change).

use super::State;
use crate::domain::Incident;

/// Views of filters typed since the incidents last changed: enough for deleting back through
/// a long filter without scanning everything again.
const FILTER_VIEWS_KEPT: usize = 16;

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

impl State {
    /// After the incidents changed: re-sorts all of them, re-filters, and keeps the same
    /// incident selected when it still shows.
    pub(crate) fn rebuild_view(&mut self) {
        let incidents = &self.incidents;
        self.open_by_sev = [0; 4];
        for i in incidents.iter().filter(|i| i.is_open()) {
            self.open_by_sev[usize::from(i.sev.number() - 1)] += 1;
        }
        // Sorted by one integer per incident, read in memory order, not by moving incidents
        // (hundreds of bytes each) or chasing them through memory on each of n log n
        // comparisons; then only runs of equal urgency are ordered by id.
        let mut keyed: Vec<(u128, usize)> = incidents
            .iter()
            .enumerate()
            .map(|(i, inc)| (packed(inc.urgency_rank()), i))
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
        self.filter_views.clear();
        self.apply_filter();
    }

    /// After only the filter changed.
    pub(crate) fn refilter_view(&mut self) {
        self.apply_filter();
    }

    /// The view for the current filter: a view already computed for it, else the matches
    /// within the smallest known view the filter narrows, else within `order`.
    fn apply_filter(&mut self) {
        if let Some((_, v)) = self.filter_views.iter().find(|(f, _)| *f == self.filter) {
            self.view = v.clone();
            self.keep_selection();
            return;
        }
        let words = filter_words(&self.filter);
        let known = self
            .filter_views
            .iter()
            .filter(|(f, _)| narrows(&filter_words(f), &words))
            .min_by_key(|(_, v)| v.len());
        let incidents = &self.incidents;
        let source = known.map_or(&self.order, |(_, v)| v);
        let view: Vec<usize> = if words.is_empty() {
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
        if self.filter_views.len() >= FILTER_VIEWS_KEPT {
            self.filter_views.remove(0);
        }
        self.filter_views.push((self.filter.clone(), view.clone()));
        self.view = view;
        self.keep_selection();
    }

    /// Keeps the selected incident selected when it still shows.
    fn keep_selection(&mut self) {
        // Looked up in memory order, then in the view: following the view's order through
        // tens of thousands of incidents misses the cache on every step.
        let keep = self
            .selected_id
            .as_ref()
            .and_then(|id| self.incidents.iter().position(|i| &i.id == id))
            .and_then(|ix| self.view.iter().position(|&i| i == ix));
        self.cursor = match keep {
            Some(pos) => pos,
            None => self.cursor.min(self.view.len().saturating_sub(1)),
        };
        self.selected_id = self.selected().map(|i| i.id.clone());
    }

    pub(crate) fn move_cursor(&mut self, delta: isize) {
        if self.view.is_empty() {
            return;
        }
        let last = self.view.len() as isize - 1;
        self.cursor = (self.cursor as isize + delta).clamp(0, last) as usize;
        self.selected_id = self.selected().map(|i| i.id.clone());
    }
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
