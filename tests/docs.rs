//! The documents and scripts name files that exist: ARCHITECTURE.md maps
//! concept to file, deploy/check-image greps the metrics source, and a file
//! that moved must move there too.

use std::path::Path;

#[test]
fn every_source_path_the_documents_and_scripts_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p);
        }
    }
    for script in [
        ".ci/run",
        "deploy/check",
        "deploy/check-image",
        "bench/run",
        "bench/profile",
        "bench/report.py",
        "lab/lab.sh",
        "lab/up",
        "lab/down",
        "lab/link",
    ] {
        docs.push(root.join(script));
    }
    let mut missing = Vec::new();
    let mut named = 0;
    for d in &docs {
        let text = std::fs::read_to_string(d).unwrap();
        for (i, _) in text.match_indices("src/") {
            // "v1-src/src/x.rs" names another tree; only a path that starts
            // at src/ is ours.
            let before = text[..i].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c)) {
                continue;
            }
            let rest = &text[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "/_.-".contains(c)))
                .unwrap_or(rest.len());
            let path = rest[..end].trim_end_matches('.');
            if !(path.ends_with(".rs") || path.ends_with('/')) {
                continue;
            }
            named += 1;
            if !root.join(path).exists() {
                missing.push(format!(
                    "{}: {path}",
                    d.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        named > 50,
        "only {named} paths found: is the pattern right?"
    );
    assert!(missing.is_empty(), "named but absent: {missing:#?}");
}
