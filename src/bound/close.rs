//! Async cleanup of bound values: the [`AsyncClose`] trait, the close job a value's last
//! handle (or [`LoopBound::close`](super::LoopBound::close)) submits, and the closes the
//! loop runs itself for the values still bound when the bridge stops.

use std::any::Any;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::completion::Completion;
use crate::error::{Error, Site};
use crate::event_loop::LoopState;
use crate::handle::Handle;
use crate::job::scope;

use super::loop_bound::LoopCell;
use super::store::{CloseFn, CloseFuture, Store};

/// A value with async cleanup, for [`Handle::bind_closing`]: `close` runs on the loop
/// thread, inside the runtime, when the value's last [`LoopBound`](super::LoopBound)
/// handle is dropped (or [`LoopBound::close`](super::LoopBound::close) is called, or the
/// bridge shuts down with the value still bound), and the value is gone after it.
///
/// The future need not be `Send`: it runs on the loop. (The trait is not object-safe:
/// the crate keeps one monomorphised close per bound type instead of a `dyn`.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// struct Client {
///     goodbye: tokio::sync::oneshot::Sender<&'static str>,
/// }
///
/// impl loopbridge::AsyncClose for Client {
///     async fn close(self) {
///         tokio::time::sleep(Duration::from_millis(1)).await;
///         let _ = self.goodbye.send("bye");
///     }
/// }
///
/// let bridge = loopbridge::Bridge::new()?;
/// let (tx, rx) = tokio::sync::oneshot::channel();
/// let client = bridge.handle().bind_closing(move || Client { goodbye: tx }).wait()?;
/// drop(client);
/// assert_eq!(rx.blocking_recv()?, "bye");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait AsyncClose: 'static {
    /// Closes the value (flush, say goodbye, shut a connection down).
    fn close(self) -> impl Future<Output = ()>;
}

/// The close of a `LoopCell<T>`, type-erased for the store.
pub(super) fn close_fn<T: AsyncClose>() -> CloseFn {
    |cell: Rc<dyn Any>| -> CloseFuture {
        Box::pin(async move {
            let Ok(cell) = cell.downcast::<LoopCell<T>>() else {
                unreachable!("a slot holds the type it was bound with");
            };
            // A job still using the value (at a shutdown's sweep) ends first.
            drop(cell.turn.acquire().await);
            match Rc::try_unwrap(cell) {
                Ok(cell) => cell.value.into_inner().close().await,
                Err(_) => tracing::warn!(
                    target: "loopbridge::bound_close",
                    value = std::any::type_name::<T>(),
                    "a bound value ({}) is still referenced at its close: it is dropped without it",
                    std::any::type_name::<T>()
                ),
            }
        })
    }
}

/// Submits the close of the value in `slot` as a job (in no scope: a scope's close must
/// not cut it off), which tells the loop's closes when it ran to its end. `holds_room`:
/// the job has its place among the pending jobs already (a permit's).
pub(super) fn submit_close(
    handle: &Handle,
    key: usize,
    slot: usize,
    site: Site,
    holds_room: bool,
) -> Result<Completion<()>, Error> {
    let unscoped = handle.unscoped();
    let state = handle.state().clone();
    scope::outside(|| {
        unscoped.try_submit_local_at(
            site,
            move || {
                let entry = Store::current().and_then(|store| store.remove(slot));
                async move {
                    if let Some(close) = entry.as_ref().and_then(|entry| entry.close) {
                        let entry = entry.expect("just matched");
                        close(entry.cell).await;
                    }
                    state.closes.finished(key);
                }
            },
            holds_room,
        )
    })
}

/// The close of a value whose last handle found no room on the loop for it (a bridge
/// with `max_pending`): a task on the loop, not a job, so it holds no place while it
/// waits in line for one like any producer; then it claims the close as the last handle
/// would have. A shutdown refuses the wait, and its last sweep closes the value.
pub(super) async fn close_when_room(handle: Handle, key: usize, site: Site) {
    let Ok(permit) = handle.reserve().await else {
        return;
    };
    let closes = handle.state().clone();
    closes.closes.claim(key, move |slot| {
        submit_close(&handle, key, slot, site, permit.into_room()).is_ok()
    });
}

/// The loop's last sweep, after its last job (or at the deadline): closes every value
/// still bound with a close, all at once, until the shutdown's deadline; what is still
/// closing then is dropped, and stays named among the loop's unfinished closes.
pub(crate) async fn close_remaining(state: Arc<LoopState>) {
    let swept = state.closes.sweep();
    let Some(store) = Store::current() else {
        return;
    };
    let deadline = state.stop_deadline.lock().unwrap_or_else(Instant::now);
    let mut closing = tokio::task::JoinSet::new();
    for (key, slot) in swept {
        let Some(entry) = store.remove(slot) else {
            continue;
        };
        let Some(close) = entry.close else {
            continue;
        };
        let state = state.clone();
        closing.spawn_local(async move {
            close(entry.cell).await;
            state.closes.finished(key);
        });
    }
    let all_closed = async {
        while let Some(ended) = closing.join_next().await {
            if let Err(error) = ended {
                tracing::error!(
                    target: "loopbridge::bound_close",
                    error = %error,
                    "a bound value's close failed: {error}"
                );
            }
        }
    };
    if tokio::time::timeout_at(deadline.into(), all_closed)
        .await
        .is_err()
    {
        let unclosed = state.closes.unfinished();
        tracing::warn!(
            target: "loopbridge::bound_close",
            unclosed = unclosed.len(),
            "bound values still closing at the shutdown's deadline are dropped: {}",
            crate::report::list(&unclosed)
        );
    }
    // Dropping the set aborts what is left; the teardown drops those tasks.
    drop(closing);
}
