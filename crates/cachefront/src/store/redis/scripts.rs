//! The Lua scripts the store runs in Redis, each one atomic step.

use redis::Script;

/// Replaces an entry; returns the tags of the entry it replaced.
const PUT_SCRIPT: &str = r"
local old = redis.call('HGET', KEYS[1], 't')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', ARGV[2], 'k', ARGV[3], 'f', ARGV[5], 'c', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return old
";

/// Removes an entry; returns 1 when it was a stored response, 0 when it was absent or the
/// primary key's copy of a variant (field `c`), which purges do not count twice.
const REMOVE_COUNTED_SCRIPT: &str = r"
local copy = redis.call('HGET', KEYS[1], 'c')
local removed = redis.call('UNLINK', KEYS[1])
if copy == '1' then
  return 0
end
return removed
";

/// Adds a digest to a tag set and makes the set live at least as long as the entry.
const TAG_ADD_SCRIPT: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
";

/// Indexes a readable key for purges by prefix, and trims members expired a minute ago.
const INDEX_ADD_SCRIPT: &str = r"
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, 128)
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('ZREM', KEYS[2], unpack(old))
end
return #old
";

/// Takes a lock unless a fresh entry is already there (then there is nothing to compute). A
/// stale entry (kept for stale serving or revalidation) does not spare the lock: when a hot key
/// goes stale on every instance at once, one of them goes to the origin and the others wait.
/// `ARGV[3]` is the caller's clock, in ms since the Unix epoch.
const LOCK_SCRIPT: &str = r"
local fresh = tonumber(redis.call('HGET', KEYS[1], 'f'))
if fresh and fresh > tonumber(ARGV[3]) then
  return 0
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
";

/// Deletes a lock if it is still ours, and wakes the waiters either way.
const UNLOCK_SCRIPT: &str = r"
local ours = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  ours = 1
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return ours
";

/// The scripts, loaded on first use (or up front, by `load_scripts`).
pub(super) struct Scripts {
    pub(super) put: Script,
    pub(super) remove_counted: Script,
    pub(super) tag_add: Script,
    pub(super) index_add: Script,
    pub(super) lock: Script,
    pub(super) unlock: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            put: Script::new(PUT_SCRIPT),
            remove_counted: Script::new(REMOVE_COUNTED_SCRIPT),
            tag_add: Script::new(TAG_ADD_SCRIPT),
            index_add: Script::new(INDEX_ADD_SCRIPT),
            lock: Script::new(LOCK_SCRIPT),
            unlock: Script::new(UNLOCK_SCRIPT),
        }
    }
}
