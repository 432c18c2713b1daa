//! `Cacheable` and `TimeToLive`: the application's say in what is stored and for how long.

use std::time::Duration;

use cachefront::{NotStored, Policy};
use http::{HeaderMap, HeaderValue, StatusCode, header};

fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
        .collect()
}

#[test]
fn a_cacheable_predicate_vetoes_what_the_rules_allow_and_no_more() {
    let fallback = header::HeaderName::from_static("x-fallback");
    let policy = Policy::ttl(Duration::from_secs(60))
        .cacheable(move |_: StatusCode, headers: &HeaderMap| !headers.contains_key(&fallback));
    assert_eq!(
        policy.check_response(StatusCode::OK, &HeaderMap::new()),
        Ok(Duration::from_secs(60))
    );
    let marked = headers(&[(header::HeaderName::from_static("x-fallback"), "1")]);
    assert_eq!(
        policy.check_response(StatusCode::OK, &marked),
        Err(NotStored::Predicate)
    );
    assert_eq!(NotStored::Predicate.as_str(), "predicate");

    // A predicate that allows everything does not get around the HTTP rules.
    let permissive = Policy::ttl(Duration::from_secs(60)).cacheable(|_: StatusCode, _: &HeaderMap| true);
    let no_store = headers(&[(header::CACHE_CONTROL, "no-store")]);
    assert_eq!(
        permissive.check_response(StatusCode::OK, &no_store),
        Err(NotStored::NoStore)
    );
    assert_eq!(
        permissive.check_response(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new()),
        Err(NotStored::Status)
    );
}

#[test]
fn a_time_to_live_strategy_sets_the_lifetime_per_response_in_application_mode() {
    let day = Duration::from_secs(86_400);
    let policy = Policy::ttl(Duration::from_secs(60))
        .ttl_for(move |status: StatusCode, _: &HeaderMap| status.is_redirection().then_some(day));
    assert_eq!(
        policy.check_response(StatusCode::MOVED_PERMANENTLY, &HeaderMap::new()),
        Ok(day)
    );
    assert_eq!(
        policy.check_response(StatusCode::OK, &HeaderMap::new()),
        Ok(Duration::from_secs(60))
    );

    let never =
        Policy::ttl(Duration::from_secs(60)).ttl_for(|_: StatusCode, _: &HeaderMap| Some(Duration::ZERO));
    assert_eq!(
        never.check_response(StatusCode::OK, &HeaderMap::new()),
        Err(NotStored::ZeroTtl)
    );

    // Shared mode: the response's own freshness decides; the strategy is not asked.
    let shared = Policy::shared().ttl_for(move |_: StatusCode, _: &HeaderMap| Some(day));
    let max_age = headers(&[(header::CACHE_CONTROL, "max-age=5")]);
    assert_eq!(
        shared.check_response(StatusCode::OK, &max_age),
        Ok(Duration::from_secs(5))
    );
}
