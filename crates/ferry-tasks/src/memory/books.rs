//! The embedded engine's bookkeeping of ended tasks: which expire when, which each
//! owner keeps, and one shared copy of each task kind and name.
//!
//! Tasks end roughly in time order and most share a TTL, so the ended tasks of one
//! TTL expire in the order they ended: a queue per TTL, appended at its back, is
//! kept in order at no cost, where one ordered set of all of them paid a tree
//! search and a node per entry. The soonest head of the queues says what is due.

use crate::shrink::Shrink;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// `(time, seq)` pairs in ascending order. Appending in order is O(1); an entry out of
/// order (a clock that stepped back) or a removal is found by binary search.
#[derive(Default)]
pub(super) struct Ordered(VecDeque<(u64, u64)>);

impl Ordered {
    pub(super) fn insert(&mut self, item: (u64, u64)) {
        match self.0.back() {
            Some(last) if *last > item => {
                let at = self.0.partition_point(|x| *x < item);
                self.0.insert(at, item);
            }
            _ => self.0.push_back(item),
        }
    }

    /// Remove `item`; whether it was there.
    pub(super) fn remove(&mut self, item: (u64, u64)) -> bool {
        match self.0.binary_search(&item) {
            Ok(at) => self.0.remove(at).is_some(),
            Err(_) => false,
        }
    }

    pub(super) fn first(&self) -> Option<(u64, u64)> {
        self.0.front().copied()
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn shrink(&mut self) {
        self.0.shrink();
    }
}

/// Ended tasks by when they expire (their TTL after they ended), one queue per TTL.
#[derive(Default)]
pub(super) struct Expiry {
    /// Per TTL (ms): (expires at, seq), soonest first. No empty queue is kept.
    queues: HashMap<u64, Ordered>,
    /// The head of each queue: (expires at, TTL), soonest first.
    heads: BTreeSet<(u64, u64)>,
}

impl Expiry {
    pub(super) fn insert(&mut self, ttl: u64, at: u64, seq: u64) {
        let queue = self.queues.entry(ttl).or_default();
        let before = queue.first();
        queue.insert((at, seq));
        let after = queue.first();
        self.moved(ttl, before, after);
    }

    pub(super) fn remove(&mut self, ttl: u64, at: u64, seq: u64) {
        let Some(queue) = self.queues.get_mut(&ttl) else { return };
        let before = queue.first();
        if !queue.remove((at, seq)) {
            return;
        }
        let after = queue.first();
        if after.is_none() {
            self.queues.remove(&ttl);
        }
        self.moved(ttl, before, after);
    }

    /// Take the seq of a task whose time has come at `now`, if any.
    pub(super) fn pop_due(&mut self, now: u64) -> Option<u64> {
        let &(at, ttl) = self.heads.first()?;
        if at > now {
            return None;
        }
        let (_, seq) = self.queues.get(&ttl)?.first()?;
        self.remove(ttl, at, seq);
        Some(seq)
    }

    /// Keep `heads` in step with a queue whose head went from `before` to `after`.
    fn moved(&mut self, ttl: u64, before: Option<(u64, u64)>, after: Option<(u64, u64)>) {
        if before == after {
            return;
        }
        if let Some((at, _)) = before {
            self.heads.remove(&(at, ttl));
        }
        if let Some((at, _)) = after {
            self.heads.insert((at, ttl));
        }
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.queues.is_empty() && self.heads.is_empty()
    }

    pub(super) fn shrink(&mut self) {
        self.queues.shrink();
        self.queues.values_mut().for_each(Ordered::shrink);
    }
}

/// Most distinct kinds and names shared; past it new ones are kept per task.
const MAX_NAMES: usize = 4096;

/// One shared copy of each task kind and name (`tools/call`, `add`) the store holds.
#[derive(Default)]
pub(super) struct Names(HashSet<Arc<str>>);

impl Names {
    /// The shared copy of `name`.
    pub(super) fn intern(&mut self, name: &Arc<str>) -> Arc<str> {
        if let Some(known) = self.0.get(&**name) {
            return known.clone();
        }
        if self.0.len() < MAX_NAMES {
            self.0.insert(name.clone());
        }
        name.clone()
    }

    /// Forget the names no task holds any more.
    pub(super) fn sweep(&mut self) {
        self.0.retain(|name| Arc::strong_count(name) > 1);
        self.0.shrink();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_keeps_its_order_whatever_the_insertion_order() {
        let mut o = Ordered::default();
        for item in [(5, 1), (7, 2), (6, 3), (1, 4), (7, 0)] {
            o.insert(item);
        }
        assert_eq!(o.0.iter().copied().collect::<Vec<_>>(), [(1, 4), (5, 1), (6, 3), (7, 0), (7, 2)]);
        assert!(o.remove((6, 3)) && !o.remove((6, 3)));
        assert_eq!(o.first(), Some((1, 4)));
        assert_eq!(o.len(), 4);
    }

    #[test]
    fn expiry_gives_the_due_tasks_soonest_first_across_ttls() {
        let mut e = Expiry::default();
        e.insert(1_000, 1_100, 1); // ended at 100
        e.insert(50, 200, 2); // ended at 150
        e.insert(1_000, 1_200, 3);
        e.insert(50, 250, 4);
        e.remove(50, 200, 2);
        e.remove(50, 999, 9); // not there: nothing happens
        assert_eq!(e.pop_due(100), None);
        assert_eq!(e.pop_due(1_150), Some(4));
        assert_eq!(e.pop_due(1_150), Some(1));
        assert_eq!(e.pop_due(1_150), None);
        assert_eq!(e.pop_due(u64::MAX), Some(3));
        assert!(e.is_empty(), "no queue or head is left behind");
    }

    #[test]
    fn names_are_shared_and_forgotten_once_unused() {
        let mut names = Names::default();
        let a = names.intern(&Arc::from("add"));
        let b = names.intern(&Arc::from("add"));
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        names.sweep();
        assert!(names.0.is_empty());
    }
}
