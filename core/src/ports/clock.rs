//! Time comes from a clock that is passed in, so expiry, signatures and reports can be tested at
//! any instant.

use crate::domain::Timestamp;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(millis)
    }
}

/// A clock that stands still until told to move: for tests (the `test-support` feature).
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicI64);

#[cfg(any(test, feature = "test-support"))]
impl FixedClock {
    pub fn at(instant: Timestamp) -> Self {
        FixedClock(std::sync::atomic::AtomicI64::new(instant.as_millis()))
    }

    pub fn advance_seconds(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1000, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn set(&self, instant: Timestamp) {
        self.0.store(instant.as_millis(), std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "test-support"))]
impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}
