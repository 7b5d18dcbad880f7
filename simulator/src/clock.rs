//! Simulated time.
//!
//! The device model and the firmware never read a clock; the drivers ask a
//! [`Clock`] for the simulated "now" and pass it in. [`AcceleratedClock`]
//! runs simulated time faster than real time (`--speed 3600`: one simulated
//! hour per real second); [`ManualClock`] only moves when a test moves it.

use std::sync::Mutex;

use chrono::TimeDelta;
use ppu_protocol::Timestamp;

/// A source of simulated time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current simulated instant.
    fn now(&self) -> Timestamp;
}

/// Simulated time = start + speed x real time elapsed since creation.
#[derive(Debug, Clone)]
pub struct AcceleratedClock {
    /// Simulated instant at creation.
    sim_start: Timestamp,
    /// Real instant at creation (tokio's, so paused-time tests can drive it).
    real_start: tokio::time::Instant,
    /// Simulated seconds per real second.
    speed: f64,
}

impl AcceleratedClock {
    /// A clock starting at `sim_start` and running `speed` times faster than real time.
    pub fn new(sim_start: Timestamp, speed: f64) -> Self {
        Self {
            sim_start,
            real_start: tokio::time::Instant::now(),
            speed: speed.max(0.0),
        }
    }

    /// Simulated seconds per real second.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// How much real time passes while `sim` passes in simulation.
    pub fn real_duration(&self, sim: TimeDelta) -> std::time::Duration {
        let secs = sim.as_seconds_f64() / self.speed.max(f64::MIN_POSITIVE);
        std::time::Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(std::time::Duration::MAX)
    }
}

impl Clock for AcceleratedClock {
    fn now(&self) -> Timestamp {
        let real = self.real_start.elapsed().as_secs_f64();
        let sim_ms = (real * self.speed * 1_000.0) as i64;
        self.sim_start + TimeDelta::milliseconds(sim_ms)
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Move to `to` (never backwards: earlier instants are ignored).
    pub fn set(&self, to: Timestamp) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if to > *now {
            *now = to;
        }
    }

    /// Move forward by `by`.
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[tokio::test(start_paused = true)]
    async fn accelerated_clock_runs_speed_times_faster() {
        let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let clock = AcceleratedClock::new(start, 3_600.0);
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        assert_eq!(clock.now(), start + TimeDelta::hours(2));
        assert_eq!(
            clock.real_duration(TimeDelta::hours(3)),
            std::time::Duration::from_secs(3)
        );
    }

    #[test]
    fn manual_clock_never_goes_back() {
        let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        clock.advance(TimeDelta::minutes(5));
        clock.set(start);
        assert_eq!(clock.now(), start + TimeDelta::minutes(5));
    }
}
