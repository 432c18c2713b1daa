//! The HTTP caching rules, as pure functions over plain data (RFC 9111, RFC 9110, RFC 5861,
//! RFC 9211, RFC 9213). Every rule the cache and the adapters rely on lives here, once.
//!
//! | file | the rules it holds |
//! | --- | --- |
//! | `cache_control.rs` | parsing `Cache-Control` into [`CacheControl`] (RFC 9111 §5.2) |
//! | `targeted.rs` | targeted fields such as `CDN-Cache-Control` (RFC 9213) |
//! | `storability.rs` | which statuses and header fields may be stored (§3, §3.1, §3.5, §5.2.2.5), the names `Vary` lists (§4.1) |
//! | `freshness.rs` | freshness lifetime, heuristics, age, the `Age` field (§4.2, §5.1) |
//! | `reuse.rs` | whether a stored response may be reused or served stale (§4, §4.2.4, RFC 5861) |
//! | `validation.rs` | entity-tags, client conditionals, 304s and `HEAD` freshening (RFC 9110 §8.8, §13; §4.3) |
//! | `cache_status.rs` | the `Cache-Status` member: [`CacheStatus`], [`ForwardReason`] (RFC 9211) |
//! | `date.rs` | HTTP-dates and date fields (RFC 9110 §5.6.7) |
//! | `range.rs` | byte ranges answered from a stored `200` (RFC 9110 §14, §13.1.5) |
//! | `methods.rs` | safe methods (RFC 9110 §9.2.1) |
//! | `conditional.rs` | the cache's own conditional requests, request preconditions (§4.3.1; RFC 9110 §13.1) |
//! | `invalidation.rs` | what an unsafe request invalidates (§4.4), the tags a tag header lists |

mod cache_control;
mod cache_status;
mod conditional;
mod date;
mod freshness;
mod invalidation;
mod methods;
pub(crate) mod range;
mod reuse;
mod storability;
mod targeted;
#[cfg(test)]
mod test_support;
mod validation;

pub use self::{
    cache_control::CacheControl,
    cache_status::{CACHE_STATUS, CacheStatus, ForwardReason},
    freshness::HEURISTICALLY_CACHEABLE,
};
pub(crate) use self::{
    cache_control::pragma_no_cache,
    conditional::{has_precondition, has_validator, revalidation_headers},
    freshness::{Heuristic, age_value, corrected_initial_age, freshness_lifetime, has_explicit_freshness},
    invalidation::{invalidates, listed_tags, same_origin_locations},
    methods::is_safe_method,
    reuse::{Reuse, is_stale_if_error_status, must_revalidate, reuse, stale_if_error_allows},
    storability::{
        content_length, forbids_storing, shareable_when_authorized, storable_headers, storable_status,
        understood_status, vary_names,
    },
    validation::{freshens, head_freshens, merge_not_modified, not_modified, not_modified_headers},
};
