//! Time, injected: the collector never calls `Utc::now()` or sleeps directly.
//!
//! The run loop, the spool's backoff and every timestamp in a payload come
//! from a [`Clock`]. Production uses [`SystemClock`]; tests use
//! [`ManualClock`] to live through days of poll cycles (and a hub outage)
//! in seconds.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A boxed future returned by [`Clock::sleep_until`].
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A source of the current time that can also wait.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Complete once the clock shows `deadline` or later.
    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_>;
    /// The real time, for envelope timestamps: the hub checks them against
    /// its own clock (PROTOCOL.md 8). The same as [`Clock::now`] except for
    /// a clock that runs faster than real time (the demo's simulated sites),
    /// whose payloads carry simulated time but whose envelopes must not.
    fn wall_now(&self) -> DateTime<Utc> {
        self.now()
    }
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        Box::pin(async move {
            let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
        })
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<tokio::sync::watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(tokio::sync::watch::Sender::new(start)),
        }
    }

    /// Move the clock to `to` (never backwards), waking sleepers that are due.
    pub fn set(&self, to: DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            let moved = to > *now;
            if moved {
                *now = to;
            }
            moved
        });
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let to = *self.now.borrow() + by;
        self.set(to);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: DateTime<Utc>) -> Sleep<'_> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as `self`, so `wait_for` only ends
            // when the deadline is reached.
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced() {
        let start = Utc::now();
        let clock = ManualClock::new(start);
        let c2 = clock.clone();
        let sleeper = tokio::spawn(async move {
            c2.sleep_until(start + chrono::Duration::hours(3)).await;
            c2.now()
        });
        tokio::task::yield_now().await;
        clock.advance(chrono::Duration::hours(1));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(chrono::Duration::hours(2));
        assert_eq!(sleeper.await.unwrap(), start + chrono::Duration::hours(3));
        clock.set(start);
        assert_eq!(
            clock.now(),
            start + chrono::Duration::hours(3),
            "never backwards"
        );
    }
}
