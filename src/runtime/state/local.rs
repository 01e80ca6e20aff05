//! The local copy of a processor's keyed state: an embedded redb database, one table per changelog
//! partition, with a bounded page cache.
//!
//! It is only a cache of the changelog, so it needs no durability of its own: commits are
//! `Durability::None` (no fsync), with an `Eventual` one every [`DURABLE_EVERY`] commits because redb
//! frees pages only on those. A clean shutdown flushes it ([`Local::flush`]) and the next start keeps
//! it; after a crash the file is deleted and rebuilt by restoring.
//! Memory stays within the configured cache; beyond it the state lives on disk.

use redb::{Database, Durability, ReadableTableMetadata, TableDefinition};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// redb reuses freed pages only after a durable commit; one in this many keeps the file from growing.
const DURABLE_EVERY: u32 = 64;

#[derive(Debug, thiserror::Error)]
#[error("local state store {path}: {op}: {reason}")]
pub struct LocalError {
    path: String,
    op: &'static str,
    reason: String,
}

/// One change to apply: `value` `None` deletes the key.
pub struct Put<'a> {
    pub partition: i32,
    pub key: &'a str,
    pub value: Option<&'a [u8]>,
}

pub struct Local {
    db: Database,
    path: PathBuf,
    commits: u32,
}

fn table_name(partition: i32) -> String {
    format!("p{partition}")
}

impl Local {
    /// A new, empty store at `path` (an existing file is deleted first: it may be stale).
    pub fn create(path: &Path, cache_bytes: usize) -> Result<Self, LocalError> {
        Self::open(path, cache_bytes, false)
    }

    /// The store at `path`; with `keep`, an existing file is reopened as it was last flushed
    /// ([`Local::flush`]), otherwise it is deleted first.
    pub fn open(path: &Path, cache_bytes: usize, keep: bool) -> Result<Self, LocalError> {
        let err = |op, e: &dyn std::fmt::Display| LocalError {
            path: path.display().to_string(),
            op,
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err("create directory", &e))?;
        }
        if !keep {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err("remove stale file", &e)),
            }
        }
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| err("create", &e))?;
        Ok(Self {
            db,
            path: path.to_owned(),
            commits: 0,
        })
    }

    fn err(&self, op: &'static str, e: impl std::fmt::Display) -> LocalError {
        LocalError {
            path: self.path.display().to_string(),
            op,
            reason: e.to_string(),
        }
    }

    /// The stored values of `keys` (partition, key); absent keys are left out.
    pub fn get_many(&self, keys: &[(i32, &str)]) -> Result<BTreeMap<String, Vec<u8>>, LocalError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let mut by_partition: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
        for (p, k) in keys {
            by_partition.entry(*p).or_default().push(k);
        }
        let mut out = BTreeMap::new();
        for (p, keys) in by_partition {
            let name = table_name(p);
            let def: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
            let table = match txn.open_table(def) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(self.err("open table", e)),
            };
            for k in keys {
                if let Some(v) = table.get(k).map_err(|e| self.err("get", e))? {
                    out.insert(k.to_owned(), v.value().to_vec());
                }
            }
        }
        Ok(out)
    }

    /// Applies `puts` in order, in one local transaction.
    pub fn apply(&mut self, puts: &[Put<'_>]) -> Result<(), LocalError> {
        self.commits = self.commits.wrapping_add(1);
        let flush = self.commits % DURABLE_EVERY == 0;
        self.write(puts, flush)
    }

    /// Applies a large chunk (a restore's) and writes it out: redb holds the pages of non-durable
    /// commits in memory until a durable one.
    pub fn apply_bulk(&mut self, puts: &[Put<'_>]) -> Result<(), LocalError> {
        self.write(puts, true)
    }

    fn write(&mut self, puts: &[Put<'_>], flush: bool) -> Result<(), LocalError> {
        if puts.is_empty() {
            return Ok(());
        }
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| self.err("begin write", e))?;
        txn.set_durability(if flush {
            Durability::Eventual
        } else {
            Durability::None
        });
        let mut by_partition: BTreeMap<i32, Vec<&Put<'_>>> = BTreeMap::new();
        for put in puts {
            by_partition.entry(put.partition).or_default().push(put);
        }
        for (p, puts) in by_partition {
            let name = table_name(p);
            let def: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
            let mut table = txn.open_table(def).map_err(|e| self.err("open table", e))?;
            for put in puts {
                match put.value {
                    Some(v) => table.insert(put.key, v).map(|_| ()),
                    None => table.remove(put.key).map(|_| ()),
                }
                .map_err(|e| self.err("write", e))?;
            }
        }
        txn.commit().map_err(|e| self.err("commit", e))
    }

    /// Makes every commit so far durable: reopened, the store has them all.
    pub fn flush(&mut self) -> Result<(), LocalError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| self.err("begin write", e))?;
        txn.set_durability(Durability::Immediate);
        txn.commit().map_err(|e| self.err("commit", e))
    }

    /// Forgets a partition's state (before a restore from scratch).
    pub fn clear(&mut self, partition: i32) -> Result<(), LocalError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| self.err("begin write", e))?;
        let name = table_name(partition);
        let def: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        txn.delete_table(def)
            .map_err(|e| self.err("delete table", e))?;
        txn.commit().map_err(|e| self.err("commit", e))
    }

    /// Keys stored for `partition` (tests and the restore measure).
    pub fn len(&self, partition: i32) -> Result<u64, LocalError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let name = table_name(partition);
        let def: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        match txn.open_table(def) {
            Ok(t) => t.len().map_err(|e| self.err("len", e)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(self.err("open table", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puts_deletes_and_partitions_are_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        std::fs::write(&path, b"stale garbage").unwrap();
        let mut l = Local::create(&path, 1 << 20).unwrap();
        l.apply(&[
            Put {
                partition: 0,
                key: "a",
                value: Some(b"1"),
            },
            Put {
                partition: 1,
                key: "a",
                value: Some(b"x"),
            },
            Put {
                partition: 0,
                key: "b",
                value: Some(b"2"),
            },
            Put {
                partition: 0,
                key: "a",
                value: Some(b"3"),
            },
        ])
        .unwrap();
        l.apply(&[Put {
            partition: 0,
            key: "b",
            value: None,
        }])
        .unwrap();
        let got = l.get_many(&[(0, "a"), (0, "b"), (2, "a")]).unwrap();
        assert_eq!(got, BTreeMap::from([("a".to_owned(), b"3".to_vec())]));
        assert_eq!(l.get_many(&[(1, "a")]).unwrap()["a"], b"x".to_vec());
        assert_eq!(l.len(0).unwrap(), 1);
        l.clear(0).unwrap();
        assert_eq!(l.len(0).unwrap(), 0);
        assert_eq!(l.len(1).unwrap(), 1);

        // Flushed, reopened with `keep`: as it was; reopened without: empty.
        l.apply(&[Put {
            partition: 1,
            key: "b",
            value: Some(b"y"),
        }])
        .unwrap();
        l.flush().unwrap();
        drop(l);
        let kept = Local::open(&path, 1 << 20, true).unwrap();
        assert_eq!(kept.len(1).unwrap(), 2);
        drop(kept);
        assert_eq!(Local::create(&path, 1 << 20).unwrap().len(1).unwrap(), 0);
    }
}
