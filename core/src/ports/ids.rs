//! Fresh identifiers: ULIDs from the injected clock, monotonic within a process so that ids minted
//! in the same millisecond still sort in the order they were minted.

use super::Clock;
use std::sync::{Arc, Mutex};
use ulid::{Generator, Ulid};

pub trait IdGenerator: Send + Sync {
    fn next_id(&self) -> Ulid;
}

pub struct UlidGenerator {
    clock: Arc<dyn Clock>,
    generator: Mutex<Generator>,
}

impl UlidGenerator {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        UlidGenerator {
            clock,
            generator: Mutex::new(Generator::new()),
        }
    }
}

impl IdGenerator for UlidGenerator {
    fn next_id(&self) -> Ulid {
        let millis = u64::try_from(self.clock.now().as_millis()).unwrap_or(0);
        let instant = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis);
        // A poisoned lock only means another thread panicked mid-call; the generator's state is a
        // plain value and still sound.
        let mut generator = self.generator.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The monotonic generator fails only when 2^80 ids were minted in one millisecond; a
        // fresh random id is then still unique, just not ordered within that millisecond.
        generator
            .generate_from_datetime(instant)
            .unwrap_or_else(|_| Ulid::from_datetime(instant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;
    use crate::ports::FixedClock;

    #[test]
    fn ids_minted_in_one_millisecond_still_sort_in_minting_order() {
        let ids = UlidGenerator::new(Arc::new(FixedClock::at(Timestamp::from_millis(1_700_000_000_000))));
        let minted: Vec<String> = (0..1000).map(|_| ids.next_id().to_string()).collect();
        let mut sorted = minted.clone();
        sorted.sort();
        assert_eq!(minted, sorted);
        assert_eq!(ids.next_id().timestamp_ms(), 1_700_000_000_000);
    }
}
