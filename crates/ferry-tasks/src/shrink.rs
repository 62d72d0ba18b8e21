//! Giving back the space of tables that a burst of tasks grew.
//!
//! Hash maps and queues keep their largest capacity for good: after a burst of
//! tens of thousands of tasks the embedded engine's task table alone (416 bytes
//! a slot) held over 50 MB of empty slots for the life of the process. The sweep
//! shrinks a table that has fallen well below its capacity, leaving room to grow
//! several times over, so a steady load neither shrinks nor regrows it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// Queues and lists of at most this capacity are left alone (not worth a reallocation).
pub(crate) const MIN_CAPACITY: usize = 1024;

/// A table whose unused capacity can be given back.
pub(crate) trait Shrink {
    /// Give back capacity that is well beyond what the entries held need.
    fn shrink(&mut self);
}

impl<K: Eq + Hash, V> Shrink for HashMap<K, V> {
    /// Keep room for four times the entries: the map reallocates only when its
    /// slots exceed what that needs (fewer than about a ninth of them in use),
    /// and an empty map gives back everything.
    fn shrink(&mut self) {
        self.shrink_to(self.len().saturating_mul(4));
    }
}

impl<T: Eq + Hash> Shrink for HashSet<T> {
    /// As a map: room for four times the entries.
    fn shrink(&mut self) {
        self.shrink_to(self.len().saturating_mul(4));
    }
}

/// Shrink a queue or list holding a quarter of its capacity or less to twice its length.
fn shrink_seq(len: usize, capacity: usize, shrink_to: impl FnOnce(usize)) {
    if capacity > MIN_CAPACITY && len <= capacity / 4 {
        shrink_to(len * 2);
    }
}

impl<T> Shrink for VecDeque<T> {
    fn shrink(&mut self) {
        shrink_seq(self.len(), self.capacity(), |n| self.shrink_to(n));
    }
}

impl<T> Shrink for Vec<T> {
    fn shrink(&mut self) {
        shrink_seq(self.len(), self.capacity(), |n| self.shrink_to(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_map_gives_its_space_back() {
        let mut m: HashMap<u64, [u8; 64]> = (0..100_000).map(|i| (i, [0; 64])).collect();
        m.retain(|k, _| *k < 10);
        m.shrink();
        assert!(m.capacity() <= 64, "capacity {}", m.capacity());
        assert_eq!(m.len(), 10);
        m.clear();
        m.shrink();
        assert_eq!(m.capacity(), 0);
    }

    #[test]
    fn a_map_in_steady_use_is_left_alone() {
        let mut m: HashMap<u64, u64> = (0..40_000).map(|i| (i, i)).collect();
        m.retain(|k, _| *k < 10_000); // a quarter: a steady load's ups and downs
        let capacity = m.capacity();
        m.shrink();
        assert_eq!(m.capacity(), capacity, "not reallocated");
        // Shrinking leaves room to grow, so the next sweep does not shrink again.
        m.retain(|k, _| *k < 1_000);
        m.shrink();
        let capacity = m.capacity();
        assert!(capacity >= 4_000, "capacity {capacity}");
        m.shrink();
        assert_eq!(m.capacity(), capacity);
    }

    #[test]
    fn queues_and_lists() {
        let mut q: VecDeque<u64> = (0..50_000).collect();
        q.drain(..49_990);
        q.shrink();
        assert!(q.capacity() < MIN_CAPACITY, "capacity {}", q.capacity());
        let mut v: Vec<u64> = (0..50_000).collect();
        v.truncate(20_000);
        v.shrink();
        assert_eq!(v.capacity(), 50_000, "well used: left alone");
        v.truncate(3);
        v.shrink();
        assert!(v.capacity() < MIN_CAPACITY);
        let mut small: Vec<u64> = Vec::with_capacity(MIN_CAPACITY);
        small.shrink();
        assert_eq!(small.capacity(), MIN_CAPACITY, "small: not worth it");
    }
}
