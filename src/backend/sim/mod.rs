//! The embedded simulated AI fleet: the default backend, so a new responder sees live
//! incidents with no configuration. It implements the same traits as the real adapters.

mod levers;
pub mod rng;
mod samples;
pub mod spec;
pub mod telemetry;
mod world;

pub use levers::Change as LeverChange;
pub use spec::FleetSpec;
pub use world::SimWorld;

use super::{BackendError, FeatureFlags, FlagControl, FlagOp, MetricsSource, SampleSource};
use crate::domain::sample::{SampleBatch, SampleQuery};
use crate::domain::shadow::{ShadowAnswer, ShadowRequest};
use crate::domain::SignalSet;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Clone, Debug)]
pub struct Sim(Arc<Mutex<SimWorld>>);

impl Sim {
    pub fn new(spec: FleetSpec, seed: u64, origin: DateTime<Utc>) -> Result<Self, String> {
        Ok(Sim(Arc::new(Mutex::new(SimWorld::new(
            spec, seed, origin,
        )?))))
    }

    fn lock(&self) -> MutexGuard<'_, SimWorld> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn metrics(&self) -> SimMetrics {
        SimMetrics(self.clone())
    }

    pub fn flags(&self) -> SimFlags {
        SimFlags(self.clone())
    }

    pub fn samples(&self) -> SimSamples {
        SimSamples(self.clone())
    }
}

pub struct SimMetrics(Sim);
pub struct SimFlags(Sim);
pub struct SimSamples(Sim);

impl SampleSource for SimSamples {
    async fn samples(&mut self, query: &SampleQuery) -> Result<SampleBatch, BackendError> {
        let mut world = self.0.lock();
        world.advance_to(query.to);
        world
            .samples(&query.feature, query.from, query.to, query.limit)
            .map(SampleBatch::from)
            .map_err(BackendError::Rejected)
    }
}

impl MetricsSource for SimMetrics {
    async fn fetch(&mut self, now: DateTime<Utc>) -> Result<SignalSet, BackendError> {
        let mut world = self.0.lock();
        world.advance_to(now);
        Ok(world.snapshot())
    }

    async fn compare(
        &mut self,
        request: &ShadowRequest,
        now: DateTime<Utc>,
    ) -> Result<ShadowAnswer, BackendError> {
        let mut world = self.0.lock();
        world.advance_to(now);
        world.compare(request).map_err(BackendError::Rejected)
    }
}

impl FlagControl for SimFlags {
    async fn read(&mut self, now: DateTime<Utc>) -> Result<Vec<FeatureFlags>, BackendError> {
        let mut world = self.0.lock();
        world.advance_to(now);
        Ok(world.flags())
    }

    async fn apply(
        &mut self,
        op: &FlagOp,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BackendError> {
        let mut world = self.0.lock();
        // Apply the lever at the moment it was pulled, not at the next poll.
        world.advance_to(now);
        let r = match op {
            FlagOp::Rollback {
                feature,
                to_version,
            } => world.rollback(feature, to_version),
            FlagOp::KillSwitch {
                feature,
                segment,
                engage,
            } => world.kill_switch(feature, segment.as_deref(), *engage),
            FlagOp::SetLever {
                feature,
                lever,
                segment,
                variant,
                undo: _,
            } => world.set_lever(levers::Change {
                feature,
                lever: *lever,
                segment: segment.as_deref(),
                variant,
                author,
            }),
        };
        r.map_err(BackendError::Rejected)
    }
}
