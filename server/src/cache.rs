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
//!
//! Memory is bounded by what each document really costs: its weight is the
//! heap a loaded Automerge document holds (a fixed part, then per operation,
//! per change and per actor), plus the cache's own bookkeeping for the
//! entry. The figures were measured by counting live bytes of loaded
//! documents of several shapes and rounded up, and
//! `server/tests/cache_weight.rs` checks them against a counting allocator:
//! the weight is never below the real cost. A document heavier than (nearly)
//! the whole budget is not cached.
//!
//! Eviction is `quick_cache`'s (CLOCK-Pro, scan resistant: a push of many
//! new documents does not flush the documents in daily use). Its
//! single-threaded `unsync::Cache` behind one mutex fits take and put better
//! than a concurrent cache: eviction happens inside `put`, so the budget
//! holds after every call with no background maintenance; values are owned,
//! so `take` moves the document out without cloning it (moka's caches hand
//! out clones of `Clone + Sync` values, and evict in deferred maintenance);
//! and one shard lets any document up to the budget in (a sharded cache
//! splits the budget). A taken document leaves its slot behind, empty and
//! weighing only its bookkeeping, so that putting it back counts as a use
//! of the same entry: taking and putting back is how every read and write
//! touches a document, and a fresh entry each time would forget which
//! documents are hot.

use automerge::{AutoCommit, ReadDoc};
use quick_cache::Weighter;
use quick_cache::unsync::Cache;
use std::sync::Mutex;
use uuid::Uuid;

/// Live heap bytes of a loaded document before any operation: the
/// `AutoCommit` itself (boxed here) and the op set, change graph and
/// indexes it starts with (16 KiB measured on a key person with one change).
const BYTES_PER_DOCUMENT: u64 = 20 * 1024;
/// Per operation: the op set's columns (14 bytes measured for text typed at
/// random places, the least compressible; 1 to 10 for most edits).
const BYTES_PER_OP: u64 = 16;
/// Per change: the change graph, its hashes and its author (about 260
/// bytes measured in a document loaded whole, 290 in one loaded from a
/// snapshot and its log, 415 in one kept loaded while a thousand pushes
/// were merged into it).
const BYTES_PER_CHANGE: u64 = 512;
/// Per actor: its id, clocks and indexes (about 190 measured).
const BYTES_PER_ACTOR: u64 = 256;
/// The cache's own bookkeeping per entry, taken or not: its slot, its hash
/// table index and its share of the remembered evicted keys.
const ENTRY_OVERHEAD: u64 = 256;
/// The typical weight the table is first sized for.
const TYPICAL_WEIGHT: u64 = 32 * 1024;

/// A document's slot: the document and the version it reflects, or nothing
/// while a writer holds it.
struct Slot {
    doc: Option<Box<AutoCommit>>,
    version: i64,
    weight: u64,
}

/// Weighs a slot by the weight computed when its document was put.
#[derive(Clone, Copy)]
struct SlotWeight;

impl Weighter<Uuid, Slot> for SlotWeight {
    fn weight(&self, _id: &Uuid, slot: &Slot) -> u64 {
        slot.weight
    }
}

/// Loaded documents, bounded by what they cost in memory.
pub struct DocCache {
    slots: Mutex<Cache<Uuid, Slot, SlotWeight>>,
}

/// The bytes a loaded document holds, with its entry's bookkeeping.
fn weight(doc: &AutoCommit) -> u64 {
    let stats = doc.stats();
    ENTRY_OVERHEAD
        + BYTES_PER_DOCUMENT
        + stats.num_ops * BYTES_PER_OP
        + stats.num_changes * BYTES_PER_CHANGE
        + stats.num_actors * BYTES_PER_ACTOR
}

impl DocCache {
    /// An empty cache holding at most `max_bytes` of documents.
    pub fn new(max_bytes: u64) -> Self {
        let typical_entries = usize::try_from(max_bytes / TYPICAL_WEIGHT).unwrap_or(usize::MAX);
        Self {
            slots: Mutex::new(Cache::with_weighter(
                typical_entries.max(16),
                max_bytes,
                SlotWeight,
            )),
        }
    }

    /// Takes a document out, with the version it reflects.
    /// Counted as a hit or a miss in the metrics.
    pub fn take(&self, id: Uuid) -> Option<(AutoCommit, i64)> {
        let taken = self.take_uncounted(id);
        crate::metrics::doc_cache_lookup(taken.is_some());
        taken
    }

    fn take_uncounted(&self, id: Uuid) -> Option<(AutoCommit, i64)> {
        let mut slots = self.slots.lock().ok()?;
        let mut slot = slots.get_mut(&id)?;
        let doc = slot.doc.take()?;
        slot.weight = ENTRY_OVERHEAD;
        Some((*doc, slot.version))
    }

    /// Puts a document back as of `version`, unless a newer one is there;
    /// evicts the coldest entries beyond the bound.
    pub fn put(&self, id: Uuid, doc: AutoCommit, version: i64) {
        let weight = weight(&doc);
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        if slots
            .peek(&id)
            .is_some_and(|slot| slot.doc.is_some() && slot.version > version)
        {
            return;
        }
        slots.insert(
            id,
            Slot {
                doc: Some(Box::new(doc)),
                version,
                weight,
            },
        );
    }

    /// Documents held and their weight in bytes (with the bookkeeping of
    /// slots whose document is taken).
    pub fn usage(&self) -> (usize, u64) {
        self.slots
            .lock()
            .map(|slots| {
                let held = slots.iter().filter(|(_, slot)| slot.doc.is_some()).count();
                (held, slots.weight())
            })
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
        cache.put(id, doc_with(3), 8);
        assert_eq!(cache.take(id).map(|(_, v)| v), Some(8));
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
    fn a_document_heavier_than_the_budget_is_not_cached() {
        let cache = DocCache::new(weight(&doc_with(10)) / 2);
        let id = Uuid::now_v7();
        cache.put(id, doc_with(10), 1);
        assert_eq!(cache.usage(), (0, 0));
        assert!(cache.take(id).is_none());
    }

    #[test]
    fn the_weight_held_stays_within_the_budget() {
        let one = weight(&doc_with(10));
        let budget = one * 20;
        let cache = DocCache::new(budget);
        for version in 0..1_000 {
            cache.put(Uuid::now_v7(), doc_with(10), version);
            let (held, bytes) = cache.usage();
            assert!(bytes <= budget, "{bytes} bytes held, budget {budget}");
            assert!(held <= 20);
        }
        assert!(cache.usage().0 >= 10, "the cache is used");
    }

    #[test]
    fn documents_in_use_outlive_a_flood_of_new_ones() {
        let one = weight(&doc_with(10));
        let cache = DocCache::new(one * 50);
        let daily: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
        for round in 0..100 {
            // As requests do: take what they touch (loading what the cache
            // lacks), while other requests put new documents, then put
            // back after the commit.
            let working: Vec<(Uuid, AutoCommit, i64)> = daily
                .iter()
                .map(|id| {
                    let (doc, version) = cache.take(*id).unwrap_or((doc_with(10), round));
                    (*id, doc, version)
                })
                .collect();
            for _ in 0..10 {
                cache.put(Uuid::now_v7(), doc_with(10), round);
            }
            for (id, doc, version) in working {
                cache.put(id, doc, version);
            }
        }
        let kept = daily.iter().filter(|id| cache.take(**id).is_some()).count();
        assert!(kept >= 15, "{kept} of 20 documents in use were kept");
    }
}
