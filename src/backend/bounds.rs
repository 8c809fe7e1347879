//! What every polled source is held to, whatever its adapter: polls paced by how long the
//! backend takes to answer, every call bounded by the source's timeout, and a cap on the
//! incidents held from it. A wrapper around the adapter, so the driver loop and the adapters
//! stay as they are.
//!
//! Pacing: a poll starts no sooner than `answer_time_factor` times the last answer time after
//! the previous one started. A backend that answers in 50 ms is polled at the configured
//! interval; one that takes 3 s to list 50,000 alerts is polled every 12 s at most, so it is
//! idle at least three quarters of the time whatever `poll_secs` says. A timeout counts as an
//! answer time, so a hung backend is not retried in a tight loop either. A command never waits
//! for the pacing: it cuts the wait short (see `CommandBell`).

use super::report::Reporter;
use super::{
    BackendError, BackendEvent, FeatureFlags, FlagControl, FlagOp, IncidentOp, IncidentSource,
    MetricsSource, NotShown,
};
use crate::clock::Clock;
use crate::domain::{Incident, IncidentId, SignalSet};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// When the next poll may start, from the last one's start and answer time.
#[derive(Clone, Debug)]
pub struct Pace {
    factor: f64,
    last: Option<(Instant, Duration)>,
}

impl Pace {
    pub fn new(factor: f64) -> Pace {
        Pace {
            factor: if factor.is_finite() {
                factor.max(1.0)
            } else {
                1.0
            },
            last: None,
        }
    }

    /// How long to wait at `now` before the next poll may start.
    pub fn wait(&self, now: Instant) -> Duration {
        match self.last {
            Some((start, took)) => (start + self.spacing(took)).saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }

    pub fn record(&mut self, start: Instant, took: Duration) {
        self.last = Some((start, took));
    }

    /// The least time between poll starts the last answer asks for.
    pub fn min_interval(&self) -> Duration {
        self.last
            .map_or(Duration::ZERO, |(_, took)| self.spacing(took))
    }

    fn spacing(&self, took: Duration) -> Duration {
        // A factor under a thousand times an answer under ten minutes never overflows.
        Duration::try_from_secs_f64(took.as_secs_f64() * self.factor).unwrap_or(Duration::MAX)
    }
}

/// Rings when a command is on its way to the source's task, so a paced wait gives way: a
/// responder's ack never queues behind the pacing.
#[derive(Clone, Debug, Default)]
pub struct CommandBell(Arc<Notify>);

impl CommandBell {
    pub fn ring(&self) {
        self.0.notify_one();
    }

    async fn rung(&self) {
        self.0.notified().await
    }
}

/// How a source is bounded; from its config.
#[derive(Clone, Debug)]
pub struct Limits {
    pub source: String,
    /// Each backend call, the pacing wait excluded.
    pub timeout: Duration,
    pub answer_time_factor: f64,
    /// Incidents held from the source; `usize::MAX` for a source that lists none.
    pub max_incidents: usize,
    /// The configured poll interval, in seconds: pacing is reported only when it stretches it.
    pub poll_secs: f64,
}

impl Limits {
    /// The timeout the driver task should give one poll: the pacing wait plus the call, which
    /// this wrapper bounds itself. The driver's own timeout is then only a backstop.
    pub fn driver_timeout(&self) -> Duration {
        let wait = self
            .timeout
            .as_secs_f64()
            .mul_add(self.answer_time_factor.max(1.0), 1.0);
        Duration::try_from_secs_f64(self.timeout.as_secs_f64() + wait).unwrap_or(Duration::MAX)
    }
}

/// A source with its limits applied. Reports how many incidents were left out and when pacing
/// stretches the poll interval, to its reporter, before the poll's own result.
pub struct Bounded<S> {
    inner: S,
    limits: Limits,
    pace: Pace,
    clock: Clock,
    bell: CommandBell,
    report: Reporter,
    /// Last values reported, to send only changes.
    reported: (NotShown, Option<u64>),
}

impl<S> Bounded<S> {
    pub fn new(
        inner: S,
        limits: Limits,
        clock: Clock,
        bell: CommandBell,
        report: Reporter,
    ) -> Self {
        Bounded {
            pace: Pace::new(limits.answer_time_factor),
            inner,
            limits,
            clock,
            bell,
            report,
            reported: (NotShown::default(), None),
        }
    }

    fn answered(&mut self, start: Instant) {
        self.pace.record(start, start.elapsed());
        self.report_pace();
    }

    /// Tells the app when pacing stretches the poll interval (whole seconds, so a jittery
    /// answer time does not send an event every poll), so staleness is judged against it.
    fn report_pace(&mut self) {
        let paced = self.pace.min_interval().as_secs_f64();
        let stretched = (paced > self.limits.poll_secs).then(|| paced.ceil() as u64);
        if stretched != self.reported.1 {
            self.reported.1 = stretched;
            self.send(BackendEvent::Paced {
                source: self.limits.source.clone(),
                interval_secs: stretched.map(|s| s as f64),
            });
        }
    }

    fn send(&self, ev: BackendEvent) {
        // The app has quit if this fails; the driver notices on its own send.
        let _ = self.report.event(ev);
    }
}

/// Waits for the pace, or for a command, whichever comes first; then the time to poll at and
/// the instant the call starts. Free of `Bounded`, whose adapter need not be `Sync`.
async fn ready(pace: &Pace, bell: &CommandBell, clock: &Clock) -> (DateTime<Utc>, Instant) {
    let wait = pace.wait(Instant::now());
    if !wait.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = bell.rung() => {}
        }
    }
    (clock.now(), Instant::now())
}

async fn within<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    match tokio::time::timeout(limit, call).await {
        Ok(r) => r,
        Err(_) => Err(BackendError::Timeout(limit.as_secs().max(1))),
    }
}

/// Keeps the `cap` most urgent incidents, in the list's own order of urgency, and says how
/// many went.
pub fn keep_most_urgent(incidents: &mut Vec<Incident>, cap: usize) -> usize {
    let excess = incidents.len().saturating_sub(cap);
    if excess > 0 {
        let key = |i: &Incident| (i.urgency_rank(), i.id.clone());
        incidents.select_nth_unstable_by(cap, |a, b| key(a).cmp(&key(b)));
        incidents.truncate(cap);
    }
    excess
}

impl<I: IncidentSource> IncidentSource for Bounded<I> {
    fn unsupported(&self, op: &IncidentOp) -> Option<String> {
        self.inner.unsupported(op)
    }

    fn not_listed(&self) -> NotShown {
        self.reported.0
    }

    fn changes(&self) -> Option<crate::domain::change::ChangeLog> {
        self.inner.changes()
    }

    async fn list(&mut self, _now: DateTime<Utc>) -> Result<Vec<Incident>, BackendError> {
        let (now, start) = ready(&self.pace, &self.bell, &self.clock).await;
        let listed = within(self.limits.timeout, self.inner.list(now)).await;
        self.answered(start);
        let mut incidents = listed?;
        let unlisted = self.inner.not_listed();
        let dropped = keep_most_urgent(&mut incidents, self.limits.max_incidents);
        let not_shown = NotShown {
            count: unlisted.count.saturating_add(dropped as u64),
            more: unlisted.more,
        };
        if not_shown != self.reported.0 {
            self.reported.0 = not_shown;
            self.send(BackendEvent::NotShown {
                source: self.limits.source.clone(),
                not_shown,
            });
        }
        Ok(incidents)
    }

    async fn apply(
        &mut self,
        id: &IncidentId,
        op: &IncidentOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        // A command is bounded like a poll, but never paced.
        within(self.limits.timeout, self.inner.apply(id, op, author, now)).await
    }
}

impl<M: MetricsSource> MetricsSource for Bounded<M> {
    async fn fetch(&mut self, _now: DateTime<Utc>) -> Result<SignalSet, BackendError> {
        let (now, start) = ready(&self.pace, &self.bell, &self.clock).await;
        let fetched = within(self.limits.timeout, self.inner.fetch(now)).await;
        self.answered(start);
        fetched
    }

    async fn compare(
        &mut self,
        request: &crate::domain::shadow::ShadowRequest,
        now: DateTime<Utc>,
    ) -> Result<crate::domain::shadow::ShadowAnswer, BackendError> {
        // Asked by a responder with a dialog open: bounded like a poll, never paced.
        within(self.limits.timeout, self.inner.compare(request, now)).await
    }
}

impl<F: FlagControl> FlagControl for Bounded<F> {
    fn changes(&self) -> Option<crate::domain::change::ChangeLog> {
        self.inner.changes()
    }

    async fn read(&mut self, _now: DateTime<Utc>) -> Result<Vec<FeatureFlags>, BackendError> {
        let (now, start) = ready(&self.pace, &self.bell, &self.clock).await;
        let read = within(self.limits.timeout, self.inner.read(now)).await;
        self.answered(start);
        read
    }

    async fn apply(
        &mut self,
        op: &FlagOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        within(self.limits.timeout, self.inner.apply(op, author, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::report::Report;
    use crate::domain::{IncidentType, SafeText, Sev, Status};

    fn incident(n: usize, sev: Sev, status: Status) -> Incident {
        let at = chrono::Utc::now();
        Incident {
            id: format!("src:{n:05}"),
            source: "src".into(),
            kind: IncidentType::Other,
            feature: SafeText::new("f"),
            sev,
            title: SafeText::new("t"),
            status,
            triggered_at: at,
            respond_by: at + sev.response_time(),
            acked_by: None,
            acked_at: None,
            escalation_level: 0,
            firing: true,
            evidence: vec![],
            timeline: vec![],
            on_call: None,
            last_status_update: None,
            snoozed_until: None,
            assignees: Vec::new(),
        }
    }

    /// Lists the same incidents every time; counts the calls.
    struct Fixed(Vec<Incident>, usize);

    impl IncidentSource for Fixed {
        async fn list(&mut self, _: DateTime<Utc>) -> Result<Vec<Incident>, BackendError> {
            self.1 += 1;
            Ok(self.0.clone())
        }

        async fn apply(
            &mut self,
            _: &IncidentId,
            _: &IncidentOp,
            _: &str,
            _: DateTime<Utc>,
        ) -> Result<String, BackendError> {
            Ok("done".into())
        }
    }

    fn limits(max_incidents: usize, factor: f64) -> Limits {
        Limits {
            source: "src".into(),
            timeout: Duration::from_secs(5),
            answer_time_factor: factor,
            max_incidents,
            poll_secs: 10.0,
        }
    }

    #[test]
    fn the_cap_keeps_the_most_urgent() {
        let mut list: Vec<Incident> = (0..100)
            .map(|n| {
                let sev = Sev::ALL[n % 4];
                let status = if n % 3 == 0 {
                    Status::Resolved
                } else {
                    Status::Triggered
                };
                incident(n, sev, status)
            })
            .collect();
        let mut expected = list.clone();
        expected.sort_by_key(|i| (i.urgency_rank(), i.id.clone()));
        expected.truncate(10);
        assert_eq!(keep_most_urgent(&mut list, 10), 90);
        list.sort_by_key(|i| (i.urgency_rank(), i.id.clone()));
        assert_eq!(list, expected);
        assert!(list
            .iter()
            .all(|i| i.sev == Sev::Sev1 && i.status == Status::Triggered));
        assert_eq!(keep_most_urgent(&mut list, 10), 0);
    }

    #[tokio::test]
    async fn a_capped_list_reports_what_it_left_out_once() {
        let all: Vec<Incident> = (0..30)
            .map(|n| incident(n, Sev::ALL[n % 4], Status::Triggered))
            .collect();
        let (tx, mut rx) = Reporter::channel();
        let clock = Clock::new(chrono::Utc::now(), 1.0);
        let mut src = Bounded::new(
            Fixed(all, 0),
            limits(20, 1.0),
            clock,
            CommandBell::default(),
            tx,
        );
        for _ in 0..2 {
            let shown = src.list(chrono::Utc::now()).await.expect("list");
            assert_eq!(shown.len(), 20);
        }
        let mut events = Vec::new();
        while let Ok(Report::Event(ev)) = rx.try_recv() {
            events.push(ev);
        }
        assert_eq!(
            events,
            vec![BackendEvent::NotShown {
                source: "src".into(),
                not_shown: NotShown {
                    count: 10,
                    more: false
                }
            }],
            "sent when it changes, not every poll"
        );
    }

    #[tokio::test]
    async fn a_command_cuts_the_pacing_wait_short() {
        let (tx, _rx) = Reporter::channel();
        let clock = Clock::new(chrono::Utc::now(), 1.0);
        let bell = CommandBell::default();
        // A factor that would hold the second poll for hours after a one-second answer.
        let mut src = Bounded::new(Fixed(vec![], 0), limits(10, 100.0), clock, bell.clone(), tx);
        src.pace.record(Instant::now(), Duration::from_secs(100));
        assert!(src.pace.wait(Instant::now()) > Duration::from_secs(9000));
        bell.ring();
        let listed = tokio::time::timeout(Duration::from_secs(60), src.list(chrono::Utc::now()))
            .await
            .expect("the bell ends the wait");
        assert!(listed.is_ok());
        assert_eq!(src.inner.1, 1);
    }

    #[test]
    fn the_next_poll_waits_factor_times_the_answer_time_from_the_last_start() {
        let mut pace = Pace::new(4.0);
        let t0 = Instant::now();
        assert_eq!(pace.wait(t0), Duration::ZERO, "the first poll never waits");
        pace.record(t0, Duration::from_secs(2));
        assert_eq!(
            pace.wait(t0 + Duration::from_secs(2)),
            Duration::from_secs(6)
        );
        assert_eq!(pace.wait(t0 + Duration::from_secs(10)), Duration::ZERO);
        assert_eq!(pace.min_interval(), Duration::from_secs(8));
        pace.record(t0, Duration::from_millis(10));
        assert_eq!(pace.wait(t0 + Duration::from_millis(40)), Duration::ZERO);
    }

    #[test]
    fn factors_below_one_mean_no_pacing_beyond_the_answer() {
        let mut pace = Pace::new(f64::NAN);
        let t0 = Instant::now();
        pace.record(t0, Duration::from_secs(1));
        assert_eq!(pace.wait(t0 + Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(Pace::new(0.1).factor, 1.0);
    }
}
