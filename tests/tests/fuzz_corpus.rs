//! Every fuzz corpus seed and every saved crash reproducer, run through the same bodies the
//! fuzzer runs, on stable.

use std::path::Path;

use unicat_core::test_exports::{run, TARGETS};
use unicat_tests::peers::repo_root;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_and_regressions_run_clean() {
    let root = repo_root().join("fuzz");
    let mut ran = 0;
    for target in TARGETS {
        let seeds = inputs(&root.join("corpus").join(target));
        assert!(!seeds.is_empty(), "no corpus for {target}");
        for file in seeds
            .iter()
            .chain(inputs(&root.join("regressions").join(target)).iter())
        {
            let data = std::fs::read(file).unwrap();
            let result = std::panic::catch_unwind(|| run(target, &data));
            assert!(result.is_ok(), "{target} panicked on {}", file.display());
            ran += 1;
        }
    }
    assert!(ran >= 10);
}
