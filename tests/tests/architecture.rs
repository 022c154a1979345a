//! The shape the architecture promises (docs/ARCHITECTURE.md), checked on the source itself:
//! no two top-level modules of the core refer to each other, and each live runtime keeps only
//! its loop and its facade (under 900 lines of `src/` outside test modules).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use unicat_tests::peers::repo_root;

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The names `text` reaches through `crate::name` or `use crate::{name, …}`.
fn referred(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            names.extend(group.split(',').map(|p| ident(p.trim())));
        } else {
            names.insert(ident(rest));
        }
    }
    names
}

#[test]
fn no_two_modules_of_the_core_refer_to_each_other() {
    let src = repo_root().join("core/src");
    let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in sources(&src) {
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let name = top.trim_end_matches(".rs").to_string();
        if name == "lib" {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        modules.entry(name).or_default().extend(referred(&text));
    }
    assert!(
        modules.len() > 10,
        "the core's modules were found: {modules:?}"
    );
    let mut cycles = Vec::new();
    for (a, refs) in &modules {
        for b in refs.iter().filter(|b| *b > a && modules.contains_key(*b)) {
            if modules[b].contains(a) {
                cycles.push(format!("{a} <-> {b}"));
            }
        }
    }
    assert!(cycles.is_empty(), "module cycles: {cycles:?}");
}

/// Lines of a file before its first `#[cfg(test)]`, comments included.
fn lines_outside_tests(path: &Path) -> usize {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .count()
}

#[test]
fn each_live_runtime_keeps_only_its_loop_and_its_facade() {
    for runtime in ["blocking", "smol"] {
        let src = repo_root().join("runtimes").join(runtime).join("src");
        let lines: usize = sources(&src).iter().map(|p| lines_outside_tests(p)).sum();
        assert!(
            lines > 300,
            "{runtime}: the sources were found ({lines} lines)"
        );
        assert!(
            lines < 900,
            "{runtime}/src has {lines} lines outside tests; glue both runtimes need belongs in \
             runtimes/support"
        );
    }
}

#[test]
fn the_reference_reader_sees_what_it_should() {
    let refs = referred("use crate::{api::Secret, store};\nlet x = crate::io::Input;");
    assert_eq!(
        refs,
        ["api", "io", "store"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}
