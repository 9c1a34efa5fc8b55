//! [`ErrorCode`] against what others rely on: wire names clients branch on
//! (snake_case, one code each), the statuses the integration tests see
//! (every `assert_problem(status, "code")` under `tests/`), the table of
//! codes in docs/errors.md, and the server's source (every code answered
//! somewhere).

use kam_server::error::{ErrorCode, Status};
use std::collections::{BTreeMap, BTreeSet};
mod source;

use source::rust_files;
use std::path::{Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

#[test]
fn wire_names_are_snake_case() {
    for code in ErrorCode::ALL {
        let name = code.wire_name();
        let snake = !name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && !name.ends_with('_')
            && !name.contains("__")
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        assert!(snake, "{code:?} is answered as `{name}`, not snake_case");
    }
}

/// Two wire names are each answered at two statuses, as they were before
/// the codes were an enum: a contract's `invalid_status_move` is a 409 (the
/// other kinds' a 422), and a body the idempotency middleware cannot read
/// is a 400 `invalid_body` (one that does not fit its shape a 422). Any
/// other name answers one code only.
#[test]
fn each_wire_name_is_one_code_but_the_two_kept_from_before() {
    let mut by_name: BTreeMap<&str, Vec<ErrorCode>> = BTreeMap::new();
    for code in ErrorCode::ALL {
        by_name.entry(code.wire_name()).or_default().push(*code);
    }
    let shared: BTreeMap<&str, Vec<ErrorCode>> = by_name
        .into_iter()
        .filter(|(_, codes)| codes.len() > 1)
        .collect();
    let expected = BTreeMap::from([
        (
            "invalid_body",
            vec![ErrorCode::UnreadableKeyedBody, ErrorCode::InvalidBody],
        ),
        (
            "invalid_status_move",
            vec![ErrorCode::ContractStatusMove, ErrorCode::InvalidStatusMove],
        ),
    ]);
    assert_eq!(shared, expected, "a wire name names more than one code");
    for codes in shared.values() {
        let statuses: BTreeSet<Status> = codes.iter().map(|code| code.status()).collect();
        assert_eq!(
            statuses.len(),
            codes.len(),
            "{codes:?} share a wire name and a status: make them one code"
        );
    }
}

#[test]
fn the_statuses_the_integration_tests_see_are_the_codes_statuses() {
    let asserted = asserted_problems(&repository().join("tests"));
    assert!(
        asserted.len() > 40,
        "found only {} assert_problem calls under tests/: is the scan broken?",
        asserted.len()
    );
    let known: BTreeSet<(u16, &str)> = ErrorCode::ALL
        .iter()
        .map(|code| (code.status().as_u16(), code.wire_name()))
        .collect();
    for ((status, name), place) in &asserted {
        assert!(
            known.contains(&(*status, name.as_str())),
            "{place} expects {status} `{name}`, which no ErrorCode answers"
        );
    }
}

/// Every `assert_problem(<status>, "<code>")` under `dir`, with the first
/// place each pair is asserted.
fn asserted_problems(dir: &Path) -> BTreeMap<(u16, String), String> {
    let mut found = BTreeMap::new();
    for file in rust_files(dir) {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
        for (offset, _) in text.match_indices("assert_problem(") {
            let args = &text[offset + "assert_problem(".len()..];
            let Some((status, rest)) = args.split_once(',') else {
                continue;
            };
            let Ok(status) = status.trim().parse::<u16>() else {
                continue;
            };
            let Some(name) = rest
                .trim_start()
                .strip_prefix('"')
                .and_then(|rest| rest.split_once('"'))
                .map(|(name, _)| name.to_owned())
            else {
                continue;
            };
            let line = text[..offset].matches('\n').count() + 1;
            found
                .entry((status, name))
                .or_insert_with(|| format!("{}:{line}", file.display()));
        }
    }
    found
}

/// Every code is answered somewhere: named as `ErrorCode::<Variant>` in the
/// server's source (a call site, or the mapping of a sync-core refusal).
#[test]
fn every_code_is_answered_somewhere() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources: Vec<String> = rust_files(&src)
        .iter()
        .map(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()))
        })
        .collect();
    for code in ErrorCode::ALL {
        let path = format!("ErrorCode::{code:?}");
        let named = sources.iter().any(|text| {
            text.match_indices(&path).any(|(at, _)| {
                !text[at + path.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        });
        assert!(named, "{path} is never answered: use it or remove it");
    }
}

/// The header of the table of codes in docs/errors.md.
const TABLE_HEADER: &str = "| status | `code` | meaning |";

#[test]
fn docs_errors_md_lists_every_code() {
    let path = repository().join("docs/errors.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    let committed: Vec<&str> = text
        .lines()
        .skip_while(|line| *line != TABLE_HEADER)
        .take_while(|line| line.starts_with('|'))
        .collect();
    let expected = table();
    assert_eq!(
        committed.join("\n"),
        expected,
        "the table in {} is not ErrorCode's; replace it with:\n\n{expected}\n",
        path.display()
    );
}

/// The table of every code, by status, as docs/errors.md has it.
fn table() -> String {
    let mut codes = ErrorCode::ALL.to_vec();
    codes.sort_by_key(|code| code.status());
    let rows = codes.iter().map(|code| {
        format!(
            "| {} | `{}` | {} |",
            code.status().as_u16(),
            code.wire_name(),
            code.description()
        )
    });
    [TABLE_HEADER.to_owned(), "| --- | --- | --- |".to_owned()]
        .into_iter()
        .chain(rows)
        .collect::<Vec<_>>()
        .join("\n")
}
