//! The `:` command line, as in k9s and vim: the list's keys by name (`:ack`, `:resolve`,
//! `:note`, `:escalate`, `:request`, `:update`, `:merge`), snoozing and reassigning with or
//! without the chooser (`:snooze 1h`, `:reassign Jane Doe`), the response's roles (`:role
//! commander Jane Doe`), views of the list (`:sev1`, `:feature support-bot`, `:sort age`,
//! `:all`) and `:q`. Tab completes a command or its argument; up and down walk the commands
//! typed this session. An unknown command says so and lists the known ones.

use super::incidents::SortKey;
use super::{update, Effect, FlashLevel, State};
use crate::action::Action;
use crate::domain::command::SnoozeFor;
use crate::domain::responders::Role;

/// Commands kept in the session's history.
const HISTORY_KEPT: usize = 100;

/// Every command, with what it takes, for completion and the unknown-command message.
pub const COMMANDS: [&str; 19] = [
    "ack", "resolve", "note", "escalate", "request", "update", "merge", "snooze", "reassign",
    "role", "sev1", "sev2", "sev3", "sev4", "feature", "sort", "all", "q", "quit",
];

#[derive(Debug, Default)]
pub struct CommandLine {
    /// Commands run this session, oldest first, each once (run again, it moves to the end).
    pub history: Vec<String>,
    /// Where up / down are in the history while the line is open: `history.len()` is the
    /// line being typed.
    pub pos: usize,
}

/// Runs one command line; the footer says what it did or why it did nothing.
pub(super) fn run(state: &mut State, line: &str) -> Vec<Effect> {
    let line = line.trim().trim_start_matches(':').trim();
    if line.is_empty() {
        return vec![];
    }
    let h = &mut state.command_line.history;
    h.retain(|l| l != line);
    h.push(line.to_string());
    if h.len() > HISTORY_KEPT {
        h.remove(0);
    }
    let mut words = line.split_whitespace();
    let cmd = words.next().unwrap_or_default().to_lowercase();
    let arg: Vec<&str> = words.collect();
    let arg = arg.join(" ");
    match (cmd.as_str(), arg.as_str()) {
        ("ack", "") => update(state, Action::Ack),
        ("resolve", "") => update(state, Action::Resolve),
        ("note", "") => update(state, Action::Note),
        ("escalate", "") => update(state, Action::Escalate),
        ("request", "") => update(state, Action::RequestResponders),
        ("update", "") => update(state, Action::StatusUpdate),
        ("merge", "") => update(state, Action::Merge),
        ("snooze", "") => update(state, Action::Snooze),
        ("snooze", d) => match SnoozeFor::parse(d) {
            Ok(d) => super::snooze::open(state, Some(d)),
            Err(why) => {
                state.say(FlashLevel::Warn, format!(":{why}"));
                vec![]
            }
        },
        ("reassign", "") => update(state, Action::Reassign),
        ("reassign", name) => super::reassign::open(state, Some(name)),
        ("role", arg) => match arg.split_once(' ') {
            Some((role, name)) => super::responders::set_role(state, role, name),
            None => super::responders::set_role(state, arg, ""),
        },
        ("q" | "quit", "") => update(state, Action::Quit),
        ("sev1" | "sev2" | "sev3" | "sev4", "") => {
            state.incidents.set_filter(cmd.clone());
            state.say(
                FlashLevel::Info,
                format!(
                    "showing {} only (:all shows everything)",
                    cmd.to_uppercase()
                ),
            );
            vec![]
        }
        ("feature", f) if !f.is_empty() => {
            state.incidents.set_filter(f.to_string());
            state.say(
                FlashLevel::Info,
                format!("showing {f} only (:all shows everything)"),
            );
            vec![]
        }
        ("all", "") => {
            state.incidents.set_filter(String::new());
            vec![]
        }
        ("sort", key) => match SortKey::from_name(&key.to_lowercase()) {
            Some(k) => {
                state.incidents.set_sort(k);
                state.say(FlashLevel::Info, format!("sorted by {}", k.name()));
                vec![]
            }
            None => {
                let keys: Vec<&str> = SortKey::ALL.iter().map(|k| k.name()).collect();
                state.say(
                    FlashLevel::Warn,
                    format!(":sort takes one of {}, not \"{key}\"", keys.join(", ")),
                );
                vec![]
            }
        },
        ("feature", _) => {
            state.say(
                FlashLevel::Warn,
                ":feature needs a name (tab completes it)".into(),
            );
            vec![]
        }
        _ if COMMANDS.contains(&cmd.as_str()) => {
            state.say(
                FlashLevel::Warn,
                format!(":{cmd} takes no argument (\"{arg}\")"),
            );
            vec![]
        }
        _ => {
            state.say(
                FlashLevel::Warn,
                format!("unknown command :{cmd} (known: {})", COMMANDS.join(" ")),
            );
            vec![]
        }
    }
}

/// What tab makes of `line`: the command, or the argument of `:feature` / `:sort`, completed
/// to the longest prefix the candidates share (with a space after a whole command that takes
/// an argument). None when nothing matches.
pub fn complete(line: &str, features: &[String]) -> Option<String> {
    let (cmd, arg) = match line.split_once(' ') {
        Some((c, a)) => (c, Some(a.trim_start())),
        None => (line, None),
    };
    match arg {
        None => {
            let hits: Vec<&str> = COMMANDS
                .iter()
                .copied()
                .filter(|c| c.starts_with(cmd))
                .collect();
            let done = common_prefix(&hits)?;
            let whole = hits.len() == 1 && matches!(done.as_str(), "feature" | "sort" | "role");
            Some(if whole { format!("{done} ") } else { done })
        }
        Some(arg) => {
            let sort_keys: Vec<String> =
                SortKey::ALL.iter().map(|k| k.name().to_string()).collect();
            let roles: Vec<String> = Role::ALL.iter().map(|r| r.name().to_string()).collect();
            let durations: Vec<String> = SnoozeFor::CHOICES.iter().map(|d| d.to_string()).collect();
            let pool: &[String] = match cmd {
                "feature" => features,
                "sort" => &sort_keys,
                "snooze" => &durations,
                // The role; the name after it is the responder's to type.
                "role" if !arg.contains(' ') => &roles,
                _ => return None,
            };
            let hits: Vec<&str> = pool
                .iter()
                .map(String::as_str)
                .filter(|f| f.starts_with(arg))
                .collect();
            Some(format!("{cmd} {}", common_prefix(&hits)?))
        }
    }
}

fn common_prefix(words: &[&str]) -> Option<String> {
    let first = words.first()?;
    let mut len = first.len();
    for w in &words[1..] {
        len = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(len);
    }
    Some(first[..len].to_string())
}

/// The features tab can complete: those with signals and those with incidents.
pub(super) fn features(state: &State) -> Vec<String> {
    let mut f: Vec<String> = state
        .signals
        .merged
        .features
        .iter()
        .map(|f| f.name.clone())
        .chain(state.incidents.all.iter().map(|i| i.feature.to_string()))
        .collect();
    f.sort();
    f.dedup();
    f
}

/// Up (`back`) or down through the history: the line to show, if the history moves.
pub(super) fn recall(state: &mut State, back: bool) -> Option<String> {
    let cl = &mut state.command_line;
    let len = cl.history.len();
    let pos = cl.pos.min(len);
    let next = match back {
        true if pos > 0 => pos - 1,
        false if pos < len => pos + 1,
        _ => return None,
    };
    cl.pos = next;
    Some(cl.history.get(next).cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feats() -> Vec<String> {
        vec![
            "summarizer".into(),
            "support-bot".into(),
            "triage-agent".into(),
        ]
    }

    #[test]
    fn tab_completes_commands_and_their_arguments() {
        assert_eq!(complete("ac", &feats()).as_deref(), Some("ack"));
        assert_eq!(complete("fe", &feats()).as_deref(), Some("feature "));
        assert_eq!(complete("so", &feats()).as_deref(), Some("sort "));
        assert_eq!(complete("sort a", &feats()).as_deref(), Some("sort age"));
        assert_eq!(
            complete("feature su", &feats()).as_deref(),
            Some("feature su")
        );
        assert_eq!(
            complete("feature sup", &feats()).as_deref(),
            Some("feature support-bot")
        );
        assert_eq!(complete("sev", &feats()).as_deref(), Some("sev"));
        assert_eq!(complete("ro", &feats()).as_deref(), Some("role "));
        assert_eq!(complete("role co", &feats()).as_deref(), Some("role comm"));
        assert_eq!(
            complete("role comma", &feats()).as_deref(),
            Some("role commander")
        );
        assert_eq!(complete("role scribe J", &feats()), None);
        assert_eq!(complete("zzz", &feats()), None);
        assert_eq!(complete("feature x", &feats()), None);
    }

    #[test]
    fn the_common_prefix_stops_at_the_first_difference() {
        assert_eq!(
            common_prefix(&["resolve", "resume"]).as_deref(),
            Some("res")
        );
        assert_eq!(common_prefix(&["ab"]).as_deref(), Some("ab"));
        assert_eq!(common_prefix(&["é1", "é2"]).as_deref(), Some("é"));
        assert_eq!(common_prefix(&["x", "y"]).as_deref(), Some(""));
        assert_eq!(common_prefix(&[]), None);
    }
}
