//! A one-shot completion that can be awaited from any async runtime or waited on from a thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex};

use super::WalError;

#[derive(Default)]
struct State {
    result: Option<Result<u64, WalError>>,
    waker: Option<Waker>,
    sender_gone: bool,
}

#[derive(Default)]
struct Slot {
    state: Mutex<State>,
    ready: Condvar,
}

/// Completes when a write-ahead log record is durable (or failed), with the sequence number
/// of the segment that holds it.
///
/// Await it from async code, or call [`Ack::wait`] from a thread.
#[must_use = "a record is durable only once its Ack completes"]
pub struct Ack(Arc<Slot>);

/// The writer's side of an [`Ack`].
pub(crate) struct AckSender(Arc<Slot>);

/// A connected pair.
pub(crate) fn ack_pair() -> (Ack, AckSender) {
    let slot = Arc::new(Slot::default());
    (Ack(slot.clone()), AckSender(slot))
}

impl AckSender {
    /// Completes the ack with `result`.
    pub(crate) fn complete(self, result: Result<u64, WalError>) {
        let mut state = self.0.state.lock();
        state.result = Some(result);
        self.wake(&mut state);
    }

    fn wake(&self, state: &mut State) {
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        self.0.ready.notify_all();
    }
}

impl Drop for AckSender {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        if state.result.is_none() {
            state.sender_gone = true;
            self.wake(&mut state);
        }
    }
}

impl Ack {
    /// Blocks the calling thread until the record is durable; returns the sequence number of
    /// the segment that holds it.
    pub fn wait(self) -> Result<u64, WalError> {
        let mut state = self.0.state.lock();
        loop {
            if let Some(result) = state.result.take() {
                return result;
            }
            if state.sender_gone {
                return Err(WalError::Closed);
            }
            self.0.ready.wait(&mut state);
        }
    }
}

impl Future for Ack {
    type Output = Result<u64, WalError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.0.state.lock();
        if let Some(result) = state.result.take() {
            return Poll::Ready(result);
        }
        if state.sender_gone {
            return Poll::Ready(Err(WalError::Closed));
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}
