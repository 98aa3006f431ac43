//! The transaction gate: no reader on this node sees a transaction (or a
//! write and the blocked commands it serves) half applied. A network
//! thread holds it shared for each whole tick; apply takes it alone for
//! the time of one such unit.

use parking_lot::RwLock;

/// Keeps network-thread ticks and transactions apart. Ticks share it; a transaction takes it alone.
#[derive(Default)]
pub struct TxGate(RwLock<()>);

impl TxGate {
    /// Held by a network thread for one tick.
    pub fn tick(&self) -> parking_lot::RwLockReadGuard<'_, ()> {
        self.0.read()
    }

    /// Held by apply for one transaction, or for a write and the blocked
    /// commands it serves.
    pub fn exclusive(&self) -> parking_lot::RwLockWriteGuard<'_, ()> {
        self.0.write()
    }
}
