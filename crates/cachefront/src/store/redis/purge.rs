//! Removing many entries at once: by tag (its set), by prefix of the readable key (the sorted-set
//! index), or everything under the prefix (`SCAN` on every primary of a cluster).

use std::future::Future;

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use super::{BATCH, Connection, RedisStore};
use crate::error::Error;

impl RedisStore {
    /// Unlinks keys a batch at a time; returns how many existed.
    async fn unlink_all(&self, keys: Vec<String>) -> Result<u64, Error> {
        self.count_removed(keys, |key| async move { self.unlink(&key).await })
            .await
    }

    /// Removes entries a batch at a time; returns how many stored responses went (a primary
    /// key's copy of a variant is not counted beside the variant).
    async fn remove_responses(&self, keys: Vec<String>) -> Result<u64, Error> {
        self.count_removed(keys, |key| async move {
            let mut connection = self.connection();
            let counted: i64 = self
                .call(
                    "REMOVE",
                    self.inner
                        .scripts
                        .remove_counted
                        .key(&key)
                        .invoke_async(&mut connection),
                )
                .await?;
            Ok(counted > 0)
        })
        .await
    }

    /// Runs `remove` on every key, `BATCH` at a time; returns for how many it said `true`.
    async fn count_removed<F, Fut>(&self, keys: Vec<String>, remove: F) -> Result<u64, Error>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<bool, Error>>,
    {
        stream::iter(keys)
            .map(remove)
            .buffer_unordered(BATCH)
            .try_fold(0, |count, removed| async move { Ok(count + u64::from(removed)) })
            .await
    }

    pub(super) async fn remove_tagged(&self, tag: &str) -> Result<u64, Error> {
        let tag_key = self.tag_key(tag);
        let mut members = Vec::new();
        let mut cursor = 0u64;
        loop {
            let mut connection = self.connection();
            let (next, batch): (u64, Vec<String>) = self
                .call(
                    "SSCAN",
                    redis::cmd("SSCAN")
                        .arg(&tag_key)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(BATCH)
                        .query_async(&mut connection),
                )
                .await?;
            members.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        members.sort_unstable();
        members.dedup();
        let entry_keys: Vec<String> = members.iter().map(|hex| self.entry_key(hex)).collect();
        let removed = self.remove_responses(entry_keys).await?;
        // Only the members handled here: one added meanwhile keeps its place.
        for chunk in members.chunks(BATCH) {
            let mut connection = self.connection();
            self.call(
                "SREM",
                redis::cmd("SREM")
                    .arg(&tag_key)
                    .arg(chunk)
                    .query_async::<i64>(&mut connection),
            )
            .await?;
        }
        Ok(removed)
    }

    /// Every key matching `pattern`, a `SCAN` batch at a time (on each primary of a cluster).
    async fn scan(&self, pattern: &str) -> Result<Scan, Error> {
        let nodes = match &self.inner.connection {
            Connection::Single(_) => vec![None],
            Connection::Cluster(connection) => {
                let mut connection = connection.clone();
                let nodes: String = self
                    .call("CLUSTER NODES", async {
                        let value = connection
                            .route_command(
                                redis::cmd("CLUSTER").arg("NODES").clone(),
                                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                            )
                            .await?;
                        Ok(redis::from_redis_value(value)?)
                    })
                    .await?;
                primaries(&nodes).into_iter().map(Some).collect()
            }
        };
        Ok(Scan {
            pattern: pattern.to_owned(),
            nodes,
            cursor: 0,
        })
    }

    async fn scan_step(&self, scan: &mut Scan) -> Result<Option<Vec<String>>, Error> {
        let Some(node) = scan.nodes.last().cloned() else {
            return Ok(None);
        };
        let mut command = redis::cmd("SCAN");
        command
            .arg(scan.cursor)
            .arg("MATCH")
            .arg(&scan.pattern)
            .arg("COUNT")
            .arg(BATCH);
        let (next, keys): (u64, Vec<String>) = match (&self.inner.connection, node) {
            (Connection::Cluster(connection), Some((host, port))) => {
                let mut connection = connection.clone();
                self.call("SCAN", async {
                    let value = connection
                        .route_command(
                            command,
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port }),
                        )
                        .await?;
                    Ok(redis::from_redis_value(value)?)
                })
                .await?
            }
            _ => {
                let mut connection = self.connection();
                self.call("SCAN", command.query_async(&mut connection)).await?
            }
        };
        scan.cursor = next;
        if next == 0 {
            scan.nodes.pop();
        }
        Ok(Some(keys))
    }

    /// Removes the entries whose readable key starts with `prefix`, reading every index shard
    /// (a few at a time).
    pub(super) async fn remove_with_prefix(&self, prefix: &str) -> Result<u64, Error> {
        stream::iter(self.all_index_keys())
            .map(|(keys, expiry)| async move { self.remove_with_prefix_in(prefix, &keys, &expiry).await })
            .buffer_unordered(4)
            .try_fold(0, |total, removed| async move { Ok(total + removed) })
            .await
    }

    /// [`remove_with_prefix`](Self::remove_with_prefix) in one index shard.
    async fn remove_with_prefix_in(&self, prefix: &str, keys: &str, expiry: &str) -> Result<u64, Error> {
        // Readable keys are UTF-8, which never contains the byte 0xff: `[prefix` to
        // `[prefix\xff` is exactly the keys that start with the prefix.
        let start = [&b"["[..], prefix.as_bytes()].concat();
        let end = [&b"["[..], prefix.as_bytes(), &b"\xff"[..]].concat();
        let mut removed = 0;
        loop {
            let mut connection = self.connection();
            let members: Vec<Vec<u8>> = self
                .call(
                    "ZRANGEBYLEX",
                    redis::cmd("ZRANGEBYLEX")
                        .arg(keys)
                        .arg(&start)
                        .arg(&end)
                        .arg("LIMIT")
                        .arg(0)
                        .arg(BATCH)
                        .query_async(&mut connection),
                )
                .await?;
            if members.is_empty() {
                return Ok(removed);
            }
            let entry_keys: Vec<String> = members
                .iter()
                .filter_map(|member| {
                    let at = member.iter().rposition(|b| *b == 0)?;
                    Some(self.entry_key(std::str::from_utf8(&member[at + 1..]).ok()?))
                })
                .collect();
            removed += self.remove_responses(entry_keys).await?;
            let mut connection = self.connection();
            // Same slot (the shard's hash tag): one pipeline.
            self.call(
                "ZREM",
                redis::pipe()
                    .cmd("ZREM")
                    .arg(keys)
                    .arg(&members)
                    .ignore()
                    .cmd("ZREM")
                    .arg(expiry)
                    .arg(&members)
                    .ignore()
                    .query_async::<()>(&mut connection),
            )
            .await?;
        }
    }

    pub(super) async fn clear_all(&self) -> Result<u64, Error> {
        let prefix = &self.inner.settings.prefix;
        let entries = format!("{prefix}e:");
        let locks = format!("{prefix}l:");
        let mut scan = self.scan(&format!("{prefix}*")).await?;
        let mut removed = 0;
        while let Some(keys) = self.scan_step(&mut scan).await? {
            // Locks stay: they expire by themselves and guard computations in progress.
            let (entry_keys, other_keys): (Vec<String>, Vec<String>) = keys
                .into_iter()
                .filter(|key| !key.starts_with(&locks))
                .partition(|key| key.starts_with(&entries));
            removed += self.remove_responses(entry_keys).await?;
            self.unlink_all(other_keys).await?;
        }
        Ok(removed)
    }
}

/// Where a `SCAN` is: the nodes left (the last one in progress) and its cursor there.
struct Scan {
    pattern: String,
    nodes: Vec<Option<(String, u16)>>,
    cursor: u64,
}

/// The primaries in the output of `CLUSTER NODES`.
fn primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let _id = fields.next()?;
            let address = fields.next()?;
            let flags = fields.next()?;
            if !flags.split(',').any(|f| f == "master") || flags.contains("fail") || flags.contains("noaddr")
            {
                return None;
            }
            let address = address.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            let port = port.parse().ok().filter(|p| *p != 0)?;
            Some((host.to_owned(), port))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_yield_the_primaries() {
        let nodes = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002,host2 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
aaaa 127.0.0.1:30005@40005 master,fail - 0 0 1 disconnected
bbbb :0@0 master,noaddr - 0 0 1 disconnected
";
        assert_eq!(
            primaries(nodes),
            [
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30003),
                ("127.0.0.1".to_owned(), 30001)
            ]
        );
    }
}
