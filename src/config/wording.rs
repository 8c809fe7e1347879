//! How the config check words what it finds: serde's messages as a responder reads them
//! ("expected …, found …", keys rather than fields), and the near miss an unknown name was
//! probably meant to be.

use toml::de::DeValue;

pub(super) fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// The first of `keys` that `msg` names as a word, e.g. `url` in "url \"x\" is not …".
pub(super) fn key_named_in(msg: &str, keys: &[String]) -> Option<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    keys.iter()
        .filter_map(|k| {
            msg.match_indices(k.as_str())
                .find(|(i, _)| {
                    let before = msg[..*i].chars().next_back();
                    let after = msg[i + k.len()..].chars().next();
                    !before.is_some_and(word) && !after.is_some_and(word)
                })
                .map(|(i, _)| (i, k))
        })
        .min_by_key(|(i, k)| (*i, std::cmp::Reverse(k.len())))
        .map(|(_, k)| k.clone())
}

pub(super) fn kind_of(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// "unknown key; did you mean `poll_secs`? (expected one of: …)".
pub(super) fn unknown(found: &str, known: &[&str], what: &str) -> String {
    let list = known.join(", ");
    match closest(found, known) {
        Some(near) => format!("unknown {what}; did you mean `{near}`? (expected one of: {list})"),
        None => format!("unknown {what} (expected one of: {list})"),
    }
}

/// The known name within two edits of `found`, if one is. Ties go to the name `found` is a
/// shortening of (a dropped letter is the commonest typo), then to the longest shared start.
fn closest<'k>(found: &str, known: &[&'k str]) -> Option<&'k str> {
    let shortening = |k: &str| {
        let mut rest = k.chars();
        found.chars().all(|c| rest.any(|r| r == c))
    };
    let shared = |k: &str| {
        found
            .chars()
            .zip(k.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    known
        .iter()
        .map(|k| {
            let rank = (
                edit_distance(found, k),
                !shortening(k),
                std::cmp::Reverse(shared(k)),
            );
            (rank, *k)
        })
        .filter(|((d, ..), _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// serde's wording, as a responder reads it: "expected …, found …", keys rather than fields.
/// Returns the key the message is about (an unknown key names itself) and the message.
pub(super) fn humanize(key: &str, msg: &str) -> (String, String) {
    let msg = msg.lines().next().unwrap_or(msg).trim();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (found, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        // An unknown key inside a nested table (auth = { bearr = … }) names its path.
        let path = if found == key || key.ends_with(&format!(".{found}")) {
            key.to_string()
        } else {
            format!("{key}.{found}")
        };
        return (path, unknown(found, &known, "key"));
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (found, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        return (format!("{key}.{found}"), unknown(found, &known, "name"));
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.split_once(", expected ") {
                return (
                    key.to_string(),
                    format!("expected {}, found {found}", type_name(expected)),
                );
            }
        }
    }
    if let Some(field) = missing_field(msg) {
        return (format!("{key}.{field}"), format!("missing key `{field}`"));
    }
    (key.to_string(), msg.to_string())
}

fn type_name(expected: &str) -> String {
    match expected {
        "f64" | "f32" => "a number".into(),
        "u64" | "u32" | "u16" | "u8" | "usize" => "a whole number, 0 or more".into(),
        "i64" | "i32" => "a whole number".into(),
        "a sequence" => "a list".into(),
        "a map" => "a table".into(),
        other if other.starts_with("struct ") => "a table".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_and_closest() {
        assert_eq!(edit_distance("poll_sec", "poll_secs"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            closest("poll_sec", &["url", "poll_secs"]),
            Some("poll_secs")
        );
        assert_eq!(closest("zzzzzz", &["url", "poll_secs"]), None);
        assert_eq!(closest("sped", &["seed", "speed"]), Some("speed"));
    }

    #[test]
    fn keys_named_in_adapter_messages() {
        let keys: Vec<String> = ["url", "renew_before_secs", "silence_secs"]
            .map(String::from)
            .into();
        assert_eq!(
            key_named_in("renew_before_secs must be less than silence_secs", &keys).as_deref(),
            Some("renew_before_secs")
        );
        assert_eq!(
            key_named_in("url \"ftp://x\" is ftp://, not http(s)://", &keys).as_deref(),
            Some("url")
        );
        assert_eq!(key_named_in("something else", &keys), None);
    }

    #[test]
    fn serde_wording_becomes_expected_found() {
        assert_eq!(
            humanize("poll_secs", "invalid type: string \"fast\", expected f64"),
            (
                "poll_secs".into(),
                "expected a number, found string \"fast\"".into()
            )
        );
        let (key, msg) = humanize(
            "poll_sec",
            "unknown field `poll_sec`, expected `url` or `poll_secs`",
        );
        assert_eq!(key, "poll_sec");
        assert!(
            msg.starts_with("unknown key; did you mean `poll_secs`?"),
            "{msg}"
        );
    }
}
