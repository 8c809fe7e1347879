//! The derived incident view: sort order and filter.

use super::State;
use crate::domain::{Incident, Status};
use std::cmp::Ordering;

fn status_rank(s: Status) -> u8 {
    match s {
        Status::Triggered => 0,
        Status::Acknowledged => 1,
        Status::Resolved => 2,
    }
}

/// Open before resolved, worst SEV first, unacknowledged before acknowledged, then the
/// nearest deadline: the row at the top is the one to act on.
pub fn compare(a: &Incident, b: &Incident) -> Ordering {
    (a.status == Status::Resolved)
        .cmp(&(b.status == Status::Resolved))
        .then(a.sev.cmp(&b.sev))
        .then(status_rank(a.status).cmp(&status_rank(b.status)))
        .then(a.respond_by.cmp(&b.respond_by))
        .then(a.id.cmp(&b.id))
}

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
        self.incidents.sort_by(compare);
        let words: Vec<String> = self
            .filter
            .split_whitespace()
            .map(|w| w.to_lowercase())
            .collect();
        self.view = (0..self.incidents.len())
            .filter(|&i| matches(&self.incidents[i], &words))
            .collect();
        let keep = self
            .selected_id
            .as_ref()
            .and_then(|id| self.view.iter().position(|&i| &self.incidents[i].id == id));
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
