//! What untrusted Automerge bytes decode to, found before Automerge decodes
//! them, without allocating it.
//!
//! Automerge compresses twice. A change chunk above 256 bytes travels
//! deflated (chunk type 2), as do the large columns of a saved document
//! (type 0) or bundle (type 3); and every column is run-length encoded, so
//! one run can stand for any number of values: a commit message repeated
//! over a million changes, a million list items. Deflate reaches about
//! 1000:1 and runs have no bound at all, so a few kilobytes on the wire can
//! make a decoder allocate gigabytes.
//!
//! [`DecodeBudget::spend_on`] walks the chunks (magic bytes, checksum,
//! chunk type, LEB128 length) and the column metadata of each, inflates
//! deflated parts into a counting sink that stops at the budget, and reads
//! each column's runs, counting the values they stand for. A payload's
//! *decoded size* is its bytes once every deflated part is inflated and
//! every run written out, one byte for each value (a string counts its
//! length). Memory is bounded by what the budget allows plus a few
//! kilobytes of inflater state, whatever the payload claims.
//!
//! Layouts, from the Automerge binary format and `automerge` 0.12's
//! `storage` module (every count and length is LEB128):
//! - chunk: magic `85 6f 4a 83`, checksum (4 bytes), type (1 byte), length,
//!   data;
//! - change (type 1; type 2 is the same deflated whole): dependencies
//!   (count, 32-byte hashes), actor, sequence number, start op, time,
//!   message, other actors, op column metadata, op column data, extra bytes;
//! - document (type 0): actors, heads (count, hashes), change column
//!   metadata, op column metadata, change column data, op column data, head
//!   indices;
//! - bundle (type 3): dependencies, actors, change column metadata and
//!   data, op column metadata and data;
//! - column metadata: a count, then per column its specification (low three
//!   bits the column type, bit 3 "deflated") and its length in bytes.
//!
//! The walk accepts everything Automerge's parser accepts (LEB128 however
//! long), so no chunk that Automerge would inflate escapes it; what it
//! cannot follow is refused as [`ScanError::Malformed`], bytes that
//! Automerge refuses too, and so is column metadata listing more than 256
//! columns (Automerge writes fewer than 32).

use flate2::bufread::DeflateDecoder;
use std::io::{BufReader, Read};

/// The most a payload may decode to: 64 MiB, four times the largest sync
/// request body. The largest record a device can make (every text field at
/// its limit, a long history) decodes to a few MiB, so a request holds
/// dozens of them; a server decoding 64 MiB per request stays far from its
/// memory however many arrive.
pub const MAX_DECODED_BYTES: u64 = 64 * 1024 * 1024;

/// The magic bytes that open every Automerge chunk.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Bytes of a change hash.
const HASH_BYTES: u64 = 32;

/// Most columns a chunk's column metadata may list.
const MAX_COLUMNS: u64 = 256;

/// Why bytes were refused before they were decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// They decode to more than the budget left.
    #[error("the Automerge bytes decode to more than {limit} bytes")]
    TooLarge {
        /// The budget they were spent from, in bytes.
        limit: u64,
    },
    /// They are not Automerge chunks (Automerge's decoder refuses them too).
    #[error("not Automerge bytes: {0}")]
    Malformed(&'static str),
}

/// The decoded size of `bytes`, refused past `limit`.
pub fn decoded_size(bytes: &[u8], limit: u64) -> Result<u64, ScanError> {
    DecodeBudget::new(limit).spend_on(bytes)
}

/// What one request may decode, spent payload by payload: every pushed
/// document of a request draws on the same budget, so a request of many
/// documents decodes no more than one of the largest.
#[derive(Debug, Clone)]
pub struct DecodeBudget {
    limit: u64,
    spent: u64,
}

impl Default for DecodeBudget {
    /// [`MAX_DECODED_BYTES`].
    fn default() -> Self {
        Self::new(MAX_DECODED_BYTES)
    }
}

impl DecodeBudget {
    /// A budget of `limit` decoded bytes.
    pub fn new(limit: u64) -> Self {
        Self { limit, spent: 0 }
    }

    /// The decoded bytes spent so far.
    pub fn spent(&self) -> u64 {
        self.spent
    }

    /// Scans `bytes` (Automerge chunks, one after another) and spends what
    /// they decode to; returns that. Refused bytes may have spent part of
    /// the budget: a refusal ends the request.
    pub fn spend_on(&mut self, bytes: &[u8]) -> Result<u64, ScanError> {
        let start = self.spent;
        let mut rest = bytes;
        while !rest.is_empty() {
            rest = self.chunk(rest)?;
        }
        Ok(self.spent - start)
    }

    fn left(&self) -> u64 {
        self.limit - self.spent
    }

    fn charge(&mut self, bytes: u64) -> Result<(), ScanError> {
        if bytes > self.left() {
            self.spent = self.limit;
            return Err(ScanError::TooLarge { limit: self.limit });
        }
        self.spent += bytes;
        Ok(())
    }

    /// Scans the chunk at the start of `bytes`; returns what follows it.
    fn chunk<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], ScanError> {
        let mut header = Stream::new(bytes);
        if header.take_array::<4>()? != MAGIC {
            return Err(ScanError::Malformed(
                "a chunk does not start with the magic bytes",
            ));
        }
        header.take_array::<4>()?; // checksum: Automerge checks it
        let chunk_type = header.byte()?;
        let length = header.uleb()?;
        let header_length = header.read;
        let data_end = usize::try_from(length)
            .ok()
            .and_then(|length| length.checked_add(header_length))
            .filter(|end| *end <= bytes.len())
            .ok_or(ScanError::Malformed("a chunk is longer than the bytes"))?;
        let data = &bytes[header_length..data_end];
        self.charge(header_length as u64)?;
        match chunk_type {
            0 => self.document(data)?,
            1 => self.change(Stream::new(data))?,
            2 => {
                let inflated = inflate(data, self.left());
                self.change(Stream::new(inflated))?;
            }
            3 => self.bundle(data)?,
            _ => return Err(ScanError::Malformed("unknown chunk type")),
        }
        Ok(&bytes[data_end..])
    }

    /// A change chunk's data, deflated or not: everything but its op
    /// columns counts as it is.
    fn change<R: Read>(&mut self, mut data: Stream<R>) -> Result<(), ScanError> {
        let result = (|| {
            data.skip_hashes()?;
            data.skip_actor()?;
            data.uleb()?; // sequence number
            data.uleb()?; // start op
            data.uleb()?; // time (signed, the same length)
            let message = data.uleb()?;
            data.skip(message)?;
            data.skip_actors()?;
            let columns = data.column_metadata()?;
            let mut prefix = data.read as u64;
            for column in columns {
                // A change's columns are never deflated (Automerge refuses
                // the flag there), so they are read as they are.
                let start = data.read;
                let values = column_values(&mut data, column, Some(column.length))?;
                let read = (data.read - start) as u64;
                prefix = prefix.saturating_add(read.max(values));
                self.charge_checked(prefix)?;
            }
            let extra = data.skip_to_end()?;
            Ok(prefix.saturating_add(extra))
        })();
        if result.is_err() {
            // Automerge inflates a whole compressed chunk before it reads
            // any of it: what it would inflate counts, however malformed.
            let _rest = data.skip_to_end();
        }
        let decoded = self.budget_or(result, &data)?;
        self.charge(decoded)
    }

    /// Charges nothing yet, but refuses once `decoded` alone is past the
    /// budget, so no long walk goes on after the answer is known.
    fn charge_checked(&self, decoded: u64) -> Result<(), ScanError> {
        if decoded > self.left() {
            return Err(ScanError::TooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// The result of a walk over `data`, except that a walk cut short by
    /// the inflate limit is over the budget, not malformed.
    fn budget_or<R: Read, T>(
        &self,
        result: Result<T, ScanError>,
        data: &Stream<R>,
    ) -> Result<T, ScanError> {
        if data.read as u64 > self.left() {
            return Err(ScanError::TooLarge { limit: self.limit });
        }
        result
    }

    /// A document chunk's data.
    fn document(&mut self, data: &[u8]) -> Result<(), ScanError> {
        let mut prefix = Stream::new(data);
        prefix.skip_actors()?;
        prefix.skip_hashes()?;
        let change_columns = prefix.column_metadata()?;
        let op_columns = prefix.column_metadata()?;
        self.charge(prefix.read as u64)?;
        let rest = self.columns(&data[prefix.read..], &change_columns)?;
        let rest = self.columns(rest, &op_columns)?;
        // The head indices.
        self.charge(rest.len() as u64)
    }

    /// A bundle chunk's data.
    fn bundle(&mut self, data: &[u8]) -> Result<(), ScanError> {
        let mut prefix = Stream::new(data);
        prefix.skip_hashes()?;
        prefix.skip_actors()?;
        let change_columns = prefix.column_metadata()?;
        self.charge(prefix.read as u64)?;
        let rest = self.columns(&data[prefix.read..], &change_columns)?;
        let mut prefix = Stream::new(rest);
        let op_columns = prefix.column_metadata()?;
        self.charge(prefix.read as u64)?;
        let rest = self.columns(&rest[prefix.read..], &op_columns)?;
        self.charge(rest.len() as u64)
    }

    /// Scans the data of `columns`, which starts `data`, inflating the
    /// deflated ones; returns what follows them.
    fn columns<'a>(&mut self, data: &'a [u8], columns: &[Column]) -> Result<&'a [u8], ScanError> {
        let mut rest = data;
        for column in columns {
            let length = usize::try_from(column.length)
                .ok()
                .filter(|length| *length <= rest.len())
                .ok_or(ScanError::Malformed("a column is longer than its chunk"))?;
            let (bytes, after) = rest.split_at(length);
            rest = after;
            let decoded = if column.deflated() {
                let mut stream = Stream::new(inflate(bytes, self.left()));
                let values = column_values(&mut stream, *column, None);
                let values = self.budget_or(values, &stream)?;
                (stream.read as u64).max(values)
            } else {
                let mut stream = Stream::new(bytes);
                let values = column_values(&mut stream, *column, None)?;
                column.length.max(values)
            };
            self.charge(decoded)?;
        }
        Ok(rest)
    }
}

/// A deflated part of a chunk, inflated as it is read, ending one byte past
/// `limit` however much more it holds: a read past `limit` shows the part
/// is over the budget.
fn inflate(deflated: &[u8], limit: u64) -> impl Read + '_ {
    BufReader::new(DeflateDecoder::new(deflated).take(limit.saturating_add(1)))
}

/// A column: its specification and its length in the chunk.
#[derive(Debug, Clone, Copy)]
struct Column {
    spec: u64,
    length: u64,
}

impl Column {
    fn deflated(self) -> bool {
        self.spec & 0b1000 != 0
    }

    fn column_type(self) -> ColumnType {
        match self.spec & 0b111 {
            4 => ColumnType::Boolean,
            5 => ColumnType::String,
            7 => ColumnType::Raw,
            3 => ColumnType::Signed,
            // Group, actor, integer and value metadata columns.
            _ => ColumnType::Unsigned,
        }
    }
}

/// How a column's values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    /// Run-length encoded unsigned LEB128 values.
    Unsigned,
    /// Run-length encoded signed LEB128 values (deltas).
    Signed,
    /// Alternating runs of false and true: a list of run lengths.
    Boolean,
    /// Run-length encoded strings (a length, then UTF-8).
    String,
    /// Bytes as they are: values' contents, extra bytes.
    Raw,
}

/// What a column's runs stand for when written out: one byte for each
/// value, a string its length (at least one). Stops at the column's end
/// (`length`, or the end of the stream); a value cut off by the end ends
/// the walk of this column, for Automerge fails on it too.
fn column_values<R: Read>(
    stream: &mut Stream<R>,
    column: Column,
    length: Option<u64>,
) -> Result<u64, ScanError> {
    let end = length.map(|length| (stream.read as u64).saturating_add(length));
    let at_end = |stream: &mut Stream<R>| match end {
        Some(end) => stream.read as u64 >= end,
        None => stream.at_end(),
    };
    let column_type = column.column_type();
    let mut values: u64 = 0;
    let walk = (|| -> Result<(), ScanError> {
        while !at_end(stream) {
            match column_type {
                ColumnType::Raw => {
                    let left = end.map_or(u64::MAX, |end| end - stream.read as u64);
                    let skipped = stream.skip_up_to(left)?;
                    if skipped == 0 {
                        // The bytes end before the column says it does.
                        break;
                    }
                    values = values.saturating_add(skipped);
                }
                ColumnType::Boolean => values = values.saturating_add(stream.uleb()?),
                _ => {
                    let count = stream.sleb()?;
                    if count == 0 {
                        values = values.saturating_add(stream.uleb()?);
                    } else if count > 0 {
                        let each = value(stream, column_type)?;
                        values = values.saturating_add(count.unsigned_abs().saturating_mul(each));
                    } else {
                        for _ in 0..count.unsigned_abs() {
                            values = values.saturating_add(value(stream, column_type)?);
                        }
                    }
                }
            }
        }
        Ok(())
    })();
    match walk {
        Ok(()) | Err(ScanError::Malformed(_)) => {}
        Err(too_large) => return Err(too_large),
    }
    // The rest of a column cut short by a malformed value counts as it is.
    if let Some(end) = end {
        let left = end.saturating_sub(stream.read as u64);
        stream.skip(left)?;
    } else {
        stream.skip_to_end()?;
    }
    Ok(values)
}

/// Reads one value of a run; returns what it stands for written out.
fn value<R: Read>(stream: &mut Stream<R>, column_type: ColumnType) -> Result<u64, ScanError> {
    match column_type {
        ColumnType::String => {
            let length = stream.uleb()?;
            stream.skip(length)?;
            Ok(length.max(1))
        }
        ColumnType::Signed => stream.sleb().map(|_| 1),
        _ => stream.uleb().map(|_| 1),
    }
}

/// Bytes read front to back, counted.
struct Stream<R> {
    inner: R,
    read: usize,
    peeked: Option<u8>,
}

impl<R: Read> Stream<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            read: 0,
            peeked: None,
        }
    }

    fn next(&mut self) -> Result<Option<u8>, ScanError> {
        if let Some(byte) = self.peeked.take() {
            self.read += 1;
            return Ok(Some(byte));
        }
        let mut byte = [0_u8];
        loop {
            match self.inner.read(&mut byte) {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    self.read += 1;
                    return Ok(Some(byte[0]));
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(ScanError::Malformed("a deflated part does not inflate")),
            }
        }
    }

    fn at_end(&mut self) -> bool {
        if self.peeked.is_some() {
            return false;
        }
        match self.next() {
            Ok(Some(byte)) => {
                self.read -= 1;
                self.peeked = Some(byte);
                false
            }
            _ => true,
        }
    }

    fn byte(&mut self) -> Result<u8, ScanError> {
        self.next()?
            .ok_or(ScanError::Malformed("the bytes end inside a chunk"))
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], ScanError> {
        let mut out = [0_u8; N];
        for slot in &mut out {
            *slot = self.byte()?;
        }
        Ok(out)
    }

    /// An unsigned LEB128 number, however many bytes encode it (bits past
    /// 64 are dropped: Automerge refuses such numbers anyway).
    fn uleb(&mut self) -> Result<u64, ScanError> {
        let mut value: u64 = 0;
        let mut shift = 0_u32;
        loop {
            let byte = self.byte()?;
            if shift < 64 {
                value |= u64::from(byte & 0x7f) << shift;
            }
            shift = shift.saturating_add(7);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
    }

    /// A signed LEB128 number.
    fn sleb(&mut self) -> Result<i64, ScanError> {
        let mut value: i64 = 0;
        let mut shift = 0_u32;
        loop {
            let byte = self.byte()?;
            if shift < 64 {
                value |= i64::from(byte & 0x7f) << shift;
            }
            shift = shift.saturating_add(7);
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    value |= -1_i64 << shift;
                }
                return Ok(value);
            }
        }
    }

    /// Skips `count` bytes, all of which must be there.
    fn skip(&mut self, count: u64) -> Result<(), ScanError> {
        if self.skip_up_to(count)? < count {
            return Err(ScanError::Malformed("the bytes end inside a chunk"));
        }
        Ok(())
    }

    /// Skips up to `count` bytes; returns how many there were.
    fn skip_up_to(&mut self, count: u64) -> Result<u64, ScanError> {
        let mut skipped = 0;
        if count > 0 && self.peeked.take().is_some() {
            self.read += 1;
            skipped = 1;
        }
        let rest = std::io::copy(
            &mut (&mut self.inner).take(count - skipped),
            &mut std::io::sink(),
        )
        .map_err(|_| ScanError::Malformed("a deflated part does not inflate"))?;
        self.read += usize::try_from(rest).unwrap_or(usize::MAX);
        Ok(skipped + rest)
    }

    /// Skips whatever is left; returns how many bytes that was.
    fn skip_to_end(&mut self) -> Result<u64, ScanError> {
        self.skip_up_to(u64::MAX)
    }

    /// A length-prefixed list of change hashes.
    fn skip_hashes(&mut self) -> Result<(), ScanError> {
        let count = self.uleb()?;
        self.skip(count.saturating_mul(HASH_BYTES))
    }

    /// An actor id: a length, then its bytes.
    fn skip_actor(&mut self) -> Result<(), ScanError> {
        let length = self.uleb()?;
        self.skip(length)
    }

    /// A length-prefixed list of actor ids.
    fn skip_actors(&mut self) -> Result<(), ScanError> {
        for _ in 0..self.uleb()? {
            self.skip_actor()?;
        }
        Ok(())
    }

    /// Column metadata: a count, then each column's specification and
    /// length. Automerge writes fewer than 32 columns to a chunk; more than
    /// [`MAX_COLUMNS`] are refused, so a claimed count (or inflated
    /// metadata) allocates next to nothing.
    fn column_metadata(&mut self) -> Result<Vec<Column>, ScanError> {
        let count = self.uleb()?;
        if count > MAX_COLUMNS {
            return Err(ScanError::Malformed(
                "a chunk claims more columns than Automerge writes",
            ));
        }
        let mut columns = Vec::new();
        for _ in 0..count {
            let spec = self.uleb()?;
            let length = self.uleb()?;
            columns.push(Column { spec, length });
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Account, ChangeMeta, Contact, Record, RecordDoc, Visit, parse_record};
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc};
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use uuid::Uuid;

    const MIB: u64 = 1024 * 1024;

    fn meta() -> ChangeMeta {
        ChangeMeta {
            user: Some(Uuid::now_v7().into()),
            device: "phone".into(),
            time: chrono::Utc::now(),
        }
    }

    fn created<R: Record>(record: Value) -> RecordDoc {
        let record: R = parse_record(record).unwrap_or_else(|err| panic!("{err:?}"));
        RecordDoc::create(&record, ActorId::random(), &meta()).unwrap_or_else(|err| panic!("{err}"))
    }

    /// The sync-core record types as devices make them, one of them near its
    /// largest: notes of 99,000 characters added in 99 edits.
    fn records() -> Vec<RecordDoc> {
        let account = json!({
            "name": "Hangzhou Steel Works",
            "segment": "enterprise",
            "owner_id": Uuid::now_v7(),
            "scores": {"need": 70, "size": 80},
            "address": {"city": "Hangzhou", "country": "China"},
            "tags": ["hangzhou", "steel"],
            "notes": "Met the purchasing director.",
        });
        let mut largest = created::<Account>(account.clone());
        for round in 0..99 {
            let notes: String = (0..1_000)
                .map(|i| char::from_u32(0x4e00 + (round * 1_000 + i) % 20_000).unwrap_or('字'))
                .collect();
            let text = format!(
                "{}{notes}",
                largest.to_json()["notes"].as_str().unwrap_or("")
            );
            let patch = json!({ "notes": text });
            largest
                .merge_patch::<Account>(patch.as_object().unwrap_or(&Default::default()), &meta())
                .unwrap_or_else(|err| panic!("{err:?}"));
        }
        vec![
            created::<Account>(account),
            created::<Contact>(json!({"account_id": Uuid::now_v7(), "name": "Wang Jianguo"})),
            created::<Visit>(json!({
                "account_id": Uuid::now_v7(),
                "owner_id": Uuid::now_v7(),
                "planned_at": "2026-12-10T09:00:00Z",
                "type": "onsite",
                "purpose": "Renewal",
            })),
            largest,
        ]
    }

    /// Every shape a device or the server sends a record in: the document
    /// (deflated or not), its changes (raw and as compressed chunks), a
    /// document followed by changes, and a bundle.
    fn shapes(doc: &mut RecordDoc) -> Vec<(&'static str, Vec<u8>)> {
        let doc = doc.automerge_mut();
        let first = doc.get_changes(&[]).first().map(|c| c.hash());
        let mut changes = doc.get_changes(&[]);
        let compressed: Vec<u8> = changes
            .iter_mut()
            .flat_map(|change| change.bytes().into_owned())
            .collect();
        let hashes: Vec<_> = changes.iter().map(|change| change.hash()).collect();
        let bundle = doc
            .bundle(hashes)
            .unwrap_or_else(|err| panic!("{err}"))
            .bytes()
            .to_vec();
        let mut followed = doc.save();
        let heads = doc.get_heads();
        doc.put(ROOT, "phone", "+86 571 0000")
            .unwrap_or_else(|err| panic!("{err}"));
        doc.commit();
        followed.extend(doc.save_after(&heads));
        vec![
            ("document", doc.save()),
            ("uncompressed document", doc.save_nocompress()),
            ("changes", doc.save_after(&[])),
            (
                "later changes",
                doc.save_after(&first.into_iter().collect::<Vec<_>>()),
            ),
            ("compressed changes", compressed),
            ("document and changes", followed),
            ("bundle", bundle),
            ("nothing", Vec::new()),
        ]
    }

    #[test]
    fn every_shape_of_every_record_passes_and_decodes_to_at_least_its_size() {
        for mut record in records() {
            for (shape, bytes) in shapes(&mut record) {
                let decoded = decoded_size(&bytes, MAX_DECODED_BYTES)
                    .unwrap_or_else(|err| panic!("{shape}: {err}"));
                assert!(decoded >= bytes.len() as u64, "{shape}: {decoded}");
                assert!(decoded < 16 * MIB, "{shape}: {decoded}");
            }
        }
    }

    #[test]
    fn the_largest_record_decodes_to_a_few_mib() {
        let mut largest = records().pop().unwrap_or_else(|| panic!("no record"));
        let doc = largest.automerge_mut();
        let saved = doc.save();
        let uncompressed = doc.save_nocompress();
        let decoded = decoded_size(&saved, MAX_DECODED_BYTES).unwrap_or_else(|err| panic!("{err}"));
        assert!(
            decoded >= uncompressed.len() as u64,
            "{decoded} < {}",
            uncompressed.len()
        );
        assert!(
            decoded < 4 * MIB,
            "{} bytes saved, {} uncompressed, {decoded} decoded",
            saved.len(),
            uncompressed.len()
        );
    }

    /// A document with one change whose message is `size` bytes of one
    /// character.
    fn message_bomb(size: usize) -> AutoCommit {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "name", "Bomb")
            .unwrap_or_else(|err| panic!("{err}"));
        doc.commit_with(CommitOptions::default().with_message("a".repeat(size)));
        doc
    }

    #[test]
    fn a_compressed_change_or_document_is_counted_inflated_and_refused_past_the_limit() {
        let mut bomb = message_bomb(4 * MIB as usize);
        let mut change = bomb
            .get_last_local_change()
            .unwrap_or_else(|| panic!("a change"));
        let compressed = change.bytes().into_owned();
        let document = bomb.save();
        for (shape, bytes) in [("compressed change", compressed), ("document", document)] {
            assert!(bytes.len() < 16 * 1024, "{shape}: {} bytes", bytes.len());
            let decoded = decoded_size(&bytes, 8 * MIB).unwrap_or_else(|err| panic!("{err}"));
            assert!(decoded >= 4 * MIB, "{shape}: {decoded}");
            assert_eq!(
                decoded_size(&bytes, 4 * MIB),
                Err(ScanError::TooLarge { limit: 4 * MIB }),
                "{shape}"
            );
        }
    }

    #[test]
    fn one_budget_serves_several_payloads() {
        let mut bomb = message_bomb(3 * MIB as usize);
        let bytes = bomb.save();
        let mut budget = DecodeBudget::new(4 * MIB);
        let first = budget
            .spend_on(&bytes)
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(budget.spent(), first);
        assert_eq!(
            budget.spend_on(&bytes),
            Err(ScanError::TooLarge { limit: 4 * MIB })
        );
    }

    #[test]
    fn a_message_repeated_over_many_changes_counts_once_per_change() {
        // Equal messages of consecutive changes are one run in a saved
        // document: a thousand 4 KiB messages are one string on the wire.
        let mut doc = AutoCommit::new();
        let message = "a".repeat(4 * 1024);
        for _ in 0..1_000 {
            doc.empty_change(CommitOptions::default().with_message(message.clone()));
        }
        let uncompressed = doc.save_nocompress();
        assert!(
            uncompressed.len() < 64 * 1024,
            "{} bytes",
            uncompressed.len()
        );
        let decoded =
            decoded_size(&uncompressed, MAX_DECODED_BYTES).unwrap_or_else(|err| panic!("{err}"));
        assert!(decoded >= 1_000 * 4 * 1024, "{decoded}");
    }

    #[test]
    fn a_list_of_a_million_nulls_counts_each_of_them() {
        let mut doc = AutoCommit::new();
        let list = doc
            .put_object(ROOT, "list", ObjType::List)
            .unwrap_or_else(|err| panic!("{err}"));
        doc.splice(
            &list,
            0,
            0,
            std::iter::repeat_n(automerge::ScalarValue::Null, 1 << 20),
        )
        .unwrap_or_else(|err| panic!("{err}"));
        doc.commit();
        assert_eq!(doc.length(&list), 1 << 20);
        for (shape, bytes) in [
            ("document", doc.save_nocompress()),
            ("change", doc.save_after(&[])),
        ] {
            assert!(bytes.len() < 1024, "{shape}: {} bytes", bytes.len());
            let decoded =
                decoded_size(&bytes, MAX_DECODED_BYTES).unwrap_or_else(|err| panic!("{err}"));
            assert!(decoded >= 1 << 20, "{shape}: {decoded}");
        }
    }

    fn uleb(mut value: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// A chunk of `chunk_type` around `data` (the checksum is not checked
    /// by the scan).
    fn chunk(chunk_type: u8, data: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend([0, 0, 0, 0, chunk_type]);
        uleb(data.len() as u64, &mut bytes);
        bytes.extend(data);
        bytes
    }

    /// A change's data up to its op columns: no dependencies, a one-byte
    /// actor, sequence 1, start op 1, time 0, no message, no other actors.
    fn change_prefix() -> Vec<u8> {
        vec![0, 1, 0xaa, 1, 1, 0, 0, 0]
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut deflated = Vec::new();
        let mut encoder = flate2::read::DeflateEncoder::new(data, flate2::Compression::default());
        encoder
            .read_to_end(&mut deflated)
            .unwrap_or_else(|err| panic!("{err}"));
        deflated
    }

    #[test]
    fn one_run_standing_for_a_trillion_ops_is_refused_in_a_few_bytes() {
        let mut data = change_prefix();
        // One column, the action column (id 4, integer): one run of 2^40
        // values of 1.
        let mut run = Vec::new();
        uleb(1 << 40, &mut run); // a positive count, read as signed
        run.push(0); // keeps the LEB128 positive as a signed number
        run.push(1);
        data.extend([1, (4 << 4) | 2]);
        uleb(run.len() as u64, &mut data);
        data.extend(&run);
        let bytes = chunk(1, &data);
        assert!(bytes.len() < 32);
        assert_eq!(
            decoded_size(&bytes, MAX_DECODED_BYTES),
            Err(ScanError::TooLarge {
                limit: MAX_DECODED_BYTES
            })
        );
    }

    #[test]
    fn deflated_metadata_claiming_a_million_columns_is_refused() {
        let mut data = change_prefix();
        uleb(1 << 20, &mut data);
        data.extend([0x12, 0x00].repeat(1 << 20));
        let bytes = chunk(2, &deflate(&data));
        assert!(bytes.len() < 16 * 1024, "{} bytes", bytes.len());
        assert!(matches!(
            decoded_size(&bytes, MAX_DECODED_BYTES),
            Err(ScanError::Malformed(_))
        ));
    }

    #[test]
    fn a_compressed_chunk_of_garbage_counts_all_it_inflates_to() {
        // Automerge inflates a compressed chunk whole before reading it.
        let bytes = chunk(2, &deflate(&vec![0xff; 2 * MIB as usize]));
        assert_eq!(
            decoded_size(&bytes, MIB),
            Err(ScanError::TooLarge { limit: MIB })
        );
    }

    #[test]
    fn bytes_that_are_not_chunks_are_malformed() {
        let malformed = |bytes: &[u8]| {
            matches!(
                decoded_size(bytes, MAX_DECODED_BYTES),
                Err(ScanError::Malformed(_))
            )
        };
        assert!(malformed(b"not automerge"));
        assert!(malformed(&[0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 9, 0]));
        assert!(malformed(&[
            0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0xff, 0xff
        ]));
        let mut garbage_inside = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2, 3];
        garbage_inside.extend([0xff, 0xff, 0xff]);
        assert!(malformed(&garbage_inside));
    }

    #[test]
    fn every_truncation_of_every_shape_is_scanned_without_panicking() {
        let mut record = records().swap_remove(1);
        for (shape, bytes) in shapes(&mut record) {
            for cut in 0..bytes.len() {
                let truncated = &bytes[..cut];
                if decoded_size(truncated, MAX_DECODED_BYTES).is_ok() {
                    // What the scan lets through, Automerge decodes or
                    // refuses on its own.
                    let _ = crate::doc::decode_untrusted(|| AutoCommit::load(truncated));
                }
                let _ = shape;
            }
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decoded_size(&bytes, MAX_DECODED_BYTES);
        }

        #[test]
        fn garbage_behind_a_chunk_header_never_panics(
            chunk_type in 0_u8..4,
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, chunk_type];
            bytes.push(u8::try_from(body.len().min(127)).unwrap_or(0));
            bytes.extend(&body);
            let _ = decoded_size(&bytes, MAX_DECODED_BYTES);
        }
    }
}
