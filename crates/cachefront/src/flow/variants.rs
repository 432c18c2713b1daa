//! Variants (RFC 9111 §4.1): the per-URI index that caps how many are stored, the internal tag
//! that removes them together, and the flight each variant's misses coalesce on.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, PoisonError},
};

use crate::{
    entry::Entry,
    key::{CacheKey, KeyDigest},
    request::{RequestHead, normalized_header},
};

/// The variants this instance stored for each URI, oldest first, so that the cap per URI holds
/// without reading the list back from the store (a read-modify-write that concurrent stores and
/// instances would lose). Each instance enforces the cap on what it stores.
///
/// The index keeps digests only (32 bytes a variant, whatever the length of the URL), and has a
/// bound of its own: at most [`VariantIndex::max_uris`] URIs, the oldest forgotten first. A
/// forgotten URI's variants stay stored until they expire or are evicted (the store's byte
/// bound holds regardless); the cap then counts its new variants afresh.
#[derive(Debug)]
pub(crate) struct VariantIndex {
    lists: Mutex<VariantLists>,
    max_uris: usize,
}

#[derive(Debug, Default)]
pub(crate) struct VariantLists {
    by_uri: HashMap<KeyDigest, Vec<KeyDigest>>,
    /// URIs in the order they were first indexed; may hold URIs forgotten since (skipped).
    order: VecDeque<KeyDigest>,
}

/// The most URIs with variants the index follows, whatever the store's capacity.
const MAX_INDEXED_URIS: usize = 100_000;
/// The fewest, however small the store.
const MIN_INDEXED_URIS: usize = 1_024;

impl VariantIndex {
    /// An index sized for a store of `capacity` bytes: one URI per 4 KiB of capacity (a URI
    /// with variants holds at least two entries, its primary's copy and a variant, each
    /// weighing more than 2 KiB), between 1,024 and 100,000 URIs. At most ~200 bytes a URI
    /// with one variant, so 64 MiB of store means ~3 MiB of index.
    pub(crate) fn for_capacity(capacity: Option<u64>) -> Self {
        let max_uris = capacity.map_or(MAX_INDEXED_URIS, |bytes| {
            usize::try_from(bytes / 4096)
                .unwrap_or(usize::MAX)
                .clamp(MIN_INDEXED_URIS, MAX_INDEXED_URIS)
        });
        Self {
            lists: Mutex::new(VariantLists::default()),
            max_uris,
        }
    }

    fn lists(&self) -> std::sync::MutexGuard<'_, VariantLists> {
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `variant` of the URI `primary` is among those kept.
    pub(crate) fn contains(&self, primary: &KeyDigest, variant: &KeyDigest) -> bool {
        self.lists()
            .by_uri
            .get(primary)
            .is_some_and(|variants| variants.contains(variant))
    }

    /// Records that `variant` of the URI `primary` was stored; returns the variants to remove
    /// to stay within `cap`.
    pub(crate) fn record(&self, primary: KeyDigest, variant: KeyDigest, cap: usize) -> Vec<KeyDigest> {
        let mut lists = self.lists();
        let lists = &mut *lists;
        if !lists.by_uri.contains_key(&primary) {
            while lists.by_uri.len() >= self.max_uris {
                let Some(oldest) = lists.order.pop_front() else {
                    break;
                };
                lists.by_uri.remove(&oldest);
            }
            // Forgotten URIs leave their place in `order`; sweep them before it doubles.
            if lists.order.len() >= 2 * self.max_uris {
                let by_uri = &lists.by_uri;
                lists.order.retain(|uri| by_uri.contains_key(uri));
            }
            lists.order.push_back(primary);
        }
        let variants = lists.by_uri.entry(primary).or_default();
        variants.retain(|known| *known != variant);
        if variants.len() == variants.capacity() {
            // Exact growth: most URIs have one or two variants.
            variants.reserve_exact(1);
        }
        variants.push(variant);
        let excess = variants.len().saturating_sub(cap.max(1));
        variants.drain(..excess).collect()
    }

    /// Forgets a URI whose variants were all invalidated.
    pub(crate) fn forget(&self, primary: &KeyDigest) {
        self.lists().by_uri.remove(primary);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lists().by_uri.len()
    }
}

const VARIANTS_TAG: &str = "cachefront:variants:";

/// The internal tag every variant of a URI carries, so that they can be removed together.
pub(crate) fn variants_tag(primary: &CacheKey) -> String {
    format!("{VARIANTS_TAG}{}", primary.digest().to_hex())
}

/// Whether `entry` is a variant (or the primary's copy of one) of the URI whose primary key
/// has `digest`.
pub(crate) fn is_variant_of(entry: &Entry, digest: &KeyDigest) -> bool {
    !entry.vary.is_empty()
        && entry.tags.iter().any(|tag| {
            tag.strip_prefix(VARIANTS_TAG)
                .and_then(KeyDigest::from_hex)
                .is_some_and(|uri| uri == *digest)
        })
}

/// Whether `entry` is the copy of a URI's latest variant kept under the URI's primary key
/// (stored beside the variant itself): purges count the variant, not its copy.
pub(crate) fn is_primary_copy(entry: &Entry) -> bool {
    is_variant_of(entry, entry.key.digest())
}

/// The flight a request for a URI (primary key `primary`) joins once `entry`, a response for
/// that URI, said what it varies on: the request's variant's key. A response without `Vary`
/// has one flight, the URI's.
pub(crate) fn variant_flight<R: RequestHead>(primary: &CacheKey, entry: &Entry, request: &R) -> KeyDigest {
    if entry.vary.is_empty() {
        return *primary.digest();
    }
    primary.variant_digest(
        entry
            .vary
            .iter()
            .map(|(name, _)| (name, normalized_header(request, name))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u32) -> KeyDigest {
        *CacheKey::from_parts([n.to_string()]).digest()
    }

    #[test]
    fn the_variant_index_has_a_bound_of_its_own() {
        let index = VariantIndex::for_capacity(Some(8 * 1024 * 1024));
        assert_eq!(index.max_uris, 2048, "one URI per 4 KiB of store");
        for uri in 0..10_000 {
            assert!(index.record(digest(uri), digest(uri + 1_000_000), 16).is_empty());
        }
        assert_eq!(index.len(), 2048, "the oldest URIs are forgotten first");
        assert!(!index.contains(&digest(0), &digest(1_000_000)));
        assert!(index.contains(&digest(9_999), &digest(1_009_999)));
        // The cap per URI still holds for the URIs it follows.
        let uri = digest(9_999);
        let evicted: Vec<KeyDigest> = (0..3).flat_map(|v| index.record(uri, digest(v), 2)).collect();
        assert_eq!(evicted, [digest(1_009_999), digest(0)]);
        index.forget(&uri);
        assert!(!index.contains(&uri, &digest(2)));
        assert_eq!(VariantIndex::for_capacity(None).max_uris, MAX_INDEXED_URIS);
        assert_eq!(VariantIndex::for_capacity(Some(1)).max_uris, MIN_INDEXED_URIS);
    }
}
