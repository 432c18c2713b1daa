//! The per-cache memo state: flights, counters per namespace, errors handed to waiters.

use std::{
    any::Any,
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex, PoisonError, Weak},
};

use super::stats::{MemoCounters, MemoStats};
use crate::{coalesce::Coalescer, entry::Entry};

/// The per-cache memo state: flights in progress, counters per namespace, and the errors a
/// failed computation hands to the callers waiting on it.
#[derive(Default)]
pub(crate) struct MemoRegistry {
    pub(crate) coalescer: Coalescer,
    namespaces: Mutex<BTreeMap<Arc<str>, Arc<MemoCounters>>>,
    /// Errors of failed computations, each tied to the entry that announces it to waiters. An
    /// error lives as long as that entry; dead ones are swept when the next one is added.
    handoffs: Mutex<Vec<(Weak<Entry>, SharedError)>>,
}

/// A computation's error, shared by every caller that waited on it (an `Arc<E>` underneath).
pub(super) type SharedError = Arc<dyn Any + Send + Sync>;

impl fmt::Debug for MemoRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoRegistry")
            .field("coalescer", &self.coalescer)
            .finish_non_exhaustive()
    }
}

impl MemoRegistry {
    pub(super) fn counters(&self, namespace: &Arc<str>) -> Arc<MemoCounters> {
        let mut namespaces = self.namespaces.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            namespaces
                .entry(Arc::clone(namespace))
                .or_insert_with(|| Arc::new(MemoCounters::for_namespace(namespace))),
        )
    }

    pub(super) fn hand_off(&self, entry: &Arc<Entry>, error: SharedError) {
        let mut handoffs = self.handoffs.lock().unwrap_or_else(PoisonError::into_inner);
        handoffs.retain(|(entry, _)| entry.strong_count() > 0);
        handoffs.push((Arc::downgrade(entry), error));
    }

    pub(super) fn handed_off(&self, entry: &Arc<Entry>) -> Option<SharedError> {
        let handoffs = self.handoffs.lock().unwrap_or_else(PoisonError::into_inner);
        // While `entry` is alive its address cannot belong to another entry, and a weak
        // reference keeps the address of a dropped entry from being reused.
        handoffs
            .iter()
            .find(|(weak, _)| std::ptr::eq(weak.as_ptr(), Arc::as_ptr(entry)))
            .map(|(_, error)| Arc::clone(error))
    }

    /// The counters of every namespace used so far, by name.
    pub(super) fn stats(&self) -> BTreeMap<String, MemoStats> {
        self.namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, counters)| (name.to_string(), counters.snapshot()))
            .collect()
    }

    #[cfg(test)]
    pub(super) fn handoffs(&self) -> usize {
        self.handoffs.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}
