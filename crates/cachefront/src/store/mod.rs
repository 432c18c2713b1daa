//! Where entries live: the [`Store`] trait and its implementations.

mod memory;

use std::{fmt, future::Future, pin::Pin, sync::Arc};

pub use self::memory::{DEFAULT_MAX_BYTES, MemoryStore};
use crate::{entry::Entry, error::Error, key::CacheKey};

/// A boxed, `Send` future, as returned by [`Store`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Storage for entries: memory ([`MemoryStore`]), and (in later releases) Redis and a tiered
/// combination of both.
///
/// Implementations expire entries by themselves once their lifetime is over
/// ([`Entry::time_to_live`]). Errors are reported, never hidden: the cache logs and counts them
/// and then behaves as if the entry were absent (fail open).
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// The entry stored under `key`, if any and not expired.
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<Option<Arc<Entry>>, Error>>;

    /// Stores `entry` under its key, replacing any entry there.
    fn put(&self, entry: Arc<Entry>) -> BoxFuture<'_, Result<(), Error>>;

    /// Removes the entry under `key`; returns whether there was one.
    fn remove<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Result<bool, Error>>;

    /// Removes every entry carrying `tag`; returns how many went.
    fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<u64, Error>>;

    /// Removes every entry; returns how many went.
    fn clear(&self) -> BoxFuture<'_, Result<u64, Error>>;

    /// Entries, bytes and evictions, as far as the store knows them.
    fn usage(&self) -> StoreUsage;
}

/// What a store holds, as reported by [`Store::usage`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreUsage {
    /// Entries held.
    pub entries: u64,
    /// Bytes held, by the store's own measure ([`Entry::weight`] for the memory store).
    pub bytes: u64,
    /// The most bytes the store holds, if bounded.
    pub capacity_bytes: Option<u64>,
    /// Entries removed to make room.
    pub evictions: u64,
    /// Entries removed because their lifetime ended.
    pub expirations: u64,
}
