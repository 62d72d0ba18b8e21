//! The way a request's handler reaches its client before it answers.
//!
//! Over stdio that is the connection's writer, which exists anyway. Over HTTP it is the
//! POST's own response, which turns into an SSE stream only when the handler sends
//! something before its answer: most calls never do, so the channel is made on the
//! first message ([`Outbound::lazy`]) instead of for every POST.

use crate::session::lock;
use ferry_protocol::Message;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Notify};

/// Where a handler's messages go before its answer.
#[derive(Clone)]
pub(crate) enum Outbound {
    /// A channel that is open from the start (stdio).
    Open(mpsc::UnboundedSender<Message>),
    /// An HTTP POST's: the channel is made on the first send, and its receiver goes to
    /// the POST ([`Receiving::opened`]).
    Lazy(Arc<Lazy>),
}

/// A channel made on its first message.
pub(crate) struct Lazy {
    state: Mutex<State>,
    /// Signalled when the state changes (opened, or the receiving end gone).
    changed: Notify,
}

enum State {
    /// Nothing sent yet; the receiving end is there.
    Waiting,
    /// Sent to; the receiver until the receiving end takes it.
    Open { tx: mpsc::UnboundedSender<Message>, rx: Option<mpsc::UnboundedReceiver<Message>> },
    /// The receiving end went away before taking the receiver.
    Gone,
}

impl Outbound {
    /// A channel made on the first send, and its receiving end.
    pub fn lazy() -> (Self, Receiving) {
        let lazy = Arc::new(Lazy { state: Mutex::new(State::Waiting), changed: Notify::new() });
        (Outbound::Lazy(lazy.clone()), Receiving(lazy))
    }

    /// Send a message; `false` when nobody can receive it any more.
    pub fn send(&self, msg: Message) -> bool {
        match self {
            Outbound::Open(tx) => tx.send(msg).is_ok(),
            Outbound::Lazy(lazy) => lazy.send(msg),
        }
    }

    /// Completes once nobody can receive what is sent.
    pub async fn closed(&self) {
        match self {
            Outbound::Open(tx) => tx.closed().await,
            Outbound::Lazy(lazy) => lazy.closed().await,
        }
    }
}

impl Lazy {
    fn send(&self, msg: Message) -> bool {
        let mut state = lock(&self.state);
        match &*state {
            State::Open { tx, .. } => return tx.send(msg).is_ok(),
            State::Gone => return false,
            State::Waiting => {}
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let sent = tx.send(msg).is_ok(); // the receiver is right here: always sent
        *state = State::Open { tx, rx: Some(rx) };
        drop(state);
        self.changed.notify_waiters();
        sent
    }

    async fn closed(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let open = match &*lock(&self.state) {
                State::Open { tx, .. } => Some(tx.clone()),
                State::Gone => return,
                State::Waiting => None,
            };
            match open {
                Some(tx) => return tx.closed().await,
                None => changed.await,
            }
        }
    }
}

/// The receiving end of a lazy channel (the POST). Dropping it before it took the
/// receiver ends the channel: sends fail, `closed` completes.
pub(crate) struct Receiving(Arc<Lazy>);

impl Receiving {
    /// The receiver, once the first message was sent (that message is in it).
    pub async fn opened(&self) -> mpsc::UnboundedReceiver<Message> {
        loop {
            let changed = self.0.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(rx) = self.take() {
                return rx;
            }
            changed.await;
        }
    }

    /// The receiver, if the first message was sent already.
    pub fn take(&self) -> Option<mpsc::UnboundedReceiver<Message>> {
        match &mut *lock(&self.0.state) {
            State::Open { rx, .. } => rx.take(),
            _ => None,
        }
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        let gone = match &*state {
            State::Waiting => true,
            State::Open { rx, .. } => rx.is_some(),
            State::Gone => false,
        };
        if gone {
            *state = State::Gone;
            drop(state);
            self.0.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_protocol::Notification;
    use std::time::Duration;

    fn closed_in_background(out: &Outbound) -> tokio::task::JoinHandle<()> {
        let out = out.clone();
        tokio::spawn(async move { out.closed().await })
    }

    fn note(method: &str) -> Message {
        Message::Notification(Notification::new(method, None))
    }

    /// No channel until the first send; then the receiver holds that message and the next.
    #[tokio::test]
    async fn the_first_send_opens_the_channel() {
        let (out, receiving) = Outbound::lazy();
        assert!(receiving.take().is_none());
        let waiter = tokio::spawn(async move {
            let mut rx = receiving.opened().await;
            let first = rx.recv().await;
            let second = rx.recv().await;
            (first, second)
        });
        tokio::task::yield_now().await;
        assert!(out.send(note("a")));
        assert!(out.send(note("b")));
        let (first, second) = waiter.await.unwrap();
        assert_eq!(first, Some(note("a")));
        assert_eq!(second, Some(note("b")));
        // The receiver is gone with the waiter: nobody can receive any more.
        assert!(!out.send(note("c")));
        tokio::time::timeout(Duration::from_secs(5), out.closed()).await.unwrap();
    }

    /// A receiving end dropped before anything was sent ends the channel, waking `closed`.
    #[tokio::test]
    async fn a_dropped_receiving_end_closes() {
        let (out, receiving) = Outbound::lazy();
        let closed = closed_in_background(&out);
        tokio::task::yield_now().await;
        assert!(!closed.is_finished());
        drop(receiving);
        tokio::time::timeout(Duration::from_secs(5), closed).await.unwrap().unwrap();
        assert!(!out.send(note("late")));
    }

    /// `closed` waits while the channel is open and read, across its opening.
    #[tokio::test]
    async fn closed_waits_for_the_reader() {
        let (out, receiving) = Outbound::lazy();
        let closed = closed_in_background(&out);
        tokio::task::yield_now().await;
        assert!(out.send(note("a")));
        let rx = receiving.take().unwrap();
        drop(receiving); // the POST hands the receiver to its stream and returns
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!closed.is_finished(), "the stream still reads");
        drop(rx);
        tokio::time::timeout(Duration::from_secs(5), closed).await.unwrap().unwrap();
    }
}
