//! What the cockpit records on a flag it changes, in the flag's own `metadata`, so the next
//! reader (this cockpit, another one, a person) knows what was served before, when and by
//! whom: `previousVariant`, `changedAt`, `changedBy`, and `changedSegment` when the change
//! was to one segment's rule rather than the whole feature.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// The last change the metadata records.
#[derive(Debug, Default, PartialEq)]
pub struct Recorded<'a> {
    pub previous: Option<&'a str>,
    pub at: Option<DateTime<Utc>>,
    pub by: Option<&'a str>,
    /// The segment the change was for; `None` for the whole feature.
    pub segment: Option<&'a str>,
}

pub fn meta_str<'a>(flag: &'a Value, key: &str) -> Option<&'a str> {
    flag.get("metadata")?.get(key)?.as_str()
}

pub fn read(flag: &Value) -> Recorded<'_> {
    Recorded {
        previous: meta_str(flag, "previousVariant"),
        at: meta_str(flag, "changedAt")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        by: meta_str(flag, "changedBy"),
        segment: meta_str(flag, "changedSegment"),
    }
}

/// Records a change on the flag. `previous: None` (nothing was served: the flag was
/// disabled) removes an older `previousVariant`, so no revert goes back to a stale one.
pub fn record(
    flag: &mut Map<String, Value>,
    key: &str,
    previous: Option<&str>,
    segment: Option<&str>,
    author: &str,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let meta = flag
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| format!("flag {key}: metadata is not an object"))?;
    let mut set = |k: &str, v: Option<&str>| match v {
        Some(v) => {
            meta.insert(k.into(), json!(v));
        }
        None => {
            meta.shift_remove(k);
        }
    };
    set("previousVariant", previous);
    set(
        "changedAt",
        Some(&now.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    set("changedBy", Some(author));
    set("changedSegment", segment);
    Ok(())
}
