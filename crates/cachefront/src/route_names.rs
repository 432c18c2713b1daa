//! Routes named after the router's patterns: an unnamed policy takes the name of the pattern
//! each request matched (axum's `MatchedPath`, actix-web's `match_pattern`).

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use crate::{cache::CacheRoute, stats::Counters};

/// The most patterns one unnamed route takes names from; requests under further patterns are
/// counted under the route's own name. A router has a fixed set of patterns, so this bound is
/// only reached by an adapter that passes something else.
const MAX_PATTERNS: usize = 1_024;

/// What a [`CacheRoute`] keeps about its names: its own counters (registered on first use)
/// and one route per router pattern its requests matched.
#[derive(Debug, Default)]
pub(crate) struct RouteNames {
    pub(crate) counters: OnceLock<Arc<Counters>>,
    /// The first pattern seen: a layer on one route (the common case) only ever sees one, and
    /// finds it without a lock.
    first: OnceLock<(Box<str>, CacheRoute)>,
    others: Mutex<HashMap<Box<str>, CacheRoute>>,
}

impl CacheRoute {
    /// This route as named by the pattern the router matched: itself when its policy has a
    /// [`name`](crate::Policy::name) or no pattern was matched, else a route with the same
    /// policy named `pattern` (created once per pattern, so its stats add up).
    pub fn for_pattern(&self, pattern: Option<&str>) -> Cow<'_, CacheRoute> {
        let Some(pattern) = pattern.filter(|_| !self.policy.named) else {
            return Cow::Borrowed(self);
        };
        let names = &self.names;
        let (first, route) = names.first.get_or_init(|| (pattern.into(), self.named(pattern)));
        if **first == *pattern {
            return Cow::Borrowed(route);
        }
        let mut others = names.others.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(route) = others.get(pattern) {
            return Cow::Owned(route.clone());
        }
        if others.len() >= MAX_PATTERNS {
            return Cow::Borrowed(self);
        }
        let route = self.named(pattern);
        others.insert(pattern.into(), route.clone());
        Cow::Owned(route)
    }

    fn named(&self, pattern: &str) -> CacheRoute {
        self.cache.route(crate::Policy::clone(&self.policy).name(pattern))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{Cache, Policy};

    #[test]
    fn an_unnamed_route_is_named_after_each_pattern_and_a_named_one_keeps_its_name() {
        let cache = Cache::new();
        let unnamed = cache.route(Policy::ttl(Duration::from_secs(1)));
        assert_eq!(unnamed.for_pattern(None).policy().route_name(), "default");
        assert_eq!(
            unnamed.for_pattern(Some("/a/{id}")).policy().route_name(),
            "/a/{id}"
        );
        assert_eq!(unnamed.for_pattern(Some("/b")).policy().route_name(), "/b");
        // The same pattern gives the same route (one set of counters).
        assert!(std::sync::Arc::ptr_eq(
            &unnamed.for_pattern(Some("/b")).names,
            &unnamed.for_pattern(Some("/b")).names
        ));
        let named = cache.route(Policy::ttl(Duration::from_secs(1)).name("mine"));
        assert_eq!(named.for_pattern(Some("/a/{id}")).policy().route_name(), "mine");
        // Stats list the routes that served requests and named ones; the idle unnamed base
        // route is not listed.
        let routes: Vec<_> = cache.stats().routes.into_keys().collect();
        assert_eq!(routes, ["/a/{id}", "/b", "mine"]);
    }

    #[test]
    fn patterns_past_the_bound_fall_back_to_the_route_itself() {
        let cache = Cache::new();
        let route = cache.route(Policy::ttl(Duration::from_secs(1)));
        for n in 0..=super::MAX_PATTERNS {
            route.for_pattern(Some(&format!("/p{n}")));
        }
        assert_eq!(
            route.for_pattern(Some("/one-too-many")).policy().route_name(),
            "default"
        );
    }
}
