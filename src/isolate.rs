//! What one isolate remembers between the requests it serves.
//!
//! A Workers isolate lives for many requests, on one thread. The core
//! keeps a few small values there (the mail-domain answers, how many posts
//! this isolate knows were held today, when the daily `spam_held` alert is
//! next worth a look), each a type defined beside the code that uses it.
//! This memory holds one value of each type without knowing any of them,
//! so it sits below everything that uses it. The
//! [`Platform`](crate::platform::Platform) lends the isolate's one
//! instance (the shell keeps it in a `thread_local`, the in-memory
//! platform per test), so the core holds no global state of its own and
//! every test starts from an empty memory. Losing it (a new isolate) only
//! costs a lookup or a count again.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

/// The isolate's memory: one value per type, made by `Default` on first use.
#[derive(Default)]
pub struct IsolateMemory {
    slots: RefCell<HashMap<TypeId, Box<dyn Any>>>,
}

impl IsolateMemory {
    /// Runs `f` on this isolate's `T`. Borrowed for `f` alone: never
    /// across an `await`.
    pub fn with<T: Any + Default, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut slots = self.slots.borrow_mut();
        let slot = slots
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()));
        match slot.downcast_mut::<T>() {
            Some(value) => f(value),
            // A slot is keyed by its own type: this cannot happen, and if
            // it did, forgetting is always safe.
            None => f(&mut T::default()),
        }
    }
}

impl std::fmt::Debug for IsolateMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IsolateMemory({} values)", self.slots.borrow().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Count(u32);

    #[derive(Default)]
    struct Name(String);

    #[test]
    fn each_type_has_its_own_value_kept_between_uses() {
        let m = IsolateMemory::default();
        assert_eq!(m.with(|c: &mut Count| c.0), 0);
        m.with(|c: &mut Count| c.0 += 2);
        m.with(|n: &mut Name| n.0.push('x'));
        assert_eq!(m.with(|c: &mut Count| c.0), 2);
        assert_eq!(m.with(|n: &mut Name| n.0.clone()), "x");
        assert_eq!(format!("{m:?}"), "IsolateMemory(2 values)");
    }
}
