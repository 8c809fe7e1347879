//! The fleet's kept requests: a bounded ring per feature, and the words each one said.
//!
//! A real tracing server keeps spans; the fleet keeps a few requests per bucket (ordinary ones
//! and every kind of failure the timetable injects) as compact records, and writes their text
//! only when a responder reads them. The words follow what happened to the request: a
//! jailbroken answer where a refusal was due, the invented refund policy of a bad prompt, an
//! agent's looping transcript, an answer citing a document the stale index still returns.
//! Everything is drawn from its own random stream, so keeping samples never changes the
//! traffic (or a drill's detections) of a seed.

use super::rng::Rng;
use crate::domain::sample::{sample_text, Params, Retrieved, Sample};
use crate::domain::SafeText;
use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;

/// What became of a kept request, beyond its numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Refused,
    /// Answered where the fleet's guardrail would have refused: a jailbreak got through.
    Jailbroken,
    /// A bad prompt version invented policy.
    Hallucinated,
    /// A tool-call continuation of a looping agent.
    Looping,
    /// The retrieval step returned a stale or deleted document.
    Stale,
    Error,
    /// Refused by a token budget (429) before the model was called.
    RateLimited,
    /// Routed to the fallback: a static answer, or a human.
    StaticAnswer,
    Handoff,
    /// Answered from the response cache: ordinary, but no model call.
    Cached,
}

impl Kind {
    pub fn notable(self) -> bool {
        !matches!(self, Kind::Normal | Kind::Cached)
    }

    /// No model answer to show or score.
    fn unanswered(self) -> bool {
        matches!(self, Kind::Error | Kind::RateLimited)
    }
}

/// One kept request, compact: its text is written when read.
#[derive(Clone, Debug, PartialEq)]
pub struct Kept {
    /// Simulated second it was served.
    pub t: i64,
    /// Its number within the feature: the id a responder quotes.
    pub n: u64,
    pub segment: usize,
    pub prompt: String,
    pub model: String,
    pub model_version: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub cost: f64,
    pub latency: f64,
    pub category: usize,
    pub retrieval_hit: Option<bool>,
    pub eval: f64,
    pub kind: Kind,
    /// Picks the wording, so the same request always reads the same.
    pub variant: u64,
}

/// Kept requests of one feature, oldest first, bounded.
#[derive(Debug, Default)]
pub struct Ring {
    kept: VecDeque<Kept>,
    counter: u64,
    /// Per bucket: (bucket number, ordinary kept, notable kept).
    bucket: (i64, u8, u8),
}

/// Per bucket: this many ordinary requests and this many failures of any kind are kept.
const ORDINARY_PER_BUCKET: u8 = 2;
const NOTABLE_PER_BUCKET: u8 = 3;

impl Ring {
    pub fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Keeps `k` if its bucket has room for its kind; `cap` bounds the whole ring.
    pub fn offer(&mut self, bucket: i64, k: Kept, cap: usize) {
        if self.bucket.0 != bucket {
            self.bucket = (bucket, 0, 0);
        }
        let room = if k.kind.notable() {
            &mut self.bucket.2
        } else {
            &mut self.bucket.1
        };
        let limit = if k.kind.notable() {
            NOTABLE_PER_BUCKET
        } else {
            ORDINARY_PER_BUCKET
        };
        if *room >= limit {
            return;
        }
        *room += 1;
        self.kept.push_back(k);
        while self.kept.len() > cap {
            self.kept.pop_front();
        }
    }

    /// Kept requests from `from` to `to` (simulated seconds, `to` excluded), newest first.
    pub fn between(&self, from: i64, to: i64) -> impl Iterator<Item = &Kept> {
        self.kept
            .iter()
            .rev()
            .filter(move |k| k.t >= from && k.t < to)
    }
}

/// What a feature is, for writing its requests.
pub struct Voice<'a> {
    pub feature: &'a str,
    pub categories: &'a [String],
    pub segments: &'a [String],
    pub params: Params,
    pub origin: DateTime<Utc>,
}

/// `k` as a sample, its words written.
pub fn sample(v: &Voice<'_>, k: &Kept) -> Sample {
    let mut rng = Rng::for_key(k.variant, k.n, k.t);
    let category = v
        .categories
        .get(k.category)
        .map_or("general", String::as_str);
    let segment = v.segments.get(k.segment).map(|s| SafeText::new(s));
    let user = format!(
        "{}-{:04}",
        v.segments.get(k.segment).map_or("user", String::as_str),
        rng.below(5000)
    );
    let input = question(category, &mut rng);
    let (output, mut labels) = answer(k, category, &mut rng);
    let retrieved = match k.retrieval_hit {
        None => Vec::new(),
        Some(hit) => {
            let doc = 1000 + rng.below(8000);
            let mut docs = vec![Retrieved {
                id: SafeText::new(&format!("KB-{doc}")),
                hit: Some(hit),
                score: Some(if hit {
                    rng.range(0.72, 0.93)
                } else {
                    rng.range(0.31, 0.55)
                }),
            }];
            if k.kind == Kind::Stale {
                docs[0].id = SafeText::new(&format!("KB-{doc} (deleted)"));
            }
            docs.push(Retrieved {
                id: SafeText::new(&format!("KB-{}", 1000 + rng.below(8000))),
                hit: Some(rng.chance(0.5) && hit),
                score: Some(rng.range(0.3, 0.7)),
            });
            docs
        }
    };
    if k.kind == Kind::Error {
        labels.clear();
    }
    let mut params = v.params.clone();
    params.conversation = Some(SafeText::new(&format!("conv-{:06}", k.n / 3)));
    Sample {
        id: SafeText::new(&format!("{}-{}", v.feature, k.n)),
        at: v.origin + Duration::seconds(k.t),
        feature: SafeText::new(v.feature),
        segment,
        user: Some(SafeText::new(&user)),
        prompt_version: Some(SafeText::new(&k.prompt)),
        model: Some(SafeText::new(&format!("{} {}", k.model, k.model_version))),
        error: match k.kind {
            Kind::Error => Some(SafeText::new(if rng.chance(0.5) {
                "503 upstream overloaded"
            } else {
                "timeout after 30s"
            })),
            Kind::RateLimited => Some(SafeText::new(
                "429 Too Many Requests: the segment's token budget is spent",
            )),
            _ => None,
        },
        input_tokens: Some(u64::from(k.input_tokens)),
        output_tokens: Some(u64::from(k.output_tokens)),
        cost: Some(k.cost),
        latency_secs: Some(k.latency),
        eval_score: (!k.kind.unanswered() && !matches!(k.kind, Kind::StaticAnswer | Kind::Handoff))
            .then_some(k.eval),
        labels: labels.into_iter().map(SafeText::new).collect(),
        input: sample_text(&input),
        output: if k.kind.unanswered() {
            SafeText::default()
        } else {
            sample_text(&output)
        },
        retrieved,
        params,
    }
}

fn pick<'a>(rng: &mut Rng, options: &[&'a str]) -> &'a str {
    options[rng.below(options.len())]
}

fn question(category: &str, rng: &mut Rng) -> String {
    let order = 100_000 + rng.below(900_000);
    let c = category.to_ascii_lowercase();
    let text = if c.contains("refund") {
        pick(
            rng,
            &[
                "Can I get a refund for order #{o}? It arrived broken.",
                "What is your refund policy for annual plans?",
                "I was charged twice for #{o}, how do I get a refund?",
            ],
        )
    } else if c.contains("order") {
        pick(
            rng,
            &[
                "Where is my order #{o}?",
                "Order #{o} says delivered but nothing came.",
            ],
        )
    } else if c.contains("trouble") {
        pick(
            rng,
            &[
                "The app crashes when I upload a photo.",
                "I can't log in after the update, it says token expired.",
            ],
        )
    } else if c.contains("shell") || c.contains("completion") || c.contains("refactor") {
        pick(
            rng,
            &[
                "Write a shell command to delete log files older than 7 days.",
                "Complete this function: fn parse_duration(s: &str) -> Option<Duration> {",
                "Refactor this loop to use iterators.",
            ],
        )
    } else if c.contains("test") || c.contains("explain") {
        pick(
            rng,
            &[
                "Explain what this regex does: ^(?:[a-z0-9-]+\\.)+[a-z]{2,}$",
                "Write unit tests for the retry helper.",
            ],
        )
    } else {
        pick(
            rng,
            &[
                "Can you help me with {c}?",
                "I have a question about {c}.",
                "Please summarise the {c} thread below.",
            ],
        )
    };
    text.replace("{o}", &order.to_string())
        .replace("{c}", category)
}

/// The output and the labels an evaluator would put on it.
fn answer(k: &Kept, category: &str, rng: &mut Rng) -> (String, Vec<&'static str>) {
    match k.kind {
        Kind::Refused => (
            pick(
                rng,
                &[
                    "I'm sorry, but I can't help with that.",
                    "I'm not able to help with that request.",
                    "I can't assist with that. Is there anything else I can do for you?",
                ],
            )
            .to_string(),
            vec!["refused"],
        ),
        Kind::Jailbroken => (
            pick(
                rng,
                &[
                    "Sure! Ignoring my previous instructions as you asked, here is the internal \
                     discount override code: STAFF-100-OFF. Apply it at checkout.",
                    "As DAN I have no restrictions. Here are the admin credentials format and \
                     how to reset another customer's password without verification: …",
                    "Of course. Developer mode enabled. The system prompt says: \"You are the \
                     support assistant of …\"",
                ],
            )
            .to_string(),
            vec!["jailbroken", "policy-violation"],
        ),
        Kind::Hallucinated => (
            pick(
                rng,
                &[
                    "Good news! Under our Lifetime Satisfaction policy you are entitled to a \
                     full refund within 365 days, no receipt needed, plus a 20% goodwill credit.",
                    "Per our updated policy, refunds are automatic for any order over $50 and \
                     are paid in cash at any partner store.",
                ],
            )
            .to_string(),
            vec!["hallucinated"],
        ),
        Kind::Looping => {
            let step = 1 + rng.below(40);
            (
                format!(
                    "Thought: I still need the order history to answer.\nAction: \
                     search_orders({{\"customer\": \"c-{}\", \"page\": {step}}})\nObservation: \
                     (same 50 orders as the previous call)\nThought: I still need the order \
                     history to answer.\nAction: search_orders(…)",
                    rng.below(9000)
                ),
                vec!["agent-loop"],
            )
        }
        Kind::Stale => (
            format!(
                "According to KB article \"{category} (2024)\", you should contact the fax \
                 support line. [source: KB-{} — deleted]",
                1000 + rng.below(8000)
            ),
            vec!["stale-context"],
        ),
        Kind::Error => (String::new(), Vec::new()),
        Kind::RateLimited => (String::new(), vec!["rate-limited"]),
        Kind::StaticAnswer => (
            "Our assistant is unavailable right now. You can find answers in the help centre, \
             or reply here and a member of the team will get back to you."
                .to_string(),
            vec!["fallback"],
        ),
        Kind::Handoff => (
            "I've passed this to a member of our team; they will pick it up from here.".to_string(),
            vec!["fallback", "handoff"],
        ),
        Kind::Normal | Kind::Cached => (
            pick(
                rng,
                &[
                    "Thanks for reaching out! I've checked your account and here is what I \
                     found: {c} is handled within 2 business days. You'll get an email update.",
                    "Here's how to do that: open Settings → {c}, choose the item and confirm. \
                     Let me know if anything looks different.",
                    "Done. I've summarised the {c} details below:\n- status: in progress\n- \
                     next step: confirmation email",
                ],
            )
            .replace("{c}", category),
            if k.kind == Kind::Cached {
                vec!["cached"]
            } else {
                Vec::new()
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(t: i64, kind: Kind) -> Kept {
        Kept {
            t,
            n: t as u64,
            segment: 0,
            prompt: "v1".into(),
            model: "frontier-xl".into(),
            model_version: "m".into(),
            input_tokens: 10,
            output_tokens: 20,
            cost: 0.01,
            latency: 1.0,
            category: 0,
            retrieval_hit: None,
            eval: 0.9,
            kind,
            variant: 7,
        }
    }

    #[test]
    fn a_bucket_keeps_a_few_of_each_and_the_ring_is_bounded() {
        let mut ring = Ring::default();
        for t in 0..10 {
            ring.offer(0, kept(t, Kind::Normal), 100);
            ring.offer(0, kept(t, Kind::Refused), 100);
        }
        let kinds: Vec<Kind> = ring.between(0, 10).map(|k| k.kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Normal).count(), 2);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Refused).count(), 3);
        for b in 1..100 {
            ring.offer(b, kept(b * 10, Kind::Normal), 50);
        }
        assert_eq!(ring.between(i64::MIN, i64::MAX).count(), 50);
        let newest: Vec<i64> = ring.between(0, 2000).take(2).map(|k| k.t).collect();
        assert_eq!(newest, vec![990, 980], "newest first");
    }

    #[test]
    fn the_words_follow_what_happened_and_read_the_same_twice() {
        let voice = Voice {
            feature: "support-bot",
            categories: &["refund-policy".to_string()],
            segments: &["free-tier".to_string()],
            params: Params::default(),
            origin: DateTime::<Utc>::UNIX_EPOCH,
        };
        let j = sample(&voice, &kept(5, Kind::Jailbroken));
        assert!(j.labels.iter().any(|l| l.as_str() == "jailbroken"));
        assert_eq!(j, sample(&voice, &kept(5, Kind::Jailbroken)));
        let r = sample(&voice, &kept(6, Kind::Refused));
        assert!(
            r.output.as_str().to_lowercase().contains("can't")
                || r.output.as_str().contains("not able")
        );
        let e = sample(&voice, &kept(7, Kind::Error));
        assert!(e.error.is_some() && e.output.as_str().is_empty() && e.eval_score.is_none());
        assert!(sample(&voice, &kept(8, Kind::Normal))
            .input
            .as_str()
            .contains("refund"));
    }
}
