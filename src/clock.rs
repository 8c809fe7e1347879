use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

/// The cockpit's notion of "now". On the simulated fleet it runs `speed` times faster than the
/// wall clock so drills compress an hour into minutes; every countdown and every backend uses
/// the same clock, so they agree.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin_wall: Instant,
    origin: DateTime<Utc>,
    speed: f64,
}

impl Clock {
    pub fn new(origin: DateTime<Utc>, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Clock {
            origin_wall: Instant::now(),
            origin,
            speed,
        }
    }

    pub fn origin(&self) -> DateTime<Utc> {
        self.origin
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = self.origin_wall.elapsed().as_secs_f64() * self.speed;
        self.origin + Duration::milliseconds((elapsed * 1000.0) as i64)
    }
}
