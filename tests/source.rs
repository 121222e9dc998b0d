//! Rules about the source itself, checked on every run.

use std::path::{Path, PathBuf};

/// Every `.rs` file of the repository, generated and fetched trees left
/// out.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if !matches!(
                name.as_ref(),
                "target" | ".git" | "corpus" | "seeds" | "artifacts"
            ) {
                sources(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// Whether `code` opens an unsafe block or impl (the keyword, not a name
/// that ends in it).
fn opens_unsafe(code: &str) -> bool {
    code.match_indices("unsafe").any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = &code[at + "unsafe".len()..];
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && (after.starts_with(" {") || after.starts_with(" impl "))
    })
}

/// An `unsafe` block or impl is preceded (in the comment lines right above
/// it, or on its own line) by a `SAFETY:` comment that says why it holds.
#[test]
fn every_unsafe_block_says_why_it_holds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 50, "found only {} sources", files.len());
    let mut blocks = 0;
    let mut missing = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let code = l.split("//").next().unwrap_or("");
            if !opens_unsafe(code) {
                continue;
            }
            blocks += 1;
            let said = l.contains("SAFETY:")
                || lines[..i]
                    .iter()
                    .rev()
                    .take_while(|p| p.trim_start().starts_with("//"))
                    .any(|p| p.contains("SAFETY:"));
            if !said {
                missing.push(format!("{}:{}: {}", f.display(), i + 1, l.trim()));
            }
        }
    }
    assert!(
        blocks > 100,
        "found only {blocks} unsafe blocks: is the walk right?"
    );
    assert!(
        missing.is_empty(),
        "unsafe without a SAFETY comment:\n{}",
        missing.join("\n")
    );
}
