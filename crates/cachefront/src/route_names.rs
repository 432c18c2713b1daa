//! Routes named after the router's patterns: an unnamed policy takes the name of the pattern
//! each request matched (axum's `MatchedPath`, actix-web's `match_pattern`).

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use crate::stats::Counters;

/// The most patterns one unnamed route takes names from; requests under further patterns are
/// counted under the route's own name. A router has a fixed set of patterns, so this bound is
/// only reached by an adapter that passes something else.
pub(crate) const MAX_PATTERNS: usize = 1_024;

/// What a route keeps about its names: its own counters (registered on first use) and one
/// route `R` per router pattern its requests matched.
#[derive(Debug)]
pub(crate) struct RouteNames<R> {
    pub(crate) counters: OnceLock<Arc<Counters>>,
    /// The first pattern seen: a layer on one route (the common case) only ever sees one, and
    /// finds it without a lock.
    first: OnceLock<(Box<str>, R)>,
    others: Mutex<HashMap<Box<str>, R>>,
}

impl<R> Default for RouteNames<R> {
    fn default() -> Self {
        Self {
            counters: OnceLock::new(),
            first: OnceLock::new(),
            others: Mutex::new(HashMap::new()),
        }
    }
}

impl<R: Clone> RouteNames<R> {
    /// The route named `pattern`, made by `named` the first time the pattern is seen; `None`
    /// past [`MAX_PATTERNS`].
    pub(crate) fn get_or_make(&self, pattern: &str, named: impl Fn() -> R) -> Option<Cow<'_, R>> {
        let (first, route) = self.first.get_or_init(|| (pattern.into(), named()));
        if **first == *pattern {
            return Some(Cow::Borrowed(route));
        }
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(route) = others.get(pattern) {
            return Some(Cow::Owned(route.clone()));
        }
        if others.len() >= MAX_PATTERNS {
            return None;
        }
        let route = named();
        others.insert(pattern.into(), route.clone());
        Some(Cow::Owned(route))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn each_pattern_is_made_once_and_the_bound_holds() {
        let names = RouteNames::<String>::default();
        let made = AtomicUsize::new(0);
        let make = |p: &str| {
            let p = p.to_owned();
            let made = &made;
            move || {
                made.fetch_add(1, Ordering::Relaxed);
                p.clone()
            }
        };
        for _ in 0..3 {
            assert_eq!(*names.get_or_make("/a", make("/a")).unwrap(), "/a");
            assert_eq!(*names.get_or_make("/b", make("/b")).unwrap(), "/b");
        }
        assert_eq!(made.load(Ordering::Relaxed), 2);
        for n in 0..MAX_PATTERNS - 1 {
            let p = format!("/p{n}");
            assert!(names.get_or_make(&p, make(&p)).is_some());
        }
        assert!(names.get_or_make("/one-too-many", make("/x")).is_none());
        assert_eq!(
            *names.get_or_make("/a", make("/a")).unwrap(),
            "/a",
            "known patterns still resolve"
        );
    }
}
