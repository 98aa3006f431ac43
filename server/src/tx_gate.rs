//! The transaction gate: no reader on this node sees a transaction (or a
//! write and the blocked commands it serves) half applied. Each network
//! thread has a gate of its own, which it holds shared for each whole
//! tick; apply takes every gate alone, in order, for the time of one such
//! unit.
//!
//! Invariants:
//! - A network thread only ever takes its own gate, and only shared: no
//!   lock is taken by every core on every tick, and ticks on different
//!   cores never touch the same cache line.
//! - Apply takes the gates in index order and holds them all while the
//!   unit applies, so it never deadlocks with a tick (a tick holds one).

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One network thread's gate, on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Gate(RwLock<()>);

/// Keeps network-thread ticks and transactions apart.
pub struct TxGate {
    gates: Box<[Gate]>,
}

/// Every gate, held alone by apply.
pub struct Exclusive<'a> {
    _held: Vec<RwLockWriteGuard<'a, ()>>,
}

impl TxGate {
    /// A gate for each of `executors` network threads.
    pub fn new(executors: usize) -> TxGate {
        assert!(executors > 0, "a node has a network thread");
        TxGate {
            gates: (0..executors).map(|_| Gate::default()).collect(),
        }
    }

    /// Held by network thread `executor` for one tick.
    pub fn tick(&self, executor: usize) -> RwLockReadGuard<'_, ()> {
        self.gates[executor].0.read()
    }

    /// Held by apply for one transaction, or for a write and the blocked
    /// commands it serves: waits for every tick under way to end.
    pub fn exclusive(&self) -> Exclusive<'_> {
        Exclusive {
            _held: self.gates.iter().map(|gate| gate.0.write()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn ticks_share_nothing_and_apply_waits_for_every_tick() {
        let gate = Arc::new(TxGate::new(2));
        // Two ticks at once, one per network thread, and a second reader
        // of the same gate: none waits for another.
        let first = gate.tick(0);
        let second = gate.tick(1);
        drop(gate.tick(1));
        let applied = Arc::new(AtomicBool::new(false));
        let apply = {
            let (gate, applied) = (gate.clone(), applied.clone());
            std::thread::spawn(move || {
                let _alone = gate.exclusive();
                applied.store(true, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!applied.load(Ordering::SeqCst), "applied during two ticks");
        drop(first);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!applied.load(Ordering::SeqCst), "applied during a tick");
        drop(second);
        apply.join().unwrap();
        assert!(applied.load(Ordering::SeqCst));
    }
}
