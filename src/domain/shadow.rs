//! Shadow comparison: before a prompt rollback or a model switch, the target variant's recent
//! figures beside the current one's, on the same window, each with the count it rests on.
//! A metrics source answers where its series (or its simulated requests) carry a variant
//! label; a variant with no series says so, with why, rather than showing nothing.

use super::SafeText;

/// The longest variant value or label name carried (a prompt version, a model name): both
/// come from a flag system and go into a query and onto the screen.
pub const MAX_VALUE_LEN: usize = 128;

/// Which kind of variant is compared: it decides which label names it on series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Axis {
    /// Prompt versions (`[shadow] prompt_label`).
    Prompt,
    /// Models (`[shadow] model_label`).
    Model,
}

impl Axis {
    pub fn noun(self) -> &'static str {
        match self {
            Axis::Prompt => "prompt",
            Axis::Model => "model",
        }
    }
}

/// What one comparison asks a metrics source for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShadowRequest {
    pub feature: String,
    pub axis: Axis,
    /// The label that names the variant on series (`prompt_version`, `gen_ai_request_model`).
    pub label: String,
    /// The variant served now, and the one the lever would serve.
    pub current: String,
    pub target: String,
    /// A matcher the target's series must also match (`shadow="true"`): its shadow traffic,
    /// not whatever it served before. `None`: every series of the target counts.
    pub shadow_matcher: Option<String>,
    pub window_secs: u32,
}

impl ShadowRequest {
    /// "the last 30 min", as the dialog words the window.
    pub fn window_words(&self) -> String {
        let mins = self.window_secs / 60;
        if mins >= 120 && mins % 60 == 0 {
            format!("the last {} h", mins / 60)
        } else if mins > 0 {
            format!("the last {mins} min")
        } else {
            format!("the last {} s", self.window_secs)
        }
    }

    /// Why the target shows nothing: "no shadow traffic for v12 in the last 30 min (label
    /// prompt_version)".
    pub fn no_target_data(&self) -> String {
        format!(
            "no shadow traffic for {} in {} (label {}{})",
            self.target,
            self.window_words(),
            self.label,
            self.shadow_matcher
                .as_deref()
                .map(|m| format!(", {m}"))
                .unwrap_or_default()
        )
    }
}

/// The figures compared, in the order the dialog lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Figure {
    /// Mean eval score, 0..1, higher is better; counted in scored requests (or eval runs).
    Eval,
    /// Refusals over answered requests; counted in answers.
    Refusals,
    /// Jensen–Shannon distance of answer categories from the baseline (the drift detector's
    /// measure); counted in answers.
    Drift,
    /// Dollars per request; counted in requests.
    CostPerRequest,
    /// Time to first token p95 (or the latency the source has), seconds; counted in requests
    /// timed.
    Latency,
}

impl Figure {
    pub const ALL: [Figure; 5] = [
        Figure::Eval,
        Figure::Refusals,
        Figure::Drift,
        Figure::CostPerRequest,
        Figure::Latency,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Figure::Eval => "eval",
            Figure::Refusals => "refusals",
            Figure::Drift => "drift JS",
            Figure::CostPerRequest => "$/request",
            Figure::Latency => "TTFT p95",
        }
    }

    /// The value as the dialog shows it.
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "-".into();
        }
        match self {
            Figure::Eval => format!("{v:.2}"),
            Figure::Refusals => format!("{:.1}%", v * 100.0),
            Figure::Drift => format!("{v:.3}"),
            Figure::CostPerRequest if v < 0.01 => format!("${v:.4}"),
            Figure::CostPerRequest => format!("${v:.3}"),
            Figure::Latency if v < 1.0 => format!("{:.0}ms", v * 1000.0),
            Figure::Latency => format!("{v:.2}s"),
        }
    }
}

/// One figure of one variant: its value and the count it rests on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    pub value: f64,
    pub count: u64,
}

/// One variant's figures; a figure the source could not read says why.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantFigures {
    pub value: String,
    /// Read from shadow traffic (a copy of real requests the variant served unseen), not
    /// from what it served live.
    pub shadow: bool,
    pub figures: Vec<(Figure, Result<Measured, String>)>,
}

impl VariantFigures {
    /// Every figure "no data" for the same reason.
    pub fn none(value: &str, shadow: bool, why: &str) -> VariantFigures {
        VariantFigures {
            value: value.to_string(),
            shadow,
            figures: Figure::ALL
                .iter()
                .map(|f| (*f, Err(why.to_string())))
                .collect(),
        }
    }

    pub fn get(&self, figure: Figure) -> Option<&Result<Measured, String>> {
        self.figures
            .iter()
            .find(|(f, _)| *f == figure)
            .map(|(_, r)| r)
    }

    /// Whether any figure has a value.
    pub fn has_data(&self) -> bool {
        self.figures.iter().any(|(_, r)| r.is_ok())
    }

    /// Every text from outside made safe for the screen, values cut to `MAX_VALUE_LEN`, and
    /// non-finite or negative counts dropped to "no data".
    pub fn sanitised(&self) -> VariantFigures {
        let clean = |t: &str| {
            let t: String = t.chars().take(MAX_VALUE_LEN).collect();
            SafeText::new(&t).to_string()
        };
        VariantFigures {
            value: clean(&self.value),
            shadow: self.shadow,
            figures: self
                .figures
                .iter()
                .map(|(f, r)| {
                    let r = match r {
                        Ok(m) if m.value.is_finite() => Ok(*m),
                        Ok(_) => Err("not a number".to_string()),
                        Err(why) => Err(clean(why)),
                    };
                    (*f, r)
                })
                .collect(),
        }
    }
}

/// What a source found for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowAnswer {
    pub current: VariantFigures,
    pub target: VariantFigures,
    /// What the latency row measures when it is not TTFT p95 ("operation duration p95").
    pub latency_note: Option<String>,
}

impl ShadowAnswer {
    pub fn sanitised(&self) -> ShadowAnswer {
        ShadowAnswer {
            current: self.current.sanitised(),
            target: self.target.sanitised(),
            latency_note: self
                .latency_note
                .as_deref()
                .map(|n| SafeText::new(n).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ShadowRequest {
        ShadowRequest {
            feature: "support-bot".into(),
            axis: Axis::Prompt,
            label: "prompt_version".into(),
            current: "v13".into(),
            target: "v12".into(),
            shadow_matcher: None,
            window_secs: 1800,
        }
    }

    #[test]
    fn no_data_names_the_variant_the_window_and_the_label() {
        assert_eq!(
            request().no_target_data(),
            "no shadow traffic for v12 in the last 30 min (label prompt_version)"
        );
        let r = ShadowRequest {
            shadow_matcher: Some("shadow=\"true\"".into()),
            window_secs: 7200,
            ..request()
        };
        assert_eq!(
            r.no_target_data(),
            "no shadow traffic for v12 in the last 2 h (label prompt_version, shadow=\"true\")"
        );
    }

    #[test]
    fn outside_text_is_cleaned_and_non_numbers_are_no_data() {
        let v = VariantFigures {
            value: format!("v\x1b[31m{}", "9".repeat(500)),
            shadow: true,
            figures: vec![
                (
                    Figure::Eval,
                    Ok(Measured {
                        value: f64::NAN,
                        count: 3,
                    }),
                ),
                (Figure::Drift, Err("gauge \x07missing".into())),
            ],
        }
        .sanitised();
        assert!(!v.value.contains('\x1b') && v.value.chars().count() <= MAX_VALUE_LEN);
        assert_eq!(v.get(Figure::Eval), Some(&Err("not a number".to_string())));
        assert_eq!(
            v.get(Figure::Drift),
            Some(&Err("gauge missing".to_string()))
        );
        assert!(!v.has_data());
    }

    #[test]
    fn figures_read_as_the_signal_pane_reads_them() {
        assert_eq!(Figure::Refusals.format(0.052), "5.2%");
        assert_eq!(Figure::CostPerRequest.format(0.0081), "$0.0081");
        assert_eq!(Figure::Latency.format(0.512), "512ms");
        assert_eq!(Figure::Latency.format(1.5), "1.50s");
        assert_eq!(Figure::Eval.format(f64::NAN), "-");
    }
}
