//! The executor of the shell's async code. wasm-bindgen's own makes a Promise of every future it
//! runs and two closures, with finalizers, for every Promise a future awaits, and queues a
//! microtask for every wake-up; leaving it took about a tenth of the no-op's CPU off a JSON answer
//! (README, "The shell, measured again"). Here a task is a future kept in wasm and polled
//! synchronously from JavaScript: a Promise it awaits through `awaited` is handed to JavaScript,
//! whose `then` (plain JavaScript functions, see `glue.js`) hands the result back and polls the
//! task again in the same call into wasm. Futures that wake their task another way (those of the
//! `worker` crate, which await through wasm-bindgen), and a Promise awaited under a combinator
//! that polls only what was woken, wake it through their waker: it is polled again on a microtask.

use js_sys::Promise;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::JsValue;

/// A task's future, and the waker its futures are handed.
struct Job {
    future: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>,
    waker: Waker,
}

#[wasm_bindgen(module = "/src/worker/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = taskOutput)]
    fn task_output(task: u32) -> Promise;
    #[wasm_bindgen(js_name = settleTask)]
    fn settle_task(task: u32, ok: bool, value: JsValue);
    #[wasm_bindgen(js_name = awaitFor)]
    fn await_for(task: u32, wait: u32, promise: &Promise);
    #[wasm_bindgen(js_name = wakeTask)]
    fn wake_task(task: u32);
    #[wasm_bindgen(js_name = setResume)]
    fn set_resume(resume: &Closure<dyn Fn(u32, u32, bool, JsValue)>);
}

thread_local! {
    /// The tasks waiting, by id. A task being polled is out of the map.
    static JOBS: RefCell<HashMap<u32, Job>> = RefCell::default();
    /// The waits of `Awaited` futures, by id.
    static WAITS: RefCell<HashMap<u32, Wait>> = RefCell::default();
    /// The id of the task being polled, 0 when none is, and its waker.
    static POLLING: RefCell<(u32, Option<Waker>)> = const { RefCell::new((0, None)) };
    static LAST_ID: Cell<u32> = const { Cell::new(0) };
    /// JavaScript's way back into wasm: made once per instance of the module.
    static RESUME: Closure<dyn Fn(u32, u32, bool, JsValue)> = {
        let resume = Closure::<dyn Fn(u32, u32, bool, JsValue)>::new(resume);
        set_resume(&resume);
        resume
    };
}

fn next_id() -> u32 {
    LAST_ID.with(|last| {
        // Ids are unique among the live tasks and waits; 0 means none.
        let id = last.get().wrapping_add(1).max(1);
        last.set(id);
        id
    })
}

/// Runs `future` as a task: polled once now, and again as what it awaits settles. The Promise
/// settles with its output.
pub fn start(future: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    RESUME.with(|_| {});
    let task = next_id();
    let job = Job { future: Box::pin(future), waker: Waker::from(Arc::new(TaskWaker(task))) };
    JOBS.with_borrow_mut(|jobs| jobs.insert(task, job));
    let output = task_output(task);
    run(task);
    output
}

/// Runs `future` after the response, for as long as it takes (the runtime's `waitUntil`).
pub fn wait_until(ctx: &worker::Context, future: impl Future<Output = ()> + 'static) {
    let done = start(async move {
        future.await;
        Ok(JsValue::UNDEFINED)
    });
    let _ = ctx.as_ref().wait_until(&done);
}

/// An `Awaited` future's wait.
struct Wait {
    /// The waker to wake when its result comes, when it is not its task's own (a combinator's,
    /// which polls only what was woken); None when the task is polled at once.
    waker: Option<Waker>,
    result: Option<Result<JsValue, JsValue>>,
}

/// What JavaScript calls: the result of wait `wait` (0: none, the task was woken), then the task
/// polled again.
fn resume(task: u32, wait: u32, ok: bool, value: JsValue) {
    if wait != 0 {
        let delivered = WAITS.with_borrow_mut(|waits| {
            let slot = waits.get_mut(&wait)?;
            slot.result = Some(if ok { Ok(value) } else { Err(value) });
            Some(slot.waker.clone())
        });
        match delivered {
            // Its future was dropped: nothing waits for it any more.
            None => return,
            Some(Some(waker)) => return waker.wake(),
            Some(None) => {}
        }
    }
    run(task);
}

fn run(task: u32) {
    let Some(mut job) = JOBS.with_borrow_mut(|jobs| jobs.remove(&task)) else {
        // It ended, or is being polled (a wake-up from within its own poll, seen again after).
        return;
    };
    let outer = POLLING.replace((task, Some(job.waker.clone())));
    let polled = job.future.as_mut().poll(&mut Context::from_waker(&job.waker));
    POLLING.replace(outer);
    match polled {
        Poll::Pending => {
            JOBS.with_borrow_mut(|jobs| jobs.insert(task, job));
        }
        Poll::Ready(Ok(value)) => settle_task(task, true, value),
        Poll::Ready(Err(error)) => settle_task(task, false, error),
    }
}

/// A task's waker, for what its future awaits other than a Promise awaited directly.
struct TaskWaker(u32);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        wake_task(self.0);
    }
}

/// The settled value of `promise`, awaited by the task being polled.
pub fn awaited(promise: Promise) -> Awaited {
    Awaited { promise: Some(promise), wait: 0 }
}

pub struct Awaited {
    promise: Option<Promise>,
    wait: u32,
}

impl Future for Awaited {
    type Output = Result<JsValue, JsValue>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (task, own) =
            POLLING.with_borrow(|(task, waker)| (*task, waker.as_ref().is_some_and(|own| cx.waker().will_wake(own))));
        assert!(task != 0, "a promise awaited outside a task");
        let waker = (!own).then(|| cx.waker().clone());
        if let Some(promise) = self.promise.take() {
            let wait = next_id();
            self.wait = wait;
            WAITS.with_borrow_mut(|waits| waits.insert(wait, Wait { waker, result: None }));
            await_for(task, wait, &promise);
            return Poll::Pending;
        }
        let wait = self.wait;
        WAITS.with_borrow_mut(|waits| match waits.get_mut(&wait) {
            Some(Wait { result: Some(_), .. }) => {
                waits.remove(&wait).and_then(|slot| slot.result).map_or(Poll::Pending, Poll::Ready)
            }
            Some(slot) => {
                slot.waker = waker;
                Poll::Pending
            }
            None => Poll::Pending,
        })
    }
}

impl Drop for Awaited {
    fn drop(&mut self) {
        if self.wait != 0 {
            let wait = self.wait;
            WAITS.with_borrow_mut(|waits| waits.remove(&wait));
        }
    }
}

/// A future that resolves after `ms` milliseconds.
pub async fn sleep(ms: u64) {
    let _ = awaited(super::glue::sleep(ms as f64)).await;
}
