//! The server's top-level modules form layers: no module may reach, through
//! its `crate::` paths, a module that reaches back to it (docs/server-map.md
//! states the layers). This test reads every source file of the library
//! (not `main.rs`, `lib.rs` or the tools under `src/bin`), maps it to its
//! top-level module, collects the `crate::<module>` paths it names (in `use`
//! lines, `use crate::{a, b}` groups and inline paths, `$crate::` in macros
//! included; comments, string literals and `#[cfg(test)] mod` blocks
//! excluded), and fails naming any cycle among the modules. It also holds
//! the store to being the one owner of its tables: no module but `store`
//! (the entities and migrations aside) names the entities of documents, the
//! change log, its head or the scope history.
//!
//! It is a plain text scan, not a parser: `super::super::` paths across
//! top-level modules and `#[macro_export]` macros called without a path are
//! not seen.
//!
//! The same scan holds the domain away from the web framework: no file
//! under `records/` or `sync/` names an `actix` crate (they answer
//! `error::ErrorCode`s; only the HTTP edge knows actix's statuses).

use std::collections::{BTreeMap, BTreeSet};
mod source;

use source::rust_files;
use std::path::Path;

/// One `crate::` reference: the module it names and where.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn top_level_modules_have_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = module_graph(&src);
    assert!(
        edges.len() > 10,
        "found only {} modules under {}: is the scan broken?",
        edges.len(),
        src.display()
    );
    let cycles = cycles(&edges);
    assert!(cycles.is_empty(), "{}", describe(&cycles, &edges));
}

/// The entities only the store may name: documents, the change log, its
/// head and the scope history of accounts.
const STORE_TABLES: [&str; 4] = ["document", "doc_change", "feed_head", "scope_change"];

/// The top-level modules that may name [`STORE_TABLES`]: the store, and the
/// entities and migrations that define them.
const STORE_TABLE_OWNERS: [&str; 3] = ["store", "entities", "migration"];

#[test]
fn only_the_store_names_its_tables() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut scanned = 0;
    let mut found = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap_or(&file);
        let Some(first) = relative.components().next() else {
            continue;
        };
        let first = first.as_os_str().to_string_lossy();
        let module = first.strip_suffix(".rs").unwrap_or(&first);
        if STORE_TABLE_OWNERS.contains(&module) {
            continue;
        }
        scanned += 1;
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
        for (table, line) in segments_after(&code_only(&text), "entities::") {
            if STORE_TABLES.contains(&table.as_str()) {
                found.push(format!("{}:{line}: entities::{table}", relative.display()));
            }
        }
    }
    assert!(
        scanned > 10,
        "scanned only {scanned} files under {}: is the scan broken?",
        src.display()
    );
    assert!(
        found.is_empty(),
        "only the store reads and writes documents, the change log, its head and the \
         scope history; call a `store` function instead:\n{}",
        found.join("\n")
    );
}

/// The modules that hold the rules and never the web framework.
const FRAMEWORK_FREE: [&str; 2] = ["records", "sync"];

#[test]
fn records_and_sync_never_use_actix() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut uses = Vec::new();
    let mut scanned = 0;
    for module in FRAMEWORK_FREE {
        for file in rust_files(&src.join(module)) {
            scanned += 1;
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
            for line in actix_lines(&code_only(&text)) {
                let relative = file.strip_prefix(&src).unwrap_or(&file);
                uses.push(format!("{}:{line}", relative.display()));
            }
        }
    }
    assert!(
        scanned > 10,
        "found only {scanned} files in records/ and sync/"
    );
    assert!(
        uses.is_empty(),
        "records/ and sync/ answer error::ErrorCode and never name actix; \
         it is named at:\n  {}",
        uses.join("\n  ")
    );
}

/// The lines (1-based) of `code` that name a crate called `actix` or
/// `actix_*`.
fn actix_lines(code: &str) -> Vec<usize> {
    code.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.match_indices("actix").any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + "actix".len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(char::is_alphanumeric)
            })
        })
        .map(|(index, _)| index + 1)
        .collect()
}

/// The top-level modules of `src` and, for each, the modules it names with
/// the first place it names each (`file:line`).
fn module_graph(src: &Path) -> Edges {
    let modules = top_level_modules(src);
    let mut edges: Edges = modules
        .iter()
        .map(|module| (module.clone(), BTreeMap::new()))
        .collect();
    for file in rust_files(src) {
        let relative = file.strip_prefix(src).unwrap_or(&file);
        let Some(first) = relative.components().next() else {
            continue;
        };
        let first = first.as_os_str().to_string_lossy();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
        if !modules.contains(&module) {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", file.display()));
        let code = without_test_modules(&code_only(&text));
        for (target, line) in segments_after(&code, "crate::") {
            if target != module && modules.contains(&target) {
                let place = format!("{}:{line}", relative.display());
                edges
                    .entry(module.clone())
                    .or_default()
                    .entry(target)
                    .or_insert(place);
            }
        }
    }
    edges
}

/// The names of `src`'s top-level modules: its `.rs` files and folders,
/// without the crate roots and the tools.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let entries =
        std::fs::read_dir(src).unwrap_or_else(|err| panic!("cannot list {}: {err}", src.display()));
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_string_lossy().into_owned();
            if path.is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".rs").map(str::to_owned)
            }
        })
        .filter(|name| !["lib", "main", "bin"].contains(&name.as_str()))
        .collect()
}

/// `text` with comments and the contents of string and character literals
/// turned into spaces (newlines kept, so line numbers hold).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && matches!(next, Some('"') | Some('#'))
            && !chars[..i]
                .last()
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            out.push_str(&" ".repeat(hashes + 2));
            i += hashes + 2;
            while i < chars.len() && !chars[i..].starts_with(&closing) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push_str(&" ".repeat(closing.len()));
            i += closing.len();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                for skipped in chars.iter().skip(i).take(step) {
                    out.push(blank(*skipped));
                }
                i += step;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars[i..]) {
            let close = if next == Some('\\') {
                chars
                    .get(i + 3..)
                    .unwrap_or_default()
                    .iter()
                    .position(|ch| *ch == '\'')
                    .map_or(chars.len(), |k| i + 3 + k)
            } else {
                i + 2
            };
            while i <= close && i < chars.len() {
                out.push(' ');
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether `rest` (starting at a `'`) is a character literal rather than a
/// lifetime: `'x'` or an escape such as `'\n'` or `'\u{..}'`.
fn is_char_literal(rest: &[char]) -> bool {
    match rest.get(1) {
        Some('\\') => true,
        Some(_) => rest.get(2) == Some(&'\''),
        None => false,
    }
}

/// `code` without `#[cfg(test)]` modules declared inline (`mod tests { .. }`),
/// newlines kept.
fn without_test_modules(code: &str) -> String {
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(found) = out[from..].find("#[cfg(test)]") {
        let start = from + found;
        let after = start + "#[cfg(test)]".len();
        let rest = out[after..].trim_start();
        let is_module = rest.strip_prefix("mod ").is_some_and(|module| {
            let name_end = module
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(module.len());
            module[name_end..].trim_start().starts_with('{')
        });
        if !is_module {
            from = after;
            continue;
        }
        let open = after + out[after..].find('{').unwrap_or(0);
        let mut depth = 0usize;
        let mut end = out.len();
        for (offset, c) in out[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + offset + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let blanked: String = out[start..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(start..end, &blanked);
        from = end;
    }
    out
}

/// The segment after every `prefix` path in `code` (`crate::` gives the
/// modules a file names, `entities::` the entities), with its line
/// (1-based); a group (`prefix{a::b, c}`) gives each of its members. A
/// `prefix` that ends a longer identifier (`notcrate::`) does not count.
fn segments_after(code: &str, prefix: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = code[from..].find(prefix) {
        let start = from + offset;
        from = start + prefix.len();
        let preceded_by_ident = code[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if preceded_by_ident {
            continue;
        }
        let line = code[..start].matches('\n').count() + 1;
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            for name in group_heads(group) {
                found.push((name, line));
            }
        } else {
            found.push((identifier(rest).to_owned(), line));
        }
    }
    found
}

/// The first segment of each member of a `{ .. }` group whose opening brace
/// comes just before `group`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut expecting_head = true;
    for (index, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => expecting_head = true,
            c if expecting_head && depth == 0 && !c.is_whitespace() => {
                expecting_head = false;
                heads.push(identifier(&group[index..]).to_owned());
            }
            _ => {}
        }
    }
    heads
}

/// The identifier `text` starts with (empty if none).
fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The groups of modules that reach each other (strongly connected
/// components of more than one module), each sorted.
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    let reaches = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut pending = vec![from.to_owned()];
        while let Some(module) = pending.pop() {
            for target in edges.get(&module).into_iter().flat_map(BTreeMap::keys) {
                if seen.insert(target.clone()) {
                    pending.push(target.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> = edges
        .keys()
        .map(|module| (module, reaches(module)))
        .collect();
    let mut groups: Vec<Vec<String>> = Vec::new();
    for (module, reached) in &reach {
        if !reached.contains(*module) || groups.iter().any(|g| g.contains(module)) {
            continue;
        }
        let group = reached
            .iter()
            .filter(|other| reach.get(other).is_some_and(|back| back.contains(*module)))
            .cloned()
            .collect();
        groups.push(group);
    }
    groups
}

/// A report of `cycles`: each group's modules, one cycle through it, and the
/// references between its modules with where each is first made.
fn describe(cycles: &[Vec<String>], edges: &Edges) -> String {
    let mut report = String::from("the server's top-level modules import each other in a cycle");
    for group in cycles {
        report.push_str(&format!("\n\ncycle among: {}", group.join(", ")));
        report.push_str(&format!(
            "\none loop: {}",
            one_loop(group, edges).join(" -> ")
        ));
        report.push_str("\nedges within it:");
        for from in group {
            for (to, place) in edges.get(from).into_iter().flatten() {
                if group.contains(to) {
                    report.push_str(&format!("\n  {from} -> {to}  ({place})"));
                }
            }
        }
    }
    report.push_str("\n\nsee docs/server-map.md for which module may call which");
    report
}

/// A shortest path from the first module of `group` back to itself.
fn one_loop(group: &[String], edges: &Edges) -> Vec<String> {
    let Some(start) = group.first() else {
        return Vec::new();
    };
    let mut previous: BTreeMap<String, String> = BTreeMap::new();
    let mut frontier = vec![start.clone()];
    while !frontier.is_empty() && !previous.contains_key(start) {
        let mut next = Vec::new();
        for module in frontier {
            for target in edges.get(&module).into_iter().flat_map(BTreeMap::keys) {
                if group.contains(target) && !previous.contains_key(target) {
                    previous.insert(target.clone(), module.clone());
                    next.push(target.clone());
                }
            }
        }
        frontier = next;
    }
    let mut path = vec![start.clone()];
    let mut at = previous.get(start);
    while let Some(module) = at {
        path.push(module.clone());
        if module == start {
            break;
        }
        at = previous.get(module);
    }
    path.reverse();
    path
}

#[test]
fn references_in_comments_strings_and_test_modules_do_not_count() {
    let code = r##"
//! See [`crate::routes`].
use crate::{db::Db, error::{ApiError, ApiResult}};
use crate::config;
/* crate::startup */
fn f() -> &'static str {
    let _ = '"';
    let _ = crate::tiering::violations;
    let _ = "crate::sync";
    let _ = r#"crate::org"#;
    notcrate::feed::x();
    actix_web::web::Data<$crate::state::AppState>;
    ""
}
#[cfg(test)]
mod tests {
    use crate::records;
}
"##;
    let names: BTreeSet<String> =
        segments_after(&without_test_modules(&code_only(code)), "crate::")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
    let expected = ["config", "db", "error", "state", "tiering"];
    assert_eq!(names, expected.iter().map(|s| s.to_string()).collect());
}

#[test]
fn actix_is_found_in_code_and_not_in_comments_strings_or_other_names() {
    let code = r##"
use crate::error::ApiError;
// actix_web is the HTTP edge's
let _ = "actix_web";
use actix_web::http::StatusCode;
fn f() -> Result<(), actix_web::Error> { todo!() }
let redactix = 1;
let actixy = 2;
use ::actix::Actor;
"##;
    assert_eq!(actix_lines(&code_only(code)), [5, 6, 9]);
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut edges = Edges::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")] {
        edges
            .entry(from.into())
            .or_default()
            .insert(to.into(), format!("{from}.rs:1"));
        edges.entry(to.into()).or_default();
    }
    let found = cycles(&edges);
    assert_eq!(found, vec![vec!["a".to_owned(), "b".into(), "c".into()]]);
    let report = describe(&found, &edges);
    assert!(report.contains("one loop: a -> b -> c -> a"), "{report}");
    assert!(report.contains("c -> a  (c.rs:1)"), "{report}");
    assert!(!report.contains("c -> d"), "{report}");
}

#[test]
fn entity_paths_are_found_alone_and_in_groups() {
    let code = r##"
use crate::entities::{account, doc_change, document::Column};
use kam_server::entities::feed_head;
let _ = crate::entities::scope_change::Entity::find();
// crate::entities::document in a comment
let _ = "entities::doc_change";
let _ = myentities::document::X;
"##;
    let found = segments_after(&code_only(code), "entities::");
    let expected = [
        ("account", 2),
        ("doc_change", 2),
        ("document", 2),
        ("feed_head", 3),
        ("scope_change", 4),
    ];
    assert_eq!(
        found,
        expected
            .iter()
            .map(|(name, line)| (name.to_string(), *line))
            .collect::<Vec<_>>()
    );
}
