//! The signal that stops a listener: its accept loop, and the connections it accepted finish
//! what they are doing and close.
//!
//! A `watch` channel would do, but every idle connection waits on this signal, so its waiting
//! future is kept to one `Notified` (a `watch::Receiver::wait_for` future is over twice as big).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

/// Held by the listener: [`Drain::fire`] (or dropping it) starts the drain.
#[derive(Debug)]
pub(crate) struct Drain(Arc<Shared>);

/// Held by the accept loop and each connection.
#[derive(Debug, Clone)]
pub(crate) struct Draining(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    fired: AtomicBool,
    notify: Notify,
}

impl Drain {
    pub(crate) fn new() -> (Self, Draining) {
        let shared = Arc::new(Shared::default());
        (Self(Arc::clone(&shared)), Draining(shared))
    }

    pub(crate) fn fire(&self) {
        self.0.fired.store(true, Ordering::Release);
        self.0.notify.notify_waiters();
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        self.fire();
    }
}

impl Draining {
    pub(crate) fn is_fired(&self) -> bool {
        self.0.fired.load(Ordering::Acquire)
    }

    /// Resolves once the drain has started.
    pub(crate) fn fired(&self) -> Fired<'_> {
        Fired {
            draining: self,
            notified: self.0.notify.notified(),
            registered: None,
        }
    }
}

pin_project! {
    /// [`Draining::fired`]: one `Notified` and a reference, the least a waiting connection can
    /// hold (an `async fn` doing the same takes half as much again).
    #[derive(Debug)]
    pub(crate) struct Fired<'a> {
        draining: &'a Draining,
        #[pin]
        notified: Notified<'a>,
        // The waker the registration holds: while the next poll's waker wakes the same task,
        // the registration stands and an atomic load is the whole check.
        registered: Option<Waker>,
    }
}

impl Future for Fired<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        // A connection polls this at every step of every request: locking the `Notify`'s
        // waiter list each time (as `Notified::poll` does) cost more than the rest of the
        // check. A fire sets the flag before waking the registered waker, so with that waker
        // still current the flag says it all.
        if this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return if this.draining.is_fired() {
                Poll::Ready(())
            } else {
                Poll::Pending
            };
        }
        loop {
            // Registered before the check, so a fire in between is not missed.
            this.notified.as_mut().enable();
            if this.draining.is_fired() {
                return Poll::Ready(());
            }
            if this.notified.as_mut().poll(cx).is_pending() {
                *this.registered = Some(cx.waker().clone());
                return Poll::Pending;
            }
            *this.registered = None;
            // Woken: a fire (seen by the check above, next turn) or a spurious notification;
            // wait again on a fresh registration.
            this.notified.set(this.draining.0.notify.notified());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn fires_waiters_now_and_later_and_on_drop() {
        let (drain, draining) = Drain::new();
        let waiter = tokio::spawn({
            let d = draining.clone();
            async move { d.fired().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished());
        drain.fire();
        waiter.await.unwrap();
        // A waiter that comes after the fire returns at once.
        draining.fired().await;

        let (drain, draining) = Drain::new();
        drop(drain);
        tokio::time::timeout(Duration::from_secs(1), draining.fired())
            .await
            .unwrap();
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_fire_wakes_the_waker_of_the_last_poll() {
        let (drain, draining) = Drain::new();
        let mut fired = std::pin::pin!(draining.fired());
        let first = Arc::new(Count(0.into()));
        let second = Arc::new(Count(0.into()));
        let waker = Waker::from(Arc::clone(&first));
        // Polled twice by the same task (the fast path the second time), then by another.
        for _ in 0..2 {
            assert!(
                fired
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
        }
        let waker = Waker::from(Arc::clone(&second));
        assert!(
            fired
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drain.fire();
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert!(
            fired
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
        );
    }
}
