//! Waiting for one task to change.
//!
//! The backend's event stream carries every task's changes; one forwarder
//! (`tasks::forward_events`) reads it and wakes only the waiters of the task that
//! changed, so a thousand blocked `tasks/result` calls cost nothing while other
//! tasks run.

use crate::session::lock;
use ferry_tasks::TaskRecord;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What woke a waiter.
#[derive(Clone, Debug)]
pub(crate) enum Wake {
    /// Not woken yet.
    Nothing,
    /// The task's new state (shared with the event that brought it).
    Changed(Arc<TaskRecord>),
    /// Events may have been missed: read the task again.
    Recheck,
}

/// Waiters by task id.
#[derive(Default)]
pub(crate) struct Watchers {
    tasks: Mutex<HashMap<String, (watch::Sender<Wake>, usize)>>,
}

impl Watchers {
    /// Start waiting for changes of `task_id` (register before reading the task, so
    /// that no change in between is missed).
    pub fn watch(self: &Arc<Self>, task_id: &str) -> Watch {
        let mut tasks = lock(&self.tasks);
        let (tx, count) = tasks.entry(task_id.to_string()).or_insert_with(|| (watch::channel(Wake::Nothing).0, 0));
        *count += 1;
        Watch { watchers: self.clone(), task_id: task_id.to_string(), rx: tx.subscribe() }
    }

    /// Wake the waiters of this record's task, if any.
    pub fn changed(&self, rec: &Arc<TaskRecord>) {
        if let Some((tx, _)) = lock(&self.tasks).get(&rec.id) {
            tx.send_replace(Wake::Changed(rec.clone()));
        }
    }

    /// Wake every waiter to read its task again (events were lost).
    pub fn recheck_all(&self) {
        for (tx, _) in lock(&self.tasks).values() {
            tx.send_replace(Wake::Recheck);
        }
    }

    /// How many tasks have waiters.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.tasks).len()
    }
}

/// A registered waiter; unregisters when dropped.
pub(crate) struct Watch {
    watchers: Arc<Watchers>,
    task_id: String,
    rx: watch::Receiver<Wake>,
}

impl Watch {
    /// The next wake-up.
    pub async fn changed(&mut self) -> Wake {
        match self.rx.changed().await {
            Ok(()) => self.rx.borrow_and_update().clone(),
            // The registry never drops a sender with waiters; read again to be safe.
            Err(_) => Wake::Recheck,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut tasks = lock(&self.watchers.tasks);
        if let Some((_, count)) = tasks.get_mut(&self.task_id) {
            *count -= 1;
            if *count == 0 {
                tasks.remove(&self.task_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_waiters_of_the_changed_task_wake() {
        let watchers = Arc::new(Watchers::default());
        let mut a = watchers.watch("a");
        let mut b = watchers.watch("b");
        watchers.changed(&Arc::new(TaskRecord::new("o", "tools/call", "x", 0))); // some other task
        let rec = {
            let mut r = TaskRecord::new("o", "tools/call", "x", 0);
            r.id = "a".into();
            Arc::new(r)
        };
        watchers.changed(&rec);
        assert!(matches!(a.changed().await, Wake::Changed(r) if r.id == "a"));
        assert!(!b.rx.has_changed().unwrap_or(true), "b was not woken");
        watchers.recheck_all();
        assert!(matches!(b.changed().await, Wake::Recheck));
        drop(a);
        drop(b);
        assert_eq!(watchers.len(), 0, "the registry empties");
    }
}
