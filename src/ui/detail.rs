//! The selected incident in full: why it fired, what to do, what has happened since. The same
//! lines make the detail pane (as many as fit, then how many more and the key that shows them)
//! and the full-screen describe view, which scrolls through all of them.

use super::format::{age, countdown};
use super::{first_key, pane, Ctx};
use crate::config::keymap::ActionName;
use crate::config::keymap::Mode;
use crate::config::theme::ThemeRole;
use crate::domain::command::{Command, IncidentOp};
use crate::domain::text::wrap;
use crate::domain::{FeatureInfo, Incident};
use crate::state::changes::relative;
use crate::state::{ActionStatus, State, Verdict};
use chrono::Duration;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// Width of the label column ("evidence  ").
const LABEL: usize = 10;

/// Lines under construction, wrapped to a width as they are added.
struct Lines<'a> {
    out: Vec<Line<'a>>,
    width: usize,
    label_style: Style,
}

impl<'a> Lines<'a> {
    /// `label` in the label column, `text` wrapped beside it and under itself.
    fn field(&mut self, label: &str, text: &str, style: Style) {
        let text_w = self.width.saturating_sub(LABEL).max(1);
        for (n, r) in wrap(text, text_w).into_iter().enumerate() {
            let head = if n == 0 { label } else { "" };
            self.out.push(Line::from(vec![
                Span::styled(format!("{head:<LABEL$}"), self.label_style),
                Span::styled(text[r].to_string(), style),
            ]));
        }
    }

    /// `text` wrapped to the full width, the first line starting with `lead`.
    fn text(&mut self, lead: Option<Span<'a>>, text: &str, style: Style) {
        let lead_w = lead.as_ref().map_or(0, |s| s.width());
        for (n, r) in wrap(text, self.width.saturating_sub(lead_w).max(1))
            .into_iter()
            .enumerate()
        {
            let mut spans = Vec::new();
            match (&lead, n) {
                (Some(l), 0) => spans.push(l.clone()),
                (Some(_), _) => spans.push(Span::raw(" ".repeat(lead_w))),
                _ => {}
            }
            spans.push(Span::styled(text[r].to_string(), style));
            self.out.push(Line::from(spans));
        }
    }

    fn heading(&mut self, text: &str, style: Style) {
        self.out.push(Line::styled(text.to_string(), style));
    }
}

/// Every line about `inc` at `width` columns. `full` adds each runbook answer (the pane shows
/// only the progress). Without a render context the lines are only counted (to bound scrolling): no
/// styles, and a one-column stand-in for key names.
pub fn lines<'a>(
    state: &State,
    inc: &Incident,
    ctx: Option<&Ctx>,
    width: usize,
    full: bool,
) -> Vec<Line<'a>> {
    let style = |role: ThemeRole| ctx.map(|c| c.theme.style(role)).unwrap_or_default();
    let key = |a: ActionName| {
        ctx.map(|c| first_key(c, Mode::Normal, a))
            .unwrap_or_else(|| "_".into())
    };
    let muted = style(ThemeRole::Muted);
    let base = style(ThemeRole::Base);
    let mut l = Lines {
        out: Vec::new(),
        width: width.max(LABEL + 1),
        label_style: muted,
    };
    l.text(
        Some(Span::styled(
            format!("{} ", inc.sev),
            style(ThemeRole::sev(inc.sev)),
        )),
        inc.title.as_str(),
        base,
    );
    l.field(
        "type",
        &format!("{} · {}", inc.kind.label(), inc.feature),
        base,
    );
    let status = match (&inc.acked_by, inc.seconds_left(state.now)) {
        _ if !inc.firing && inc.is_open() => format!(
            "{} · recovered: the signal is back within its threshold · {} to resolve",
            inc.status.short(),
            key(ActionName::Resolve)
        ),
        (Some(by), _) => format!("{} by {by}", inc.status.short()),
        // Contained: the signal is back inside its band, so the response countdown is not
        // what matters any more; recovery (and resolving) is.
        (None, Some(_)) if state.incidents.contained.contains(&inc.id) => format!(
            "{} · contained · {} to resolve once it recovers",
            inc.status.short(),
            key(ActionName::Resolve)
        ),
        (None, Some(s)) if s < 0 => {
            format!("{} · OVERDUE by {}", inc.status.short(), countdown(-s))
        }
        (None, Some(s)) => {
            let why = state
                .respond
                .explain(inc.sev, inc.respond_by)
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            format!(
                "{} · respond within {}{why}",
                inc.status.short(),
                countdown(s)
            )
        }
        (None, None) => inc.status.short().to_string(),
    };
    l.field("status", &status, base);
    l.field(
        "opened",
        &format!(
            "{} ({} ago) · level {} · {}",
            inc.triggered_at.format("%H:%M:%S"),
            age(state.now - inc.triggered_at),
            inc.escalation_level + 1,
            if inc.firing {
                "firing"
            } else {
                "signal recovered"
            }
        ),
        base,
    );
    l.field(
        "on call",
        &crate::state::oncall::summary(state, inc, age),
        base,
    );
    let roles = state.responders.roles_of(&inc.id);
    if !roles.is_empty() {
        let roles: Vec<String> = roles.iter().map(|(r, n)| format!("{r} {n}")).collect();
        l.field("roles", &roles.join(" · "), base);
    }
    if let Some(due) = crate::state::responders::next_update_due(state, inc) {
        let left = (due - state.now).num_seconds();
        let sent = match crate::state::responders::last_update(state, inc) {
            Some(at) => format!("last sent {} ago", age(state.now - at)),
            None => "none sent yet".to_string(),
        };
        let key = key(ActionName::StatusUpdate);
        if left < 0 {
            l.field(
                "update",
                &format!(
                    "status update OVERDUE by {} · {sent} · {key} sends one",
                    countdown(-left)
                ),
                style(ThemeRole::Overdue),
            );
        } else {
            l.field(
                "update",
                &format!("next update due in {} · {sent}", countdown(left)),
                base,
            );
        }
    }
    if !full {
        change_lines(
            &mut l,
            state,
            inc,
            false,
            base,
            muted,
            style(ThemeRole::Warn),
        );
    }
    if let Some(doubt) = source_doubt(state, &inc.source) {
        l.field("source", &doubt, style(ThemeRole::Stale));
    }
    for line in group_lines(state, inc) {
        l.field("group", &line, style(ThemeRole::Group));
    }
    if state.incidents.marks.contains(&inc.id) {
        l.field(
            "marked",
            "for the next bulk action (esc clears the marks)",
            style(ThemeRole::Marked),
        );
    }
    // Before the evidence: at 80x24 the evidence fills the pane, and what the levers are set
    // to decides the next move.
    if let Some(info) = state.feature_info(inc.feature.as_str()) {
        l.field("levers", &levers(info, state), base);
    }
    // Whether the last lever worked decides the next move, so it goes before the evidence.
    let watch = state.containment.watch(&inc.id);
    if let Some(w) = watch {
        let role = match w.verdict {
            Verdict::Containing => ThemeRole::Containing,
            Verdict::Contained { .. } => ThemeRole::Contained,
            Verdict::NotContained { .. } => ThemeRole::NotContained,
        };
        l.field("lever", &w.line(state.now, state), style(role));
    }
    if inc.kind == crate::domain::IncidentType::CostExplosion && inc.firing {
        if let Some(line) = burn_line(state, inc) {
            l.field("burn", &line, style(ThemeRole::Warn));
        }
    }
    for e in &inc.evidence {
        l.field("evidence", e.as_str(), base);
    }
    l.field("contain", inc.kind.containment(), style(ThemeRole::Key));
    // What the source cannot do, before the change timeline's own section.
    for ((source, op), why) in &state.sources.unsupported {
        if *source == inc.source {
            l.field("n/a", &format!("{op}: {why}"), muted);
        }
    }
    if full {
        change_lines(
            &mut l,
            state,
            inc,
            true,
            base,
            muted,
            style(ThemeRole::Warn),
        );
    }
    if let Some(rb) = state.runbooks.get(&inc.id) {
        let (done, total) = rb.progress();
        l.field(
            "runbook",
            &format!("{done}/{total} answers confirmed"),
            base,
        );
        if full {
            for (q, a) in rb.questions.iter().zip(&rb.answers) {
                let mark = if a.confirmed {
                    "✓ "
                } else if a.prefilled {
                    "? "
                } else {
                    "· "
                };
                l.field("", &format!("{mark}{}", q.text), base);
                let answer = if a.text.is_empty() { "—" } else { &a.text };
                l.field("", &format!("  {answer}"), muted);
            }
        }
    }
    let notes = notes(state, inc);
    if !notes.is_empty() {
        l.heading("notes from this cockpit", style(ThemeRole::Header));
        for (at, status, text) in notes {
            for (n, line) in text.lines().enumerate() {
                let head = if n == 0 {
                    format!("{} {status}", at.format("%H:%M:%S"))
                } else {
                    String::new()
                };
                l.text(Some(Span::styled(format!("{head:<17}"), muted)), line, base);
            }
        }
    }
    l.heading("timeline", style(ThemeRole::Header));
    // Newest first: at 80x24 only the latest few entries fit. What the containment watch saw
    // is merged in: the incident itself is its source's, replaced on every poll.
    let mut timeline: Vec<&crate::domain::TimelineEntry> = inc.timeline.iter().collect();
    timeline.extend(watch.iter().flat_map(|w| w.events.iter()));
    timeline.sort_by_key(|t| t.at);
    for t in timeline.iter().rev() {
        l.text(
            Some(Span::styled(format!("{} ", t.at.format("%H:%M:%S")), muted)),
            t.text.as_str(),
            base,
        );
    }
    l.out
}

/// What changed before the onset. The pane shows the change the runbook's layer suggestion
/// rests on (the last one before onset) and how many more there are; the describe view the
/// whole timeline, −2h … now, and every source whose history could not be read, since its
/// silence is then no evidence that nothing changed.
fn change_lines(
    l: &mut Lines,
    state: &State,
    inc: &Incident,
    full: bool,
    base: Style,
    muted: Style,
    warn: Style,
) {
    let onset = inc.triggered_at;
    let timeline = state.changes.around(inc, state.now);
    let line = |c: &crate::domain::change::Change| {
        format!("{} {} ({})", relative(c.at, onset), c.what, c.origin)
    };
    if !full {
        let Some(cause) = state.changes.suggest(inc, state.now) else {
            return;
        };
        let more = timeline.entries.len().saturating_sub(1);
        let tail = if more > 0 {
            format!(" · {more} more in describe")
        } else {
            String::new()
        };
        l.field("changed", &format!("{}{tail}", line(cause.change)), base);
        return;
    }
    l.heading(
        &format!(
            "what changed (−{}h … now, relative to onset {})",
            crate::state::changes::LOOKBACK_MINS / 60,
            onset.format("%H:%M")
        ),
        muted,
    );
    if timeline.entries.is_empty() {
        l.field("", "no change seen on this feature", muted);
    }
    for c in &timeline.entries {
        let style = if c.at <= onset { base } else { muted };
        l.field(c.layer.short(), &line(c), style);
    }
    for (source, why) in &timeline.failures {
        l.field("n/a", &format!("{source}: history not read: {why}"), warn);
    }
}

/// The group `inc` belongs to, one line for the group and one per member: its status and
/// the outcome of the last action the cockpit sent it as part of a set.
fn group_lines(state: &State, inc: &Incident) -> Vec<String> {
    let list = &state.incidents;
    let Some(g) = list
        .all
        .iter()
        .position(|i| i.id == inc.id)
        .and_then(|ix| list.group_of(ix))
    else {
        return Vec::new();
    };
    let members: Vec<&Incident> = list.groups[g].iter().map(|&i| &list.all[i]).collect();
    let mut kinds: Vec<&str> = Vec::new();
    for m in &members {
        if !kinds.contains(&m.kind.short()) {
            kinds.push(m.kind.short());
        }
    }
    let first = members
        .iter()
        .map(|m| m.triggered_at)
        .min()
        .unwrap_or(inc.triggered_at);
    let mut out = vec![format!(
        "one of {} incidents likely of one cause: {} on {}, first onset {} ({} ago); keys on the \
         group's row act on all of them",
        members.len(),
        kinds.join(" + "),
        inc.feature,
        first.format("%H:%M:%S"),
        age(state.now - first)
    )];
    for m in members {
        let outcome = state
            .bulk
            .batches
            .iter()
            .rev()
            .find_map(|b| {
                b.members
                    .iter()
                    .find(|x| x.1 == m.id)
                    .map(|(_, _, r)| match r {
                        None => format!(" · {} pending", b.label),
                        Some(Ok(())) => format!(" · {} ✓", b.label),
                        Some(Err(e)) => format!(" · {} ✗ {e}", b.label),
                    })
            })
            .unwrap_or_default();
        let this = if m.id == inc.id { " (this one)" } else { "" };
        out.push(format!(
            "{} {} {} {}{this}{outcome}",
            m.sev,
            m.status.short(),
            m.kind.short(),
            m.id
        ));
    }
    out
}

/// Notes sent from this cockpit on `inc`, oldest first, with whether they landed.
fn notes<'s>(
    state: &'s State,
    inc: &Incident,
) -> Vec<(chrono::DateTime<chrono::Utc>, &'s str, &'s str)> {
    state
        .actions
        .tracked
        .iter()
        .filter_map(|a| match &a.command {
            Command::Incident {
                id,
                op: IncidentOp::Note(text),
                ..
            } if *id == inc.id => {
                let status = match a.status {
                    ActionStatus::Pending => "sending",
                    ActionStatus::Succeeded(_) => "sent",
                    ActionStatus::Failed(_) => "FAILED",
                };
                Some((a.at, status, text.as_str()))
            }
            _ => None,
        })
        .collect()
}

/// Why what the screen shows of `source` may no longer be true, if it may not.
pub fn source_doubt(state: &State, source: &str) -> Option<String> {
    let roles: Vec<_> = state
        .sources
        .list
        .iter()
        .filter(|s| s.name == source)
        .collect();
    let data_age = |s: &crate::state::SourceStatus| {
        s.age_secs(state.now)
            .map(|a| format!("data {} old", age(Duration::seconds(a))))
            .unwrap_or_else(|| "no data yet".into())
    };
    if let Some(f) = roles.iter().find(|s| s.failing()) {
        let err = f.last_error.as_ref().map(|(_, e)| e.as_str()).unwrap_or("");
        return Some(format!("{source} FAILING: {err} · {}", data_age(f)));
    }
    roles
        .iter()
        .find(|s| s.is_stale(state.now))
        .map(|s| format!("{source} STALE · {}", data_age(s)))
}

pub fn render(frame: &mut Frame, area: Rect, ctx: &Ctx) {
    let state = ctx.state;
    let theme = ctx.theme;
    let Some(inc) = state.selected() else {
        let block = pane(" Detail ".into(), theme);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new(Line::styled(
                "Select an incident.",
                theme.style(ThemeRole::Muted),
            )),
            inner,
        );
        return;
    };
    let block = pane(format!(" {} ", inc.id), theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = lines(state, inc, Some(ctx), usize::from(inner.width), false);
    let rows = usize::from(inner.height);
    if lines.len() > rows && rows > 0 {
        // What does not fit is one key away, and the pane says so instead of ending mid-way.
        let more = lines.len() - (rows - 1);
        lines.truncate(rows - 1);
        lines.push(Line::from(vec![
            Span::styled(
                format!("… {more} more lines: "),
                theme.style(ThemeRole::Muted),
            ),
            Span::styled(
                first_key(ctx, Mode::Normal, ActionName::Describe),
                theme.style(ThemeRole::Key),
            ),
            Span::styled(" shows them all", theme.style(ThemeRole::Muted)),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The feature's prompt version, kill switches and moved levers as the flag system serves
/// them, so the responder sees what a rollback would change and what is already pulled.
fn levers(info: &FeatureInfo, state: &State) -> String {
    let mut out = format!(
        "prompt {}",
        info.current_prompt.as_deref().unwrap_or("unknown")
    );
    if let Some(t) = info.prompt_changed_at {
        let when = if state.now - t < chrono::Duration::hours(20) {
            t.format("%H:%M")
        } else {
            t.format("%b %d %H:%M")
        };
        out.push_str(&format!(" since {when} ({} ago)", age(state.now - t)));
    }
    if let Some(lkg) = &info.last_known_good_prompt {
        if Some(lkg) != info.current_prompt.as_ref() {
            out.push_str(&format!(" · last good {lkg}"));
        }
    }
    out.push_str(&match info.killed.as_slice() {
        [] => " · kill switch off".to_string(),
        k => format!(" · KILLED {}", k.join(",")),
    });
    // The settable levers someone moved (a previous setting recorded, or a segment served
    // otherwise): what is already pulled; the rest is in the levers panel.
    for l in info
        .levers
        .iter()
        .filter(|l| l.previous.is_some() || !l.segments.is_empty())
    {
        out.push_str(&format!(" · {} {}", l.lever.key(), l.current));
        for (segment, variant) in &l.segments {
            out.push_str(&format!(", {segment} {variant}"));
        }
    }
    if let Some(src) = &info.flag_source {
        out.push_str(&format!(" · {src}"));
    }
    if let Some(src) = &info.prompt_source {
        out.push_str(&format!(" · prompts in {src}"));
    }
    out
}

/// The cost-burn clock of a cost incident: how fast this has to happen, in dollars.
fn burn_line(state: &State, inc: &Incident) -> Option<String> {
    use crate::domain::burn::{clock, RunsOut, Series};
    let sig = state.signals.merged.signals.iter().find(|s| {
        s.feature == inc.feature.as_str() && s.kind == crate::domain::SignalKind::CostPerMin
    })?;
    let end = sig.end.or(state.signals.merged.at).unwrap_or(state.now);
    let cost = &state.containment.cost;
    let budget = cost.budget(inc.feature.as_str());
    let c = clock(
        Series {
            points: &sig.points,
            step_secs: sig.step_secs,
            end,
        },
        inc.triggered_at,
        state.now,
        budget,
        cost.day_utc_offset_minutes.get(),
    )?;
    let usd = |v: f64| format!("${v:.0}");
    let floor = |partial: bool| if partial { "≥" } else { "" };
    let mut out = format!(
        "spent {}{} since onset · now ${:.2}/min · next hour {} · today {}{} at this rate",
        floor(c.onset_partial),
        usd(c.since_onset),
        c.per_min,
        usd(c.next_hour),
        floor(c.day_partial),
        usd(c.by_end_of_day)
    );
    if let (Some(b), Some(r)) = (budget, c.runs_out) {
        out.push_str(&format!(" · budget {}/day ", usd(b)));
        out.push_str(&match r {
            RunsOut::Spent => "ALREADY SPENT".to_string(),
            RunsOut::At(t) => format!("runs out {} (in {})", t.format("%H:%M"), age(t - state.now)),
            RunsOut::NotToday => "lasts the day at this rate".to_string(),
        });
    }
    Some(out)
}
