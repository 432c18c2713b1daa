//! Invalidations that failed while Redis was down, kept and replayed once it answers: so that
//! entries invalidated during an outage do not come back from Redis (restored from its
//! snapshot, or on a server that was only unreachable) into every instance's memory.
//!
//! A removal by key, tag, prefix or of everything that fails is queued (at most
//! [`MAX_QUEUED`]; past that the queue collapses into one purge of everything under the
//! prefix). The queue is replayed, in order, as soon as a call succeeds again or the probe
//! finds Redis answering; and a read waits for the replay first, so this instance never reads
//! back what it invalidated. Each replayed invalidation is published too, for the instances
//! that were listening but whose memory tier copied the entry meanwhile.

use std::{
    collections::VecDeque,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use super::{Invalidation, RedisStore};
use crate::error::Error;

/// The most failed invalidations kept one by one; one more turns them into a purge of
/// everything under the prefix.
pub(super) const MAX_QUEUED: usize = 1024;

/// The queue of failed invalidations.
#[derive(Default)]
pub(super) struct Replay {
    /// Whether anything is queued: one load on every read and every successful call.
    pending: AtomicBool,
    /// Whether a replay task has been started and not finished.
    scheduled: AtomicBool,
    queue: Mutex<VecDeque<Invalidation>>,
    /// One replay at a time, so that the order holds.
    turn: tokio::sync::Mutex<()>,
}

impl Replay {
    /// Whether invalidations wait to be replayed.
    pub(super) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Queues a failed invalidation.
    fn push(&self, invalidation: Invalidation) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let everything = matches!(queue.front(), Some(Invalidation::All)) && queue.len() == 1;
        if everything {
            // Already purging everything: nothing else adds to that.
        } else if matches!(invalidation, Invalidation::All) || queue.len() >= MAX_QUEUED {
            if queue.len() >= MAX_QUEUED {
                tracing::warn!(
                    max = MAX_QUEUED,
                    "too many invalidations failed while Redis was down; everything under the \
                     prefix will be purged once it answers"
                );
            }
            queue.clear();
            queue.push_back(Invalidation::All);
        } else if !queue.contains(&invalidation) {
            queue.push_back(invalidation);
        }
        self.pending.store(true, Ordering::Release);
    }

    /// The next invalidation to replay; `None` (and nothing pending) once the queue is empty.
    fn next(&self) -> Option<Invalidation> {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let next = queue.front().cloned();
        if next.is_none() {
            self.pending.store(false, Ordering::Release);
        }
        next
    }

    /// Drops `done` from the front of the queue, unless the queue changed under it.
    fn done(&self, done: &Invalidation) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.front() == Some(done) {
            queue.pop_front();
        }
    }

    #[cfg(test)]
    pub(super) fn queued(&self) -> Vec<Invalidation> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

impl RedisStore {
    /// Runs an invalidation in Redis; if it fails, queues it for replay and returns the error.
    pub(super) async fn invalidating<T>(
        &self,
        invalidation: Invalidation,
        removal: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let result = removal.await;
        if result.is_err() {
            self.inner.replay.push(invalidation);
        }
        result
    }

    /// Queues an invalidation whose removal succeeded but whose publication failed: the replay
    /// removes again (harmless) and publishes.
    pub(crate) fn queue_invalidation(&self, invalidation: Invalidation) {
        self.inner.replay.push(invalidation);
    }

    /// Starts a replay in the background, unless one is under way.
    pub(super) fn schedule_replay(&self) {
        let replay = &self.inner.replay;
        if !replay.is_pending() || replay.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        let task = async move {
            let _ = store.replay().await;
            store.inner.replay.scheduled.store(false, Ordering::Release);
            // A failure queued after the replay looked for the last time.
            if store.inner.replay.is_pending() && !store.inner.breaker.is_open() {
                store.schedule_replay();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(task)),
            Err(_) => drop(self.inner.runtime.spawn(task)),
        }
    }

    /// Replays the queued invalidations in order, publishing each; stops at the first that
    /// fails (it stays queued).
    pub(super) async fn replay(&self) -> Result<(), Error> {
        let replay = &self.inner.replay;
        let _turn = replay.turn.lock().await;
        while let Some(invalidation) = replay.next() {
            match &invalidation {
                Invalidation::Key(hex) => self.unlink(&self.entry_key(hex)).await.map(drop),
                Invalidation::Tag(tag) => self.remove_tagged(tag).await.map(drop),
                Invalidation::Prefix(prefix) => self.remove_with_prefix(prefix).await.map(drop),
                Invalidation::All => self.clear_all().await.map(drop),
            }?;
            replay.done(&invalidation);
            tracing::info!(
                ?invalidation,
                "replayed an invalidation that failed while Redis was down"
            );
            // Best effort: an instance that misses it emptied its memory when it lost the channel.
            let _ = self.publish(&invalidation).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_keeps_order_drops_repeats_and_overflows_into_everything() {
        let replay = Replay::default();
        assert!(!replay.is_pending());
        replay.push(Invalidation::Key("ab".to_owned()));
        replay.push(Invalidation::Tag("t".to_owned()));
        replay.push(Invalidation::Key("ab".to_owned()));
        assert!(replay.is_pending());
        assert_eq!(
            replay.queued(),
            [
                Invalidation::Key("ab".to_owned()),
                Invalidation::Tag("t".to_owned())
            ]
        );
        let first = replay.next().unwrap();
        replay.done(&first);
        assert_eq!(replay.next(), Some(Invalidation::Tag("t".to_owned())));
        replay.done(&Invalidation::Tag("t".to_owned()));
        assert_eq!(replay.next(), None);
        assert!(!replay.is_pending());

        for n in 0..=MAX_QUEUED {
            replay.push(Invalidation::Prefix(format!("GET /{n}")));
        }
        assert_eq!(
            replay.queued(),
            [Invalidation::All],
            "one past the bound purges everything"
        );
        replay.push(Invalidation::Tag("later".to_owned()));
        assert_eq!(
            replay.queued(),
            [Invalidation::All],
            "everything covers what comes after"
        );
    }
}
