//! Keeps docs/robustness.md true: every catalog case (126 ids, embedded here so CI needs no file outside the
//! repository) has exactly one row; every test a row names exists as a test function (`#[test]` / `#[tokio::test]`)
//! in the named file; a `pass` row names at least one test and none of its tests is `#[ignore]`d, except with a
//! reason that starts `ci:` (it needs something a plain `cargo test` may lack, such as root or libfaketime, and
//! `.ci/ignored-tests.sh` runs it in CI); a row naming another ignored test says `pending: bug`; `n/a` and
//! `pending` rows give a reason.

use std::collections::BTreeMap;
use std::path::Path;

/// The catalog's sections and their case counts (test-catalog.md §1: P 32 + T 25 + S 23 + H 19 + C 16 + D 11).
const SECTIONS: &[(char, usize)] = &[
    ('P', 32),
    ('T', 25),
    ('S', 23),
    ('H', 19),
    ('C', 16),
    ('D', 11),
];

fn catalog_ids() -> Vec<String> {
    SECTIONS
        .iter()
        .flat_map(|&(p, n)| (1..=n).map(move |i| format!("{p}-{i:02}")))
        .collect()
}

/// One test reference `path::name` found in a row.
#[derive(Debug)]
struct TestRef {
    path: String,
    name: String,
}

fn is_case_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 4
        && b"PTSHCD".contains(&b[0])
        && b[1] == b'-'
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit()
}

/// Backticked `path::name` references in a cell.
fn test_refs(cell: &str) -> Vec<TestRef> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|r| {
            let (path, name) = r.rsplit_once("::")?;
            (path.ends_with(".rs") && !name.is_empty()).then(|| TestRef {
                path: path.to_string(),
                name: name.to_string(),
            })
        })
        .collect()
}

/// Whether `name` is a test function in `source`, and whether it is `#[ignore]`d for a reason other than `ci:`
/// (which CI runs). `None`: no `fn name(`.
fn find_test(source: &str, name: &str) -> Option<(bool, bool)> {
    let needle = format!("fn {name}(");
    let pos = source.match_indices(&needle).map(|(i, _)| i).find(|&i| {
        // A whole identifier: `fn xp01(` must not match `p01`.
        i == 0 || !source.as_bytes()[i - 1].is_ascii_alphanumeric()
    })?;
    // The attributes between the end of the previous item and this fn.
    let before = &source[..pos];
    let start = [before.rfind("}\n"), before.rfind(";\n")]
        .into_iter()
        .flatten()
        .max()
        .map_or(0, |i| i + 2);
    let attrs = &before[start..];
    let is_test = attrs.contains("#[test]") || attrs.contains("#[tokio::test");
    let ignored = attrs.contains("#[ignore") && !attrs.contains("#[ignore = \"ci: ");
    Some((is_test, ignored))
}

/// Every problem with `doc`; `read` returns a file's text by repository-relative path.
fn check(doc: &str, read: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut rows: BTreeMap<String, usize> = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || !is_case_id(cells[1]) {
            continue;
        }
        let (id, tests, result) = (cells[1], cells[2], cells[3]);
        *rows.entry(id.to_string()).or_default() += 1;
        let refs = test_refs(tests);
        let mut ignored = 0;
        for r in &refs {
            match read(&r.path).as_deref().map(|src| find_test(src, &r.name)) {
                None => problems.push(format!("{id}: file {} does not exist", r.path)),
                Some(None) => problems.push(format!("{id}: no fn {}( in {}", r.name, r.path)),
                Some(Some((false, _))) => {
                    problems.push(format!("{id}: {}::{} is not a test", r.path, r.name))
                }
                Some(Some((true, ign))) => ignored += usize::from(ign),
            }
        }
        let kind = ["pass", "n/a", "pending"]
            .into_iter()
            .find(|k| result.starts_with(k));
        match kind {
            None => problems.push(format!(
                "{id}: result must start with pass, n/a or pending: {result:?}"
            )),
            Some("pass") => {
                if refs.is_empty() {
                    problems.push(format!("{id}: pass without a test"));
                }
                if ignored > 0 {
                    problems.push(format!("{id}: pass while a listed test is ignored"));
                }
            }
            Some(k) => {
                if !result[k.len()..].starts_with(": ") || result.len() < k.len() + 6 {
                    problems.push(format!("{id}: {k} without a reason"));
                }
                if ignored > 0 && !result.starts_with("pending: bug") {
                    problems.push(format!(
                        "{id}: lists an ignored test but does not say 'pending: bug'"
                    ));
                }
            }
        }
    }
    for id in catalog_ids() {
        match rows.remove(&id).unwrap_or(0) {
            1 => {}
            0 => problems.push(format!("{id}: no row")),
            n => problems.push(format!("{id}: {n} rows")),
        }
    }
    for id in rows.keys() {
        problems.push(format!("{id}: not a catalog case"));
    }
    problems
}

fn repo_reader(root: &Path) -> impl Fn(&str) -> Option<String> + '_ {
    move |rel: &str| {
        if rel.contains("..") || rel.starts_with('/') {
            return None;
        }
        std::fs::read_to_string(root.join(rel)).ok()
    }
}

#[test]
fn robustness_md_lists_every_catalog_case_with_existing_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/robustness.md")).expect("docs/robustness.md");
    let read = repo_reader(root);
    let problems = check(&doc, &read);
    assert!(
        problems.is_empty(),
        "docs/robustness.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_catalog_has_126_distinct_ids() {
    let ids = catalog_ids();
    assert_eq!(ids.len(), 126);
    let set: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(set.len(), 126);
    assert_eq!(ids.first().map(String::as_str), Some("P-01"));
    assert_eq!(ids.last().map(String::as_str), Some("D-11"));
}

/// The checker itself: each kind of mistake is reported.
#[test]
fn checker_reports_missing_duplicate_and_stale_rows() {
    let src = "#[test]\nfn p01_ok() {}\n\n#[test]\n#[ignore = \"bug: x\"]\nfn p02_bug() {}\n\nfn helper() {}\n\
               \n#[test]\n#[ignore = \"ci: needs root\"]\nfn p03_root() {}\n";
    let read = |p: &str| (p == "tests/x.rs").then(|| src.to_string());
    let mut doc = String::from("| case | tests | result |\n|---|---|---|\n");
    for id in catalog_ids() {
        doc.push_str(&format!("| {id} | — | n/a: not here |\n"));
    }
    assert!(check(&doc, &read).is_empty(), "{:?}", check(&doc, &read));

    let with = |id: &str, row: &str| {
        doc.lines()
            .map(|l| {
                if l.starts_with(&format!("| {id} ")) {
                    row.to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cases = [
        (with("P-01", "| P-01 | `tests/x.rs::p01_ok` | pass |"), None),
        (
            with("P-01", "| P-01 | `tests/x.rs::p03_root` | pass |"),
            None,
        ),
        (
            with("P-01", "| P-01 | `tests/x.rs::p01_gone` | pass |"),
            Some("no fn p01_gone("),
        ),
        (
            with("P-01", "| P-01 | `tests/y.rs::p01_ok` | pass |"),
            Some("does not exist"),
        ),
        (
            with("P-01", "| P-01 | `tests/x.rs::helper` | pass |"),
            Some("is not a test"),
        ),
        (
            with("P-01", "| P-01 | `tests/x.rs::p02_bug` | pass |"),
            Some("ignored"),
        ),
        (
            with("P-01", "| P-01 | `tests/x.rs::p02_bug` | pending: later |"),
            Some("pending: bug"),
        ),
        (
            with("P-01", "| P-01 | `tests/x.rs::p02_bug` | pending: bug: y |"),
            None,
        ),
        (
            with("P-01", "| P-01 | — | pass |"),
            Some("pass without a test"),
        ),
        (
            with("P-01", "| P-01 | — | pending |"),
            Some("without a reason"),
        ),
        (with("P-01", "| P-01 | — | fine |"), Some("must start with")),
        (with("P-01", ""), Some("P-01: no row")),
        (
            format!("{doc}\n| P-01 | — | n/a: twice |"),
            Some("P-01: 2 rows"),
        ),
        (
            format!("{doc}\n| P-33 | — | n/a: extra |"),
            Some("P-33: not a catalog case"),
        ),
    ];
    for (doc, want) in cases {
        let problems = check(&doc, &read);
        match want {
            None => assert!(problems.is_empty(), "{problems:?}"),
            Some(w) => assert!(
                problems.iter().any(|p| p.contains(w)),
                "expected {w:?}, got {problems:?}"
            ),
        }
    }
}
