//! Each caller's share of the CPU-bound work (key generation, signing): a
//! caller holds at most a few of the global permits at once, so one caller
//! asking for many expensive keys cannot make every other caller wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::authz::Creator;

/// Entries kept before idle ones are dropped (each is a few dozen bytes).
const PRUNE_ABOVE: usize = 1024;

pub struct CallerSlots {
    per_caller: usize,
    slots: Mutex<HashMap<Creator, Arc<Semaphore>>>,
}

impl CallerSlots {
    pub fn new(per_caller: usize) -> Self {
        CallerSlots {
            per_caller: per_caller.max(1),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for one of `caller`'s slots; the slot is free again when the
    /// permit is dropped.
    pub async fn acquire(&self, caller: Creator) -> OwnedSemaphorePermit {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            if slots.len() > PRUNE_ABOVE {
                // A slot nobody holds a permit of (nor waits on) is idle.
                slots.retain(|_, s| Arc::strong_count(s) > 1);
            }
            Arc::clone(
                slots
                    .entry(caller)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_caller))),
            )
        };
        // Never closed: acquiring cannot fail.
        match slot.acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => unreachable!("caller slots are never closed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_waits_for_its_own_slots_only() {
        let slots = CallerSlots::new(2);
        let a = Creator::User(1);
        let _a1 = slots.acquire(a).await;
        let _a2 = slots.acquire(a).await;
        // A third for the same caller waits...
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), slots.acquire(a));
        assert!(third.await.is_err());
        // ...while another caller gets one at once.
        let other = slots.acquire(Creator::ServiceAccount(1));
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), other)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn idle_slots_are_pruned() {
        let slots = CallerSlots::new(1);
        for id in 0..(PRUNE_ABOVE as i64 + 10) {
            drop(slots.acquire(Creator::User(id)).await);
        }
        let len = slots.slots.lock().unwrap().len();
        assert!(len <= PRUNE_ABOVE + 1, "{len}");
    }
}
