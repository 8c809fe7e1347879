//! `drill --report`: run drills headless over many seeds and score every raise against the
//! ground truth (`truth`), per incident type: detected, time to detect, SEV given vs
//! expected, false positives, duplicate raises, and incidents shown recovered while their
//! cause was still there; precision and recall overall.

use super::truth::{self, Expected};
use super::{fleet, Run, Timetable};
use crate::backend::sim::spec::FaultSpec;
use crate::detect::{ChangeKind, DetectConfig};
use crate::domain::{IncidentType, Sev};
use serde::Serialize;
use std::collections::BTreeMap;

/// A raise after its cause ended still belongs to it for this long: windows lag.
const GRACE_SECS: i64 = 5 * 60;

#[derive(Clone, Debug)]
pub struct Options {
    pub timetable: Timetable,
    pub seeds: Vec<u64>,
    pub hours: f64,
    /// Simulated seconds between polls.
    pub poll_secs: i64,
    pub cfg: DetectConfig,
}

/// One episode as a responder would have seen it: raised, worst SEV, maybe recovered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Raise {
    pub at: i64,
    pub feature: String,
    pub kind: IncidentType,
    pub sev: Sev,
    pub recovered_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Verdict {
    /// The first raise of an expected incident.
    Detected { expected: usize, ttd: i64 },
    /// Another raise of an incident already raised.
    Duplicate { expected: usize },
    /// On an ambiguous magnitude: neither right nor wrong.
    Unscored,
    /// No injected cause.
    FalsePositive,
}

#[derive(Clone, Debug, Serialize)]
pub struct SeedOutcome {
    pub seed: u64,
    pub hours: f64,
    pub timetable: Vec<String>,
    pub expected: Vec<Expected>,
    pub raises: Vec<Raise>,
    pub verdicts: Vec<Verdict>,
    /// Indices of expected incidents due by the end of the run (onset + bound passed).
    pub due: Vec<usize>,
    /// Raises shown recovered while the cause they were raised for was still active.
    pub recovered_while_firing: Vec<usize>,
}

impl SeedOutcome {
    fn detected(&self, e: usize) -> Option<(usize, i64)> {
        self.verdicts.iter().enumerate().find_map(|(i, v)| match v {
            Verdict::Detected { expected, ttd } if *expected == e => Some((i, *ttd)),
            _ => None,
        })
    }
}

fn describe(f: &FaultSpec) -> String {
    let seg = f
        .segment
        .as_deref()
        .map_or(String::new(), |s| format!(" [{s}]"));
    let end = f
        .end_secs
        .map_or("→".to_string(), |e| format!("–{:.0}m", e as f64 / 60.0));
    let what = match f.fault {
        crate::backend::sim::spec::FaultKind::AgentLoop => format!(
            "agent loop x{:.1} tokens x{:.1} requests",
            f.factor, f.request_factor
        ),
        crate::backend::sim::spec::FaultKind::PromptDeploy => {
            format!("prompt {}", f.version.as_deref().unwrap_or("?"))
        }
        other => format!("{other:?} x{:.3}", f.factor).to_lowercase(),
    };
    format!(
        "{:>5.1}m{end} {}{seg}: {what}",
        f.at_secs as f64 / 60.0,
        f.feature
    )
}

fn raises(run: &Run) -> Vec<Raise> {
    let origin = super::origin();
    let mut out: Vec<Raise> = Vec::new();
    let mut open: BTreeMap<(String, IncidentType), usize> = BTreeMap::new();
    for c in &run.changes {
        let at = (c.at - origin).num_seconds();
        let key = (c.feature.clone(), c.kind);
        match &c.what {
            ChangeKind::Opened(sev) => {
                open.insert(key, out.len());
                out.push(Raise {
                    at,
                    feature: c.feature.clone(),
                    kind: c.kind,
                    sev: *sev,
                    recovered_at: None,
                });
            }
            ChangeKind::Raised { to, .. } => {
                if let Some(r) = open.get(&key).and_then(|i| out.get_mut(*i)) {
                    r.sev = r.sev.min(*to);
                }
            }
            ChangeKind::Recovered => {
                if let Some(r) = open.remove(&key).and_then(|i| out.get_mut(i)) {
                    r.recovered_at = Some(at);
                }
            }
        }
    }
    out
}

/// Scores one run's raises against its timetable's truth.
pub fn score(seed: u64, hours: f64, run: &Run, cfg: &DetectConfig) -> SeedOutcome {
    let spec = run.world.spec();
    let expected: Vec<Expected> = (0..spec.scenario.len())
        .flat_map(|i| truth::expected(spec, cfg, i))
        .collect();
    let end = run.elapsed();
    let raises = raises(run);
    let mut verdicts = Vec::new();
    let mut taken = vec![false; expected.len()];
    for r in &raises {
        let candidates: Vec<usize> = expected
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.feature == r.feature
                    && e.kind == r.kind
                    && e.onset <= r.at
                    && e.end.is_none_or(|end| r.at <= end + GRACE_SECS)
            })
            .map(|(i, _)| i)
            .collect();
        let verdict = match candidates
            .iter()
            .find(|i| expected[**i].scored && !taken[**i])
        {
            Some(&i) => {
                taken[i] = true;
                Verdict::Detected {
                    expected: i,
                    ttd: (r.at - expected[i].visible_from).max(0),
                }
            }
            None => match candidates.iter().find(|i| expected[**i].scored) {
                Some(&i) => Verdict::Duplicate { expected: i },
                None if !candidates.is_empty() => Verdict::Unscored,
                None => Verdict::FalsePositive,
            },
        };
        verdicts.push(verdict);
    }
    let recovered_while_firing = raises
        .iter()
        .zip(&verdicts)
        .enumerate()
        .filter(|(_, (r, v))| {
            let (Verdict::Detected { expected: e, .. } | Verdict::Duplicate { expected: e }) = v
            else {
                return false;
            };
            let Some(e) = expected.get(*e) else {
                return false;
            };
            r.recovered_at
                .is_some_and(|at| e.end.is_none_or(|end| at < end))
        })
        .map(|(i, _)| i)
        .collect();
    let due = expected
        .iter()
        .enumerate()
        .filter(|(_, e)| e.scored && e.visible_from + e.ttd_bound <= end)
        .map(|(i, _)| i)
        .collect();
    SeedOutcome {
        seed,
        hours,
        timetable: spec.scenario.iter().map(describe).collect(),
        expected,
        raises,
        verdicts,
        due,
        recovered_while_firing,
    }
}

/// Per incident type, over every seed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TypeStats {
    pub expected: usize,
    pub detected: usize,
    pub ttd_median_secs: Option<i64>,
    pub ttd_max_secs: Option<i64>,
    /// Detections later than their bound (2 minutes for a SEV1 guardrail bypass and a cost
    /// explosion at the default drill's magnitude; see `truth`).
    pub late: usize,
    pub sev_right: usize,
    pub sev_wrong: usize,
    pub false_positives: usize,
    pub duplicates: usize,
    pub recovered_while_firing: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub timetable: String,
    pub seeds: Vec<u64>,
    pub hours: f64,
    pub by_type: BTreeMap<String, TypeStats>,
    pub expected: usize,
    pub detected: usize,
    pub raises: usize,
    pub true_raises: usize,
    pub false_positives: usize,
    pub duplicates: usize,
    pub recovered_while_firing: usize,
    pub late: usize,
    pub sev_wrong: usize,
    /// True raises / scored raises (true, false and duplicate).
    pub precision: f64,
    /// Detected / expected and due.
    pub recall: f64,
    pub outcomes: Vec<SeedOutcome>,
}

/// Runs one seed to the end and scores it.
pub fn run_seed(opts: &Options, seed: u64) -> Result<SeedOutcome, String> {
    let horizon = (opts.hours * 3600.0).round() as i64;
    let spec = fleet(opts.timetable, seed, horizon)?;
    let mut run = Run::new(spec, seed, opts.cfg.clone())?;
    let step = opts.poll_secs.max(1);
    while run.elapsed() < horizon {
        run.poll(step);
    }
    Ok(score(seed, opts.hours, &run, &opts.cfg))
}

/// Runs every seed (on every core) and sums up.
pub fn run(opts: &Options) -> Result<Summary, String> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(opts.seeds.len().max(1));
    let chunks: Vec<Vec<u64>> = (0..threads)
        .map(|t| {
            opts.seeds
                .iter()
                .copied()
                .skip(t)
                .step_by(threads)
                .collect()
        })
        .collect();
    let mut outcomes: Vec<SeedOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|seeds| {
                scope.spawn(move || {
                    seeds
                        .iter()
                        .map(|s| run_seed(opts, *s))
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            match h.join() {
                Ok(r) => all.push(r),
                Err(_) => all.push(Err("a drill thread panicked".to_string())),
            }
        }
        all.into_iter()
            .collect::<Result<Vec<Vec<SeedOutcome>>, String>>()
            .map(|v| v.into_iter().flatten().collect())
    })?;
    outcomes.sort_by_key(|o| o.seed);
    Ok(summarise(opts, outcomes))
}

fn summarise(opts: &Options, outcomes: Vec<SeedOutcome>) -> Summary {
    let mut by_type: BTreeMap<String, TypeStats> = BTreeMap::new();
    let mut ttds: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let name = |k: IncidentType| k.label().to_string();
    let (mut raises, mut true_raises, mut fps, mut dups, mut rwf) = (0, 0, 0, 0, 0);
    for o in &outcomes {
        for &e in &o.due {
            let ex = &o.expected[e];
            let st = by_type.entry(name(ex.kind)).or_default();
            st.expected += 1;
            if let Some((ri, ttd)) = o.detected(e) {
                st.detected += 1;
                ttds.entry(name(ex.kind)).or_default().push(ttd);
                if ttd > ex.ttd_bound {
                    st.late += 1;
                }
                match ex.sev {
                    Some(s) if s == o.raises[ri].sev => st.sev_right += 1,
                    Some(_) => st.sev_wrong += 1,
                    None => {}
                }
            }
        }
        for (i, (r, v)) in o.raises.iter().zip(&o.verdicts).enumerate() {
            let st = by_type.entry(name(r.kind)).or_default();
            match v {
                Verdict::Detected { .. } => {
                    raises += 1;
                    true_raises += 1;
                }
                Verdict::Duplicate { .. } => {
                    raises += 1;
                    dups += 1;
                    st.duplicates += 1;
                }
                Verdict::FalsePositive => {
                    raises += 1;
                    fps += 1;
                    st.false_positives += 1;
                }
                Verdict::Unscored => {}
            }
            if o.recovered_while_firing.contains(&i) {
                rwf += 1;
                st.recovered_while_firing += 1;
            }
        }
    }
    for (k, mut v) in ttds {
        v.sort_unstable();
        if let Some(st) = by_type.get_mut(&k) {
            st.ttd_median_secs = v.get(v.len() / 2).copied();
            st.ttd_max_secs = v.last().copied();
        }
    }
    let expected: usize = by_type.values().map(|s| s.expected).sum();
    let detected: usize = by_type.values().map(|s| s.detected).sum();
    let late = by_type.values().map(|s| s.late).sum();
    let sev_wrong = by_type.values().map(|s| s.sev_wrong).sum();
    Summary {
        timetable: match opts.timetable {
            Timetable::Default => "default".into(),
            Timetable::Random => "random".into(),
        },
        seeds: opts.seeds.clone(),
        hours: opts.hours,
        by_type,
        expected,
        detected,
        raises,
        true_raises,
        false_positives: fps,
        duplicates: dups,
        recovered_while_firing: rwf,
        late,
        sev_wrong,
        precision: if raises == 0 {
            1.0
        } else {
            true_raises as f64 / raises as f64
        },
        recall: if expected == 0 {
            1.0
        } else {
            detected as f64 / expected as f64
        },
        outcomes,
    }
}

fn fmt_dur(secs: Option<i64>) -> String {
    match secs {
        None => "—".to_string(),
        Some(s) if s < 600 => format!("{}m{:02}s", s / 60, s % 60),
        Some(s) => format!("{}m", (s + 30) / 60),
    }
}

/// The report as a responder reads it: one row per incident type, then the totals, then
/// every miss, false positive and early recovery with its seed, so each can be replayed
/// (`oncall-cockpit --drill random --seed N`).
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "drill report: {} timetable, {} seed(s), {} simulated hours each\n\n",
        s.timetable,
        s.seeds.len(),
        s.hours
    ));
    out.push_str(&format!(
        "{:<30} {:>8} {:>9} {:>9} {:>5} {:>9} {:>4} {:>4} {:>9}\n",
        "type", "detected", "ttd med", "ttd max", "late", "SEV ok", "FP", "dup", "recov.early"
    ));
    for (name, t) in &s.by_type {
        out.push_str(&format!(
            "{:<30} {:>8} {:>9} {:>9} {:>5} {:>9} {:>4} {:>4} {:>9}\n",
            name,
            format!("{}/{}", t.detected, t.expected),
            fmt_dur(t.ttd_median_secs),
            fmt_dur(t.ttd_max_secs),
            t.late,
            format!("{}/{}", t.sev_right, t.sev_right + t.sev_wrong),
            t.false_positives,
            t.duplicates,
            t.recovered_while_firing
        ));
    }
    out.push_str(&format!(
        "\nprecision {:.3} ({} true of {} raises)   recall {:.3} ({} of {} expected)\n",
        s.precision, s.true_raises, s.raises, s.recall, s.detected, s.expected
    ));
    out.push_str(&format!(
        "false positives {}   duplicates {}   recovered while firing {}   late {}   wrong SEV {}\n",
        s.false_positives, s.duplicates, s.recovered_while_firing, s.late, s.sev_wrong
    ));
    let mut problems = Vec::new();
    for o in &s.outcomes {
        for &e in &o.due {
            let ex = &o.expected[e];
            match o.detected(e) {
                None => problems.push(format!(
                    "seed {}: missed {} on {} (onset {})",
                    o.seed,
                    ex.kind.label(),
                    ex.feature,
                    fmt_dur(Some(ex.onset))
                )),
                Some((ri, ttd)) => {
                    if ttd > ex.ttd_bound {
                        problems.push(format!(
                            "seed {}: {} on {} detected after {} (bound {})",
                            o.seed,
                            ex.kind.label(),
                            ex.feature,
                            fmt_dur(Some(ttd)),
                            fmt_dur(Some(ex.ttd_bound))
                        ));
                    }
                    if ex.sev.is_some_and(|want| want != o.raises[ri].sev) {
                        problems.push(format!(
                            "seed {}: {} on {} raised {} (expected {})",
                            o.seed,
                            ex.kind.label(),
                            ex.feature,
                            o.raises[ri].sev,
                            ex.sev.map_or("?".into(), |s| s.to_string())
                        ));
                    }
                }
            }
        }
        for (i, (r, v)) in o.raises.iter().zip(&o.verdicts).enumerate() {
            let what = match v {
                Verdict::FalsePositive => "false positive",
                Verdict::Duplicate { .. } => "raised again",
                _ if o.recovered_while_firing.contains(&i) => "recovered while firing",
                _ => continue,
            };
            problems.push(format!(
                "seed {}: {what}: {} {} on {} at {}",
                o.seed,
                r.sev,
                r.kind.label(),
                r.feature,
                fmt_dur(Some(r.at))
            ));
            if o.recovered_while_firing.contains(&i) && what != "recovered while firing" {
                problems.push(format!(
                    "seed {}: recovered while firing: {} on {} at {}",
                    o.seed,
                    r.kind.label(),
                    r.feature,
                    fmt_dur(r.recovered_at)
                ));
            }
        }
    }
    if !problems.is_empty() {
        out.push('\n');
        for p in problems {
            out.push_str(&p);
            out.push('\n');
        }
    }
    out
}
