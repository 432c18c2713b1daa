//! `CacheRoute::for_pattern`: the route an adapter serves a request through when the router
//! matched a pattern.

use std::time::Duration;

use cachefront::{Cache, Policy};

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
    assert_eq!(unnamed.for_pattern(Some("/b")).policy().route_name(), "/b");

    let named = cache.route(Policy::ttl(Duration::from_secs(1)).name("mine"));
    assert_eq!(named.for_pattern(Some("/a/{id}")).policy().route_name(), "mine");

    // Stats list the routes made for patterns and the named one, each once; the unnamed base
    // route, which served nothing under its own name, is not listed.
    let routes: Vec<String> = cache.stats().routes.into_keys().collect();
    assert_eq!(routes, ["/a/{id}", "/b", "mine"]);
}

#[test]
fn patterns_past_the_bound_fall_back_to_the_route_itself() {
    let cache = Cache::new();
    let route = cache.route(Policy::ttl(Duration::from_secs(1)));
    for n in 0..=1_024 {
        route.for_pattern(Some(&format!("/p{n}")));
    }
    assert_eq!(
        route.for_pattern(Some("/one-too-many")).policy().route_name(),
        "default"
    );
    assert_eq!(route.for_pattern(Some("/p7")).policy().route_name(), "/p7");
}
