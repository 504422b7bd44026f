//! The isolate's executor: runs the tasks of requests and scheduled runs,
//! on one thread, driven by the settling of the runtime's promises.
//!
//! Why our own: wasm-bindgen-futures makes two closures per awaited
//! promise (each registered with a `FinalizationRegistry`) and queues a
//! microtask for every wake-up, and a V8 profile put many samples there.
//! The benchmark did not find that CPU (this executor and theirs measured
//! the same), but this one is simpler to reason about and to test. Here:
//!
//! - a task is polled at once when spawned, so a request that needs no I/O
//!   (a preflight, `/health`) is answered before its call returns;
//! - awaiting the runtime is a [`Settlement`]: a numbered slot that the
//!   shell's one long-lived callback fills through [`settle`], which polls
//!   the waiting task right there, inside the promise's own reaction.
//!
//! A waker used any other way (nothing in the core does this today) still
//! works: it asks the hook set by [`set_later`] for a later [`run`].

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

type Job = Pin<Box<dyn Future<Output = ()>>>;

/// The number of a [`Settlement`]'s slot, as the runtime hands it back.
/// 0 is never a slot: settling it only runs the ready tasks.
pub type SlotId = u32;

struct Task {
    id: u32,
    /// Taken out while the task is being polled.
    job: Option<Job>,
    waker: Waker,
}

struct Slot {
    id: SlotId,
    value: Option<Box<dyn Any>>,
    waker: Option<Waker>,
}

#[derive(Default)]
struct State {
    tasks: Vec<Task>,
    ready: VecDeque<u32>,
    slots: Vec<Slot>,
    last_id: u32,
    /// Inside [`drive`]: a wake-up is picked up by its loop.
    running: bool,
    /// Asks the runtime to call [`run`] soon (a microtask).
    later: Option<fn()>,
    later_asked: bool,
}

impl State {
    fn next_id(&mut self) -> u32 {
        self.last_id = self.last_id.wrapping_add(1).max(1);
        self.last_id
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::default();
}

/// Wakes one task by its number.
struct TaskWaker(u32);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        wake_task(self.0);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        wake_task(self.0);
    }
}

fn wake_task(id: u32) {
    let ask_later = STATE.with(|s| {
        let mut s = s.borrow_mut();
        if !s.ready.contains(&id) && s.tasks.iter().any(|t| t.id == id) {
            s.ready.push_back(id);
        }
        let ask = !s.running && !s.later_asked && s.later.is_some();
        if ask {
            s.later_asked = true;
        }
        ask.then_some(s.later).flatten()
    });
    if let Some(later) = ask_later {
        later();
    }
}

/// Sets how to ask the runtime for a later [`run`].
pub fn set_later(later: fn()) {
    STATE.with(|s| s.borrow_mut().later = Some(later));
}

/// Starts a task and polls it at once: when it needs no I/O it has
/// finished when this returns. Spawned from inside a task, it runs as soon
/// as that task yields.
pub fn spawn(job: impl Future<Output = ()> + 'static) {
    let run_now = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let id = s.next_id();
        s.tasks.push(Task {
            id,
            job: Some(Box::pin(job)),
            waker: Waker::from(Arc::new(TaskWaker(id))),
        });
        s.ready.push_back(id);
        !s.running
    });
    if run_now {
        drive();
    }
}

/// Polls the ready tasks; what the runtime calls when asked through
/// [`set_later`].
pub fn run() {
    let run_now = STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.later_asked = false;
        !s.running
    });
    if run_now {
        drive();
    }
}

/// Fills slot `slot` with `value` and runs the task waiting on it. A slot
/// whose [`Settlement`] was dropped, or 0, is ignored.
pub fn settle<V: 'static>(slot: SlotId, value: V) {
    let (waker, run_now) = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let waker = s.slots.iter_mut().find(|x| x.id == slot).and_then(|x| {
            x.value = Some(Box::new(value));
            x.waker.take()
        });
        let run_now = !s.running;
        // Held through the wake below, so it does not ask for a later run.
        s.running = true;
        (waker, run_now)
    });
    if let Some(waker) = waker {
        waker.wake();
    }
    if run_now {
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            s.running = false;
            // The loop below is the run a wake-up may have asked for.
            s.later_asked = false;
        });
        drive();
    }
}

/// The loop: polls ready tasks until none is. Never holds the state's
/// borrow while a task runs, since tasks spawn, settle and wake.
fn drive() {
    STATE.with(|s| s.borrow_mut().running = true);
    loop {
        let next = STATE.with(|s| {
            let mut s = s.borrow_mut();
            while let Some(id) = s.ready.pop_front() {
                if let Some(task) = s.tasks.iter_mut().find(|t| t.id == id) {
                    if let Some(job) = task.job.take() {
                        return Some((id, job, task.waker.clone()));
                    }
                }
            }
            s.running = false;
            None
        });
        let Some((id, mut job, waker)) = next else {
            return;
        };
        let done = job
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        STATE.with(|s| {
            let mut s = s.borrow_mut();
            if done {
                s.tasks.retain(|t| t.id != id);
            } else if let Some(task) = s.tasks.iter_mut().find(|t| t.id == id) {
                task.job = Some(job);
            }
        });
    }
}

/// A value the runtime will hand back through [`settle`]: one awaited
/// promise. Dropping it unanswered frees its slot.
pub struct Settlement<V> {
    slot: SlotId,
    done: bool,
    value: PhantomData<fn() -> V>,
}

/// A new slot, and the future that resolves when it is settled.
pub fn settlement<V: 'static>() -> (SlotId, Settlement<V>) {
    let slot = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let id = s.next_id();
        s.slots.push(Slot {
            id,
            value: None,
            waker: None,
        });
        id
    });
    let settlement = Settlement {
        slot,
        done: false,
        value: PhantomData,
    };
    (slot, settlement)
}

impl<V: 'static> Future for Settlement<V> {
    type Output = V;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<V> {
        let slot_id = self.slot;
        let value = STATE.with(|s| {
            let mut s = s.borrow_mut();
            let at = s.slots.iter().position(|x| x.id == slot_id)?;
            match s.slots[at].value.take() {
                Some(value) => {
                    s.slots.swap_remove(at);
                    Some(value)
                }
                None => {
                    s.slots[at].waker = Some(cx.waker().clone());
                    None
                }
            }
        });
        match value.map(|v| v.downcast::<V>()) {
            Some(Ok(value)) => {
                self.done = true;
                Poll::Ready(*value)
            }
            // Settled with another type than awaited: a bug in the shell,
            // which settles every slot with the one type it awaits.
            Some(Err(_)) => {
                debug_assert!(false, "slot {slot_id} settled with the wrong type");
                self.done = true;
                Poll::Pending
            }
            None => Poll::Pending,
        }
    }
}

impl<V> Drop for Settlement<V> {
    fn drop(&mut self) {
        if !self.done {
            let slot_id = self.slot;
            // Not when the thread's state is itself being dropped (with a
            // task still waiting), which happens only natively, in tests.
            let _ = STATE.try_with(|s| {
                if let Ok(mut s) = s.try_borrow_mut() {
                    s.slots.retain(|x| x.id != slot_id);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    /// Tasks and slots alive on this thread: nothing may be left behind.
    fn live() -> (usize, usize) {
        STATE.with(|s| {
            let s = s.borrow();
            (s.tasks.len(), s.slots.len())
        })
    }

    // Each test runs on its own thread, so each has its own executor.

    #[test]
    fn a_task_without_io_finishes_inside_spawn() {
        let out = Rc::new(Cell::new(0));
        let o = out.clone();
        spawn(async move { o.set(7) });
        assert_eq!(out.get(), 7);
        assert_eq!(live(), (0, 0));
    }

    #[test]
    fn a_task_waits_for_its_settlement_and_resumes_inside_settle() {
        let got = Rc::new(RefCell::new(Vec::new()));
        let slot = Rc::new(Cell::new(0));
        let (g, sl) = (got.clone(), slot.clone());
        spawn(async move {
            let (id, answer) = settlement::<String>();
            sl.set(id);
            g.borrow_mut().push("asked".to_string());
            let value = answer.await;
            g.borrow_mut().push(value);
        });
        assert_eq!(*got.borrow(), ["asked"]);
        assert_eq!(live(), (1, 1));
        settle(slot.get(), "answer".to_string());
        assert_eq!(*got.borrow(), ["asked", "answer"]);
        assert_eq!(live(), (0, 0));
    }

    #[test]
    fn settling_one_slot_runs_only_its_task() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let slots = Rc::new(RefCell::new(Vec::new()));
        for name in ["a", "b"] {
            let (l, s) = (log.clone(), slots.clone());
            spawn(async move {
                let (id, first) = settlement::<u32>();
                s.borrow_mut().push(id);
                let n = first.await;
                l.borrow_mut().push(format!("{name}{n}"));
                let (id, second) = settlement::<u32>();
                s.borrow_mut().push(id);
                let n = second.await;
                l.borrow_mut().push(format!("{name}{n}"));
            });
        }
        let (a1, b1) = (slots.borrow()[0], slots.borrow()[1]);
        settle(b1, 1u32);
        assert_eq!(*log.borrow(), ["b1"]);
        settle(a1, 1u32);
        assert_eq!(*log.borrow(), ["b1", "a1"]);
        let (b2, a2) = (slots.borrow()[2], slots.borrow()[3]);
        settle(a2, 2u32);
        settle(b2, 2u32);
        assert_eq!(*log.borrow(), ["b1", "a1", "a2", "b2"]);
        assert_eq!(live(), (0, 0));
    }

    #[test]
    fn a_dropped_settlement_frees_its_slot_and_a_late_settle_is_ignored() {
        let (id, answer) = settlement::<u8>();
        assert_eq!(live(), (0, 1));
        drop(answer);
        assert_eq!(live(), (0, 0));
        settle(id, 1u8);
        settle(0, ());
        assert_eq!(live(), (0, 0));
    }

    #[test]
    fn a_settle_inside_a_task_is_picked_up_by_the_running_loop() {
        let out = Rc::new(Cell::new(0));
        let o = out.clone();
        spawn(async move {
            let (id, answer) = settlement::<u32>();
            // As if the runtime answered at once, during this poll.
            settle(id, 5u32);
            o.set(answer.await);
        });
        assert_eq!(out.get(), 5);
        assert_eq!(live(), (0, 0));
    }

    #[test]
    fn a_task_spawned_by_a_task_runs_when_the_first_yields() {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        spawn(async move {
            let inner = l.clone();
            spawn(async move { inner.borrow_mut().push("inner") });
            l.borrow_mut().push("outer");
        });
        assert_eq!(*log.borrow(), ["outer", "inner"]);
        assert_eq!(live(), (0, 0));
    }

    thread_local! {
        static ASKED: Cell<u32> = const { Cell::new(0) };
    }

    /// A future that wakes itself through its waker once: as a timer or
    /// channel of another kind would.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            let waker = cx.waker().clone();
            // Woken after this poll returns, from outside the executor.
            STASH.with(|s| *s.borrow_mut() = Some(waker));
            Poll::Pending
        }
    }

    thread_local! {
        static STASH: RefCell<Option<Waker>> = const { RefCell::new(None) };
    }

    #[test]
    fn a_wake_from_elsewhere_asks_for_a_later_run_once() {
        set_later(|| ASKED.with(|a| a.set(a.get() + 1)));
        let out = Rc::new(Cell::new(false));
        let o = out.clone();
        spawn(async move {
            YieldOnce(false).await;
            o.set(true);
        });
        assert!(!out.get());
        let waker = STASH.with(|s| s.borrow_mut().take()).unwrap();
        waker.wake_by_ref();
        waker.wake();
        assert_eq!(ASKED.with(Cell::get), 1, "asked once, not per wake");
        assert!(!out.get(), "nothing runs until the runtime calls run()");
        run();
        assert!(out.get());
        assert_eq!(live(), (0, 0));
    }

    #[test]
    fn settling_never_asks_for_a_later_run() {
        set_later(|| ASKED.with(|a| a.set(a.get() + 1)));
        let slot = Rc::new(Cell::new(0));
        let s = slot.clone();
        spawn(async move {
            let (id, answer) = settlement::<()>();
            s.set(id);
            answer.await;
        });
        settle(slot.get(), ());
        assert_eq!(ASKED.with(Cell::get), 0);
        assert_eq!(live(), (0, 0));
    }
}
