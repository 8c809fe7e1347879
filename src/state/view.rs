//! The derived incident view: sort order and filter.

use super::State;
use crate::domain::Incident;

/// Every word of the filter must appear (case-insensitively) in one of the row's fields.
pub fn matches(inc: &Incident, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    let hay = format!(
        "{} {} {} {} {} {}",
        inc.sev,
        inc.kind.short(),
        inc.feature,
        inc.status.short(),
        inc.id,
        inc.title
    )
    .to_lowercase();
    words.iter().all(|w| hay.contains(w.as_str()))
}

impl State {
    /// Re-sorts, re-filters and keeps the same incident selected when it still shows.
    pub(crate) fn rebuild_view(&mut self) {
        let words: Vec<String> = self
            .filter
            .split_whitespace()
            .map(|w| w.to_lowercase())
            .collect();
        let incidents = &self.incidents;
        self.open_by_sev = [0; 4];
        for i in incidents.iter().filter(|i| i.is_open()) {
            self.open_by_sev[usize::from(i.sev.number() - 1)] += 1;
        }
        let mut view: Vec<usize> = (0..incidents.len())
            .filter(|&i| matches(&incidents[i], &words))
            .collect();
        // Sorted by compact keys read once, not by moving incidents (hundreds of bytes each)
        // or chasing them through memory on each of 10,000 x log 10,000 comparisons.
        let mut keyed: Vec<_> = view
            .iter()
            .map(|&i| (incidents[i].urgency_rank(), i))
            .collect();
        // Unstable is fine: ids are unique, so no two incidents compare equal.
        keyed.sort_unstable_by(|(ka, a), (kb, b)| {
            ka.cmp(kb)
                .then_with(|| incidents[*a].id.cmp(&incidents[*b].id))
        });
        view.clear();
        view.extend(keyed.into_iter().map(|(_, i)| i));
        self.view = view;
        // Looked up in memory order, then in the view: following the view's order through
        // 10,000 incidents misses the cache on every step.
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
