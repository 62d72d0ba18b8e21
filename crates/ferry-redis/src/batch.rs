//! Group commit: the Redis work of several concurrent operations of one kind (submissions,
//! record swaps) in one script call, with no added wait.
//!
//! Each lane (one set of keys: today the deployment's, later one per partition) has at most
//! [`MAX_IN_FLIGHT`] calls out at a time. An operation that finds a free slot is sent at
//! once, alone; one that arrives while the slots are busy waits in the lane's queue, and
//! when a call returns, everything queued meanwhile (at most [`MAX_BATCH`]) goes out
//! together as the next call. Under light load a batch is one operation, as before; under
//! load the batches grow with the concurrency, and so does what a script call amortizes.
//!
//! A batch is sent by a task of its own, so a caller that stops waiting (a dropped
//! request) neither blocks the lane nor loses the others' answers. Each operation gets its
//! own answer; when the whole call fails, each gets the error.

use async_trait::async_trait;
use ferry_tasks::BackendError;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Most operations in one script call (its KEYS and ARGV grow with it).
pub(crate) const MAX_BATCH: usize = 64;
/// Most script calls of one lane out at a time. One: while a call is out, the next
/// operations gather; Redis runs scripts one after the other anyway.
pub(crate) const MAX_IN_FLIGHT: usize = 1;

/// Sends one batch: the answers, one per operation and in order, or an error for all.
#[async_trait]
pub(crate) trait Flush<L, T, R>: Send + Sync + 'static {
    /// Run `items` (all of lane `lane`) in one call.
    async fn flush(&self, lane: &L, items: &[T]) -> Result<Vec<R>, BackendError>;
}

type Waiter<T, R> = (T, oneshot::Sender<Result<R, BackendError>>);

/// Operations waiting for their lane, per lane.
pub(crate) struct Coalescer<L, T, R> {
    lanes: Mutex<HashMap<L, Lane<T, R>>>,
}

struct Lane<T, R> {
    in_flight: usize,
    queue: VecDeque<Waiter<T, R>>,
}

impl<L, T, R> Default for Coalescer<L, T, R> {
    fn default() -> Self {
        Self { lanes: Mutex::new(HashMap::new()) }
    }
}

impl<L, T, R> Coalescer<L, T, R>
where
    L: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + 'static,
    R: Send + 'static,
{
    /// Run `item` in lane `lane`: at once when a slot is free, else with the next batch.
    pub(crate) async fn run<F: Flush<L, T, R> + Clone>(
        self: &Arc<Self>,
        flush: &F,
        lane: L,
        item: T,
    ) -> Result<R, BackendError> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let l = lanes.entry(lane.clone()).or_insert_with(|| Lane { in_flight: 0, queue: VecDeque::new() });
            if l.in_flight < MAX_IN_FLIGHT {
                // Nothing waits: a full lane's queue is emptied by the call that returns.
                l.in_flight += 1;
                Some(vec![(item, tx)])
            } else {
                l.queue.push_back((item, tx));
                None
            }
        };
        if let Some(batch) = start {
            tokio::spawn(Arc::clone(self).drive(flush.clone(), lane, batch));
        }
        rx.await.unwrap_or_else(|_| Err(BackendError::Unavailable("a batched Redis call was dropped".into())))
    }

    /// Send `batch`, answer it, then send what queued meanwhile until the queue is empty.
    async fn drive<F: Flush<L, T, R>>(self: Arc<Self>, flush: F, lane: L, mut batch: Vec<Waiter<T, R>>) {
        let mut slot = Slot { coalescer: &self, lane: &lane, held: true };
        loop {
            let (items, senders): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
            match flush.flush(&lane, &items).await {
                Ok(answers) if answers.len() == senders.len() => {
                    for (tx, answer) in senders.into_iter().zip(answers) {
                        let _ = tx.send(Ok(answer));
                    }
                }
                Ok(answers) => {
                    let e = format!("a batch of {} got {} answers", senders.len(), answers.len());
                    for tx in senders {
                        let _ = tx.send(Err(BackendError::Corrupt(e.clone())));
                    }
                }
                Err(e) => {
                    for tx in senders {
                        let _ = tx.send(Err(same_error(&e)));
                    }
                }
            }
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let Some(l) = lanes.get_mut(&lane) else { return };
            if l.queue.is_empty() {
                slot.held = false;
                l.in_flight -= 1;
                if l.in_flight == 0 {
                    lanes.remove(&lane);
                }
                return;
            }
            let n = l.queue.len().min(MAX_BATCH);
            batch = l.queue.drain(..n).collect();
        }
    }
}

/// A lane's slot taken by a running [`Coalescer::drive`]. Should the drive stop before it
/// gives the slot back (its runtime shut down), dropping this frees the slot and answers
/// what waits in the queue with an error (each caller's retry starts afresh): a lane is
/// never left waiting for a call nobody makes.
struct Slot<'a, L: Hash + Eq, T, R> {
    coalescer: &'a Coalescer<L, T, R>,
    lane: &'a L,
    held: bool,
}

impl<L: Hash + Eq, T, R> Drop for Slot<'_, L, T, R> {
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        let mut lanes = self.coalescer.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = lanes.get_mut(self.lane) {
            l.in_flight = l.in_flight.saturating_sub(1);
            l.queue.clear();
            if l.in_flight == 0 {
                lanes.remove(self.lane);
            }
        }
    }
}

/// The error of a whole batch, for each of its operations.
fn same_error(e: &BackendError) -> BackendError {
    match e {
        BackendError::Corrupt(m) => BackendError::Corrupt(m.clone()),
        BackendError::Unavailable(m) => BackendError::Unavailable(m.clone()),
        other => BackendError::Unavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Answers each item doubled, slowly, and records the batch sizes.
    #[derive(Clone, Default)]
    struct Doubler(Arc<Mutex<Vec<usize>>>, Arc<AtomicUsize>);

    #[async_trait]
    impl Flush<u8, u32, u32> for Doubler {
        async fn flush(&self, _lane: &u8, items: &[u32]) -> Result<Vec<u32>, BackendError> {
            let out = self.1.fetch_add(1, Ordering::SeqCst);
            assert_eq!(out, 0, "two calls of one lane out at once");
            self.0.lock().unwrap().push(items.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.1.fetch_sub(1, Ordering::SeqCst);
            if items.contains(&13) {
                return Err(BackendError::Unavailable("thirteen".into()));
            }
            Ok(items.iter().map(|i| i * 2).collect())
        }
    }

    /// Never answers (a call cut off by its runtime's shutdown).
    #[derive(Clone)]
    struct Hangs;

    #[async_trait]
    impl Flush<u8, u32, u32> for Hangs {
        async fn flush(&self, _lane: &u8, _items: &[u32]) -> Result<Vec<u32>, BackendError> {
            std::future::pending().await
        }
    }

    #[test]
    fn a_call_cut_off_by_its_runtime_leaves_the_lane_usable() {
        let coalescer: Arc<Coalescer<u8, u32, u32>> = Arc::default();
        let first = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        first.block_on(async {
            let (c1, c2) = (coalescer.clone(), coalescer.clone());
            tokio::spawn(async move { c1.run(&Hangs, 0, 1).await });
            tokio::spawn(async move { c2.run(&Hangs, 0, 2).await });
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        drop(first);
        let second = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let answer = second.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), coalescer.run(&Doubler::default(), 0, 3)).await
        });
        assert_eq!(answer.expect("the lane was left waiting for a call nobody makes").unwrap(), 6);
    }

    #[tokio::test]
    async fn operations_arriving_during_a_call_go_together_and_each_gets_its_answer() {
        let coalescer: Arc<Coalescer<u8, u32, u32>> = Arc::default();
        let flush = Doubler::default();
        let first = {
            let (c, f) = (coalescer.clone(), flush.clone());
            tokio::spawn(async move { c.run(&f, 0, 1).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut rest = Vec::new();
        for i in 2..=100u32 {
            let (c, f) = (coalescer.clone(), flush.clone());
            rest.push((i, tokio::spawn(async move { c.run(&f, 0, i).await })));
        }
        assert_eq!(first.await.unwrap().unwrap(), 2);
        for (i, answer) in rest {
            match answer.await.unwrap() {
                Ok(v) => assert_eq!(v, i * 2),
                Err(e) => assert!(e.to_string().contains("thirteen"), "{e}"),
            }
        }
        // Alone at once, then the 99 that queued in batches of at most MAX_BATCH.
        let sizes = flush.0.lock().unwrap().clone();
        assert_eq!(sizes, vec![1, MAX_BATCH, 99 - MAX_BATCH]);
        assert!(coalescer.lanes.lock().unwrap().is_empty(), "an idle lane is forgotten");
    }
}
