//! The local copy of a processor's keyed state: an embedded redb database, one table per changelog
//! partition (key → [`value`] layout: timers and state), with a bounded page cache. Next to each, a
//! timer index (due time, key) is kept in the same local transactions, so the due timers and the next
//! due time are range reads, and memory does not grow with the number of timers.
//!
//! It is only a cache of the changelog, so it needs no durability of its own: commits are
//! `Durability::None` (no fsync), with an `Eventual` one every [`DURABLE_EVERY`] commits because redb
//! frees pages only on those. A clean shutdown flushes it ([`Local::flush`]) and the next start keeps
//! it; after a crash the file is deleted and rebuilt by restoring.
//! Memory stays within the configured cache; beyond it the state lives on disk.

use super::value;
use crate::processors::KeyState;
use redb::{
    Database, Durability, ReadableTable, ReadableTableMetadata, Table, TableDefinition,
    WriteTransaction,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The timer index of a partition: (due time, key) → nothing.
type IndexDef<'a> = TableDefinition<'a, (i64, &'static str), ()>;
/// A partition's timer index, opened for reading.
type IndexTable = redb::ReadOnlyTable<(i64, &'static str), ()>;

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

fn index_name(partition: i32) -> String {
    format!("t{partition}")
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

    /// The stored state and timers of `keys` (partition, key); absent keys are left out.
    pub fn get_many(&self, keys: &[(i32, &str)]) -> Result<BTreeMap<String, KeyState>, LocalError> {
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
                    let stored = value::decode(v.value()).map_err(|e| self.err("decode", e))?;
                    out.insert(k.to_owned(), stored);
                }
            }
        }
        Ok(out)
    }

    /// Up to `max` keys of `partitions` with a timer due at or before `now_ms`, earliest first.
    pub fn due(
        &self,
        partitions: &BTreeSet<i32>,
        now_ms: i64,
        max: usize,
    ) -> Result<Vec<(i32, String)>, LocalError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let mut due: Vec<(i64, i32, String)> = Vec::new();
        for p in partitions {
            let Some(index) = self.index(&txn, *p)? else {
                continue;
            };
            let upper = now_ms.saturating_add(1);
            let range = index
                .range::<(i64, &str)>(..(upper, ""))
                .map_err(|e| self.err("range", e))?;
            for entry in range.take(max) {
                let (k, _) = entry.map_err(|e| self.err("range", e))?;
                let (at, key) = k.value();
                due.push((at, *p, key.to_owned()));
            }
        }
        due.sort();
        let mut seen = BTreeSet::new();
        Ok(due
            .into_iter()
            .filter(|(_, p, k)| seen.insert((*p, k.clone())))
            .map(|(_, p, k)| (p, k))
            .take(max)
            .collect())
    }

    /// The timer index of `partition`, if it has one yet.
    fn index(
        &self,
        txn: &redb::ReadTransaction,
        partition: i32,
    ) -> Result<Option<IndexTable>, LocalError> {
        let name = index_name(partition);
        match txn.open_table(IndexDef::new(&name)) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.err("open index", e)),
        }
    }

    /// The earliest due time of a timer of `partitions`.
    pub fn next_due(&self, partitions: &BTreeSet<i32>) -> Result<Option<i64>, LocalError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let mut next: Option<i64> = None;
        for p in partitions {
            let Some(index) = self.index(&txn, *p)? else {
                continue;
            };
            let first = index
                .first()
                .map_err(|e| self.err("first", e))?
                .map(|(k, _)| k.value().0);
            if let Some(at) = first {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        Ok(next)
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
            self.write_partition(&txn, p, &puts)?;
        }
        txn.commit().map_err(|e| self.err("commit", e))
    }

    /// Writes one partition's puts and keeps its timer index in step: the old value's timers are
    /// unindexed, the new value's indexed.
    fn write_partition(
        &self,
        txn: &WriteTransaction,
        partition: i32,
        puts: &[&Put<'_>],
    ) -> Result<(), LocalError> {
        let name = table_name(partition);
        let def: TableDefinition<&str, &[u8]> = TableDefinition::new(&name);
        let mut table = txn.open_table(def).map_err(|e| self.err("open table", e))?;
        let index_name = index_name(partition);
        let mut index = txn
            .open_table(IndexDef::new(&index_name))
            .map_err(|e| self.err("open index", e))?;
        for put in puts {
            let new = match put.value {
                Some(v) => value::due_times(v).map_err(|e| self.err("encode", e))?,
                None => vec![],
            };
            let replaced = match put.value {
                Some(v) => table.insert(put.key, v),
                None => table.remove(put.key),
            }
            .map_err(|e| self.err("write", e))?;
            let old = match replaced {
                Some(guard) => {
                    value::due_times(guard.value()).map_err(|e| self.err("decode", e))?
                }
                None => vec![],
            };
            self.reindex(&mut index, put.key, &old, &new)?;
        }
        Ok(())
    }

    fn reindex(
        &self,
        index: &mut Table<'_, (i64, &'static str), ()>,
        key: &str,
        old: &[i64],
        new: &[i64],
    ) -> Result<(), LocalError> {
        for at in old.iter().filter(|at| !new.contains(at)) {
            index
                .remove((*at, key))
                .map_err(|e| self.err("unindex", e))?;
        }
        for at in new.iter().filter(|at| !old.contains(at)) {
            index
                .insert((*at, key), ())
                .map_err(|e| self.err("index", e))?;
        }
        Ok(())
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
        let index_name = index_name(partition);
        txn.delete_table(IndexDef::new(&index_name))
            .map_err(|e| self.err("delete index", e))?;
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
    use crate::processors::timers::Timer;

    fn v(state: &str) -> Vec<u8> {
        value::encode(state.as_bytes(), &[])
    }

    fn put<'a>(partition: i32, key: &'a str, value: Option<&'a [u8]>) -> Put<'a> {
        Put {
            partition,
            key,
            value,
        }
    }

    fn state(s: &str) -> KeyState {
        KeyState {
            state: s.as_bytes().to_vec(),
            timers: vec![],
        }
    }

    #[test]
    fn puts_deletes_and_partitions_are_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        std::fs::write(&path, b"stale garbage").unwrap();
        let mut l = Local::create(&path, 1 << 20).unwrap();
        let (one, x, two, three) = (v("1"), v("x"), v("2"), v("3"));
        l.apply(&[
            put(0, "a", Some(&one)),
            put(1, "a", Some(&x)),
            put(0, "b", Some(&two)),
            put(0, "a", Some(&three)),
        ])
        .unwrap();
        l.apply(&[put(0, "b", None)]).unwrap();
        let got = l.get_many(&[(0, "a"), (0, "b"), (2, "a")]).unwrap();
        assert_eq!(got, BTreeMap::from([("a".to_owned(), state("3"))]));
        assert_eq!(l.get_many(&[(1, "a")]).unwrap()["a"], state("x"));
        assert_eq!(l.len(0).unwrap(), 1);
        l.clear(0).unwrap();
        assert_eq!(l.len(0).unwrap(), 0);
        assert_eq!(l.len(1).unwrap(), 1);

        // Flushed, reopened with `keep`: as it was; reopened without: empty.
        let y = v("y");
        l.apply(&[put(1, "b", Some(&y))]).unwrap();
        l.flush().unwrap();
        drop(l);
        let kept = Local::open(&path, 1 << 20, true).unwrap();
        assert_eq!(kept.len(1).unwrap(), 2);
        drop(kept);
        assert_eq!(Local::create(&path, 1 << 20).unwrap().len(1).unwrap(), 0);
    }

    #[test]
    fn the_timer_index_follows_every_put_delete_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Local::create(&dir.path().join("t.redb"), 1 << 20).unwrap();
        let t = |kind: &str, due| Timer::new(kind, due, b"p".to_vec());
        let a = value::encode(b"a", &[t("x", 30), t("y", 10)]);
        let b = value::encode(b"b", &[t("x", 20)]);
        let c = value::encode(b"c", &[t("x", 5)]);
        l.apply(&[
            put(0, "a", Some(&a)),
            put(0, "b", Some(&b)),
            put(1, "c", Some(&c)),
        ])
        .unwrap();
        let both = BTreeSet::from([0, 1]);
        assert_eq!(l.next_due(&both).unwrap(), Some(5));
        assert_eq!(l.next_due(&BTreeSet::from([0])).unwrap(), Some(10));
        assert_eq!(l.next_due(&BTreeSet::from([7])).unwrap(), None);
        // Earliest first, a key once however many of its timers are due, bounded by `max`.
        assert_eq!(
            l.due(&both, 30, 10).unwrap(),
            vec![(1, "c".into()), (0, "a".into()), (0, "b".into())]
        );
        assert_eq!(
            l.due(&both, 19, 10).unwrap(),
            vec![(1, "c".into()), (0, "a".into())]
        );
        assert_eq!(l.due(&both, 30, 1).unwrap(), vec![(1, "c".into())]);
        assert!(l.due(&both, 4, 10).unwrap().is_empty());

        // A new value replaces the key's index entries; a delete and a clear remove them.
        let a2 = value::encode(b"a", &[t("x", 40)]);
        l.apply(&[put(0, "a", Some(&a2)), put(0, "b", None)])
            .unwrap();
        assert_eq!(l.due(&both, 39, 10).unwrap(), vec![(1, "c".into())]);
        assert_eq!(l.next_due(&BTreeSet::from([0])).unwrap(), Some(40));
        l.clear(1).unwrap();
        assert_eq!(l.next_due(&both).unwrap(), Some(40));
        assert_eq!(
            l.get_many(&[(0, "a")]).unwrap()["a"].timers,
            vec![t("x", 40)]
        );

        // A value that is not in the layout is refused, not stored.
        assert!(l.apply(&[put(0, "z", Some(b"raw"))]).is_err());
    }
}
