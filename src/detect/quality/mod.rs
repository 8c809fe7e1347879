//! Quality failures that return 200 OK: refusal rate off its baseline either way, output drift,
//! eval regression, retrieval degradation.
//!
//! Rates are judged with their counts when the source sends them: a refusal rate of 0.9%
//! means nothing on its own. The question is whether *this few* refusals out of *this many*
//! answers could come from the baseline rate (an exact Poisson tail, against
//! `count_p_value`), and whether the rate moved far enough to matter (the band). Both must
//! hold. Small samples therefore stay quiet, and a ratio that fell because its denominator
//! surged (an agent loop flooding a feature with requests nobody would refuse) is judged on
//! the answers normal traffic would have produced: the refusals that are still there are as
//! many as ever, so no guardrail moved.

mod counts;
mod drift;
mod eval;
mod refusals;
mod retrieval;

pub use drift::Drift;
pub use eval::Eval;
pub use refusals::Refusals;
pub use retrieval::Retrieval;
