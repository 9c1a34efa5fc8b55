//! A bounded cache of loaded documents. Loading a record means reading its
//! snapshot and the changes logged since and rebuilding the Automerge
//! document: the cost grows with the document's history. Hot documents stay
//! loaded here instead, so merging a change costs the same on a record with
//! ten thousand changes as on a fresh one.
//!
//! Entries are keyed by document and tagged with the change-log version they
//! reflect; a reader that finds an older version (another server process
//! wrote since) catches up by applying only the newer log entries. A writer
//! takes the entry out while it works and puts it back after its
//! transaction commits, so a rolled-back change never reaches the cache.
//! Memory is bounded by an estimate of each document's size; the least
//! recently used entries go first.

use automerge::{AutoCommit, ReadDoc};
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// Estimated bytes per operation and per change of a loaded document
/// (measured on account documents: the op set, indexes and change graph).
const BYTES_PER_OP: u64 = 120;
const BYTES_PER_CHANGE: u64 = 200;

struct Entry {
    doc: AutoCommit,
    version: i64,
    size: u64,
    used: u64,
}

struct Inner {
    entries: HashMap<Uuid, Entry>,
    bytes: u64,
    clock: u64,
}

/// Loaded documents, bounded in estimated memory.
pub struct DocCache {
    inner: Mutex<Inner>,
    max_bytes: u64,
}

fn estimate(doc: &AutoCommit) -> u64 {
    let stats = doc.stats();
    stats.num_ops * BYTES_PER_OP + stats.num_changes * BYTES_PER_CHANGE
}

impl DocCache {
    /// An empty cache holding at most about `max_bytes` of documents.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                bytes: 0,
                clock: 0,
            }),
            max_bytes,
        }
    }

    /// Takes a document out, with the version it reflects.
    pub fn take(&self, id: Uuid) -> Option<(AutoCommit, i64)> {
        let mut inner = self.inner.lock().ok()?;
        let entry = inner.entries.remove(&id)?;
        inner.bytes -= entry.size;
        Some((entry.doc, entry.version))
    }

    /// Puts a document back as of `version`, unless a newer one is there;
    /// evicts the least recently used entries beyond the bound.
    pub fn put(&self, id: Uuid, doc: AutoCommit, version: i64) {
        let size = estimate(&doc);
        if size > self.max_bytes {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.entries.get(&id).is_some_and(|e| e.version > version) {
            return;
        }
        inner.clock += 1;
        let used = inner.clock;
        if let Some(old) = inner.entries.insert(
            id,
            Entry {
                doc,
                version,
                size,
                used,
            },
        ) {
            inner.bytes -= old.size;
        }
        inner.bytes += size;
        while inner.bytes > self.max_bytes {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.bytes -= evicted.size;
            }
        }
    }

    /// Documents held and their estimated bytes.
    pub fn usage(&self) -> (usize, u64) {
        self.inner
            .lock()
            .map(|i| (i.entries.len(), i.bytes))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    fn doc_with(ops: usize) -> AutoCommit {
        let mut doc = AutoCommit::new();
        for i in 0..ops {
            let _ = doc.put(automerge::ROOT, format!("k{i}"), i as i64);
        }
        doc.commit();
        doc
    }

    #[test]
    fn a_taken_document_is_gone_until_put_back() {
        let cache = DocCache::new(1 << 20);
        let id = Uuid::now_v7();
        cache.put(id, doc_with(3), 7);
        assert_eq!(cache.take(id).map(|(_, v)| v), Some(7));
        assert!(cache.take(id).is_none());
    }

    #[test]
    fn an_older_version_does_not_replace_a_newer_one() {
        let cache = DocCache::new(1 << 20);
        let id = Uuid::now_v7();
        cache.put(id, doc_with(3), 9);
        cache.put(id, doc_with(3), 8);
        assert_eq!(cache.take(id).map(|(_, v)| v), Some(9));
    }

    #[test]
    fn the_least_recently_used_go_first_beyond_the_bound() {
        let one = estimate(&doc_with(10));
        let cache = DocCache::new(one * 2);
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        for (i, id) in ids.iter().enumerate() {
            cache.put(*id, doc_with(10), i as i64);
        }
        assert_eq!(cache.usage().0, 2);
        assert!(cache.take(ids[0]).is_none(), "the oldest was evicted");
        assert!(cache.take(ids[2]).is_some());
    }
}
