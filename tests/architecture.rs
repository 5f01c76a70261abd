//! The shape docs/architecture.md promises, checked on the source: every
//! import of a top-level module runs to a lower layer, and no function is
//! longer than 120 lines. Reads `src/` as text (code before a file's
//! `#[cfg(test)]`, comment lines skipped).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// docs/architecture.md's layers, bottom (0) to top.
const LAYERS: [(&str, u32); 13] = [
    ("files", 1),
    ("numbers", 1),
    ("kernels", 1),
    ("eval", 1),
    ("data", 2),
    ("model", 2),
    ("loader", 3),
    ("weights", 3),
    ("run", 4),
    ("store", 5),
    ("engine", 6),
    ("gui", 7),
    ("cli", 8),
];

const MAX_FUNCTION_LINES: usize = 120;

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code lines before its tests, without comment lines.
fn code_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("source file");
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .map(|l| {
            if l.trim_start().starts_with("//") {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect()
}

fn identifier(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules `text` reaches through `crate::`, including the
/// heads of a `crate::{a::x, b::y}` group.
fn crate_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start_of_item = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start_of_item = true,
                    c if start_of_item && !c.is_whitespace() => {
                        out.insert(identifier(&group[i..]).to_string());
                        start_of_item = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(identifier(rest).to_string());
        }
    }
    out
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_import_runs_to_a_lower_layer() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let mut parts = relative.iter();
        let first = parts.next().expect("a path").to_string_lossy();
        if parts.next().is_none() {
            // lib.rs, main.rs and the single-file modules
            if first != "numbers.rs" {
                continue;
            }
        }
        let module = first.trim_end_matches(".rs");
        let own = layer(module)
            .unwrap_or_else(|| panic!("src/{module} has no layer in docs/architecture.md"));
        for used in crate_modules(&code_lines(file).join("\n")) {
            if used == module {
                continue;
            }
            let Some(theirs) = layer(&used) else {
                panic!("{}: crate::{used} has no layer", relative.display());
            };
            checked += 1;
            if theirs >= own {
                upward.push(format!(
                    "{} ({module}) uses crate::{used}",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} imports found: is the scan broken?"
    );
    assert!(
        upward.is_empty(),
        "imports that do not go down a layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_layer_check_catches_an_upward_import() {
    let text = "use crate::{engine::RunConfig, store::RunDir};\nlet x = crate::gui::Tab::ALL;";
    let found = crate_modules(text);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["engine", "gui", "store"]
    );
}

/// `(first line, length, name)` of every `fn` in `lines`, by brace matching.
fn functions(lines: &[String]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let after_fn = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "unsafe fn ",
            "pub unsafe fn ",
        ]
        .iter()
        .find_map(|p| trimmed.strip_prefix(p));
        let Some(rest) = after_fn else {
            continue;
        };
        let name = identifier(rest).to_string();
        let (mut depth, mut opened) = (0i64, false);
        for (j, body_line) in lines.iter().enumerate().skip(i) {
            if !opened && body_line.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
            // brace characters written as literals ('{', b'}') are not blocks
            let cleaned = body_line.replace("'{'", "").replace("'}'", "");
            for c in cleaned.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                out.push((i + 1, j - i + 1, name));
                break;
            }
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_120_lines() {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let mut long = Vec::new();
    let mut seen = 0;
    for file in &files {
        for (line, length, name) in functions(&code_lines(file)) {
            seen += 1;
            if length > MAX_FUNCTION_LINES {
                long.push(format!("{}:{line} {name}: {length} lines", file.display()));
            }
        }
    }
    assert!(
        seen > 500,
        "only {seen} functions found: is the scan broken?"
    );
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_check_counts_a_body() {
    let lines: Vec<String> = "fn short() {\n    let a = {\n        1\n    };\n}\nfn decl();"
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(functions(&lines), vec![(1, 5, "short".to_string())]);
}
