//! Compact human formatting for narrow terminals.

use chrono::Duration;

/// "45s", "12m", "3h05m", "2d4h".
pub fn age(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The age of a value shown in place of a current one: "37s", "1m37s", then as `age`.
/// Seconds matter under an hour: a minute-old rate and a two-minute-old one are not the
/// same reading.
pub fn value_age(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => age(d),
    }
}

/// Time left to respond: "14:59" under an hour, "3h59m" beyond, "-02:13" when overdue.
pub fn countdown(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.abs();
    if s >= 3600 {
        format!("{sign}{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{sign}{:02}:{:02}", s / 60, s % 60)
    }
}

/// Cuts to `width` terminal columns with an ellipsis, so a long title never wraps a table row.
pub fn fit(s: &str, width: usize) -> String {
    crate::domain::text::fit(s, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(countdown(899), "14:59");
        assert_eq!(countdown(-133), "-02:13");
        assert_eq!(countdown(4 * 3600 - 60), "3h59m");
        assert_eq!(age(Duration::seconds(45)), "45s");
        assert_eq!(age(Duration::seconds(3 * 3600 + 300)), "3h05m");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
