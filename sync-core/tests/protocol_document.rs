//! `docs/sync-protocol.md` is what third parties write clients from, so it
//! is held to the record types: each kind's table names exactly the fields
//! of `Record::FIELDS` and marks every Text and atomic field, and the
//! `kind` member lists every kind. A field added to a record type and not
//! to the document fails here.

use kam_sync_core::{Record, RecordKind, with_record_type};
use std::collections::{BTreeMap, BTreeSet};

const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sync-protocol.md");

fn document() -> String {
    std::fs::read_to_string(DOCUMENT).unwrap_or_else(|err| panic!("{DOCUMENT}: {err}"))
}

/// What a kind's type says about its document layout: every field, and the
/// top-level Text and atomic ones.
struct Layout {
    fields: BTreeSet<&'static str>,
    text: BTreeSet<&'static str>,
    atomic: BTreeSet<&'static str>,
}

fn layout(kind: RecordKind) -> Layout {
    let top_level = |paths: &[&'static str]| -> BTreeSet<&'static str> {
        paths.iter().copied().filter(|p| !p.contains('.')).collect()
    };
    with_record_type!(kind, R => Layout {
        fields: <R as Record>::FIELDS.iter().copied().collect(),
        text: top_level(<R as Record>::TEXT_FIELDS),
        atomic: top_level(<R as Record>::ATOMIC_FIELDS),
    })
}

/// The rows of the table under the kind's heading (``### … (`kind: "<name>"`)``),
/// by the field names of their first column: one per row, or several
/// separated by commas (`` `phone`, `email` ``).
fn documented_fields(document: &str, kind: RecordKind) -> BTreeMap<String, String> {
    let heading_end = format!("(`kind: \"{}\"`)", kind.as_str());
    let headings: Vec<usize> = document
        .lines()
        .enumerate()
        .filter(|(_, line)| line.starts_with("### ") && line.trim_end().ends_with(&heading_end))
        .map(|(number, _)| number)
        .collect();
    assert_eq!(
        headings.len(),
        1,
        "{DOCUMENT} needs one section headed `### … {heading_end}`"
    );
    let mut rows = BTreeMap::new();
    for line in document
        .lines()
        .skip(headings[0] + 1)
        .take_while(|line| !line.starts_with('#'))
    {
        let Some(first_cell) = line
            .strip_prefix('|')
            .and_then(|rest| rest.split('|').next())
        else {
            continue;
        };
        // Backticked spans alternate with the text between them.
        for name in first_cell.split('`').skip(1).step_by(2) {
            let previous = rows.insert(name.to_owned(), line.to_owned());
            assert!(
                previous.is_none(),
                "{}: `{name}` has two rows",
                kind.as_str()
            );
        }
    }
    rows
}

#[test]
fn every_kind_has_a_table_naming_exactly_its_fields() {
    let document = document();
    for &kind in RecordKind::ALL {
        let documented: BTreeSet<String> = documented_fields(&document, kind).into_keys().collect();
        let fields: BTreeSet<String> = layout(kind)
            .fields
            .iter()
            .map(|field| (*field).to_owned())
            .collect();
        let missing: Vec<_> = fields.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&fields).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "{}: fields missing from {DOCUMENT}: {missing:?}; documented but not fields: {unknown:?}",
            kind.as_str()
        );
    }
}

#[test]
fn text_and_atomic_fields_are_marked_and_no_others() {
    let document = document();
    for &kind in RecordKind::ALL {
        let layout = layout(kind);
        for (name, row) in documented_fields(&document, kind) {
            for (mark, marked) in [("**Text**", &layout.text), ("**atomic**", &layout.atomic)] {
                assert_eq!(
                    row.contains(mark),
                    marked.contains(name.as_str()),
                    "{}: the row of `{name}` must be marked {mark} exactly when the type says so: {row}",
                    kind.as_str()
                );
            }
        }
    }
}

#[test]
fn the_kind_member_lists_every_kind() {
    let document = document();
    let kind_row = document
        .lines()
        .find(|line| line.starts_with("| `kind` |"))
        .unwrap_or_else(|| panic!("{DOCUMENT} has no `kind` row in the PushDoc table"));
    for &kind in RecordKind::ALL {
        assert!(
            kind_row.contains(&format!("`\"{}\"`", kind.as_str())),
            "the `kind` row does not name \"{}\": {kind_row}",
            kind.as_str()
        );
    }
}
