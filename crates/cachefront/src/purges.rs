//! Purges against the misses already in flight: a response whose request began before an
//! invalidation must not be stored under a key that invalidation matched.
//!
//! Every invalidation is recorded here, with an epoch, *before* it removes anything; every
//! store write checks the purges recorded since its request began, before writing and again
//! after (removing what it wrote if one came in meanwhile). The common case costs one atomic
//! load: no purge since the request began.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::{entry::Entry, key::KeyDigest};

/// How many recent purges are remembered; a request that began before the oldest one
/// remembered is not stored (it cannot be checked).
const REMEMBERED: usize = 512;

/// What one invalidation matched.
#[derive(Clone, Debug)]
pub(crate) enum Purge {
    /// One URI by its primary key: the entry under it and every variant of it.
    Uri(KeyDigest),
    /// Every entry carrying the tag.
    Tag(Arc<str>),
    /// Every entry whose readable key starts with this.
    Prefix(Arc<str>),
    /// Everything.
    All,
}

impl Purge {
    fn matches(&self, entry: &Entry) -> bool {
        match self {
            Self::Uri(digest) => {
                entry.key.digest() == digest || crate::flow::variants::is_variant_of(entry, digest)
            }
            Self::Tag(tag) => entry.tags.iter().any(|t| t == tag),
            Self::Prefix(prefix) => entry.key.readable().starts_with(&**prefix),
            Self::All => true,
        }
    }
}

/// Where the invalidations stood when a request began: this cache's own, and those its
/// store heard from other instances ([`Store::invalidation_epoch`](crate::store::Store::invalidation_epoch)).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PurgeEpoch {
    pub(crate) local: u64,
    pub(crate) store: u64,
}

/// The recent invalidations of one cache (or heard by one store), by epoch.
#[derive(Debug, Default)]
pub(crate) struct PurgeLog {
    epoch: AtomicU64,
    recent: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    purges: VecDeque<(u64, Purge)>,
    /// Requests that began before this epoch are not checked but refused.
    floor: u64,
}

impl PurgeLog {
    /// The current epoch: a request remembers it when it begins.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Records an invalidation before it runs.
    pub(crate) fn record(&self, purge: Purge) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let epoch = self.epoch.load(Ordering::Acquire) + 1;
        recent.purges.push_back((epoch, purge));
        while recent.purges.len() > REMEMBERED {
            if let Some((trimmed, _)) = recent.purges.pop_front() {
                recent.floor = trimmed;
            }
        }
        // Published after the purge is listed: a writer that sees the epoch sees the purge.
        self.epoch.store(epoch, Ordering::Release);
    }

    /// Whether an invalidation recorded after `since` (a request's starting epoch) matches
    /// `entry`: then the entry must not be stored.
    pub(crate) fn overtakes(&self, since: u64, entry: &Entry) -> bool {
        if self.epoch() == since {
            return false;
        }
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if since < recent.floor {
            return true;
        }
        recent
            .purges
            .iter()
            .rev()
            .take_while(|(epoch, _)| *epoch > since)
            .any(|(_, purge)| purge.matches(entry))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::key::CacheKey;

    fn entry(key: &str, tags: &[&str]) -> Entry {
        let mut entry = Entry::new(
            CacheKey::from_parts([key]),
            http::StatusCode::OK,
            bytes::Bytes::new(),
            Duration::from_secs(60),
        );
        entry.tags = tags.iter().map(|t| Arc::from(*t)).collect();
        entry
    }

    #[test]
    fn only_purges_after_the_request_began_and_matching_the_entry_overtake_it() {
        let log = PurgeLog::default();
        let before = log.epoch();
        let a = entry("GET /a", &["x"]);
        assert!(!log.overtakes(before, &a), "no purge yet");
        log.record(Purge::Tag(Arc::from("y")));
        assert!(!log.overtakes(before, &a), "another tag");
        log.record(Purge::Prefix(Arc::from("GET /b")));
        assert!(!log.overtakes(before, &a), "another prefix");
        log.record(Purge::Tag(Arc::from("x")));
        assert!(log.overtakes(before, &a), "its tag, after it began");
        assert!(
            !log.overtakes(log.epoch(), &a),
            "a request that began after the purge stores"
        );
        log.record(Purge::Uri(*a.key.digest()));
        let since = log.epoch() - 1;
        assert!(log.overtakes(since, &a));
        log.record(Purge::All);
        assert!(log.overtakes(log.epoch() - 1, &entry("GET /z", &[])));
    }

    #[test]
    fn a_request_older_than_what_is_remembered_is_refused() {
        let log = PurgeLog::default();
        let before = log.epoch();
        for _ in 0..=REMEMBERED {
            log.record(Purge::Tag(Arc::from("other")));
        }
        assert!(log.overtakes(before, &entry("GET /a", &[])));
    }
}
