//! The README stays true: the crate READMEs' programs are the project README's tours (both are
//! compiled as doc tests), and every `CACHEFRONT_*` variable the code reads is documented.

use std::{collections::BTreeSet, fs, path::Path};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn rust_blocks(markdown: &str) -> Vec<&str> {
    markdown
        .split("```rust")
        .skip(1)
        .map(|rest| &rest[..rest.find("```").expect("a closed code block")])
        .collect()
}

#[test]
fn the_crate_readmes_show_the_project_readmes_tours() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    for krate in ["cachefront-axum", "cachefront-actix"] {
        let own = fs::read_to_string(root().join("crates").join(krate).join("README.md")).unwrap();
        let blocks = rust_blocks(&own);
        assert!(!blocks.is_empty(), "{krate}'s README has a program");
        for block in blocks {
            assert!(
                readme.contains(block),
                "{krate}'s README program differs from the README's tour:\n{block}"
            );
        }
    }
}

/// Every `"CACHEFRONT_..."` string literal in the library crates and the examples.
fn variables_read(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            variables_read(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
            let text = fs::read_to_string(&path).unwrap();
            for piece in text.split("\"CACHEFRONT_").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if piece[name.len()..].starts_with('"') && !name.is_empty() {
                    found.insert(format!("CACHEFRONT_{name}"));
                }
            }
        }
    }
}

#[test]
fn every_variable_the_code_reads_is_in_the_readmes_configuration() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let mut found = BTreeSet::new();
    variables_read(&root().join("crates"), &mut found);
    variables_read(&root().join("examples"), &mut found);
    assert!(found.len() >= 10, "{found:?}");
    let missing: Vec<_> = found
        .iter()
        .filter(|name| !readme.contains(&format!("`{name}`")))
        .collect();
    assert!(missing.is_empty(), "not documented in the README: {missing:?}");
}
