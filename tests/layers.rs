//! The server's layers (README "Layout", `src/lib.rs`): a module imports only its own layer and the
//! layers below it, so `src/` has no import cycle between layers. Checked on the source text: every
//! `crate::<module>` path in a layer's files must name a layer at or below it.

use std::path::Path;

/// Bottom to top. `server` and `cli` are the composition root.
const LAYERS: &[&[&str]] = &[
    &["core"],
    &["store"],
    &["outbound"],
    &["intake"],
    &["protocols"],
    &["server", "cli"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_layer_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut violations = Vec::new();
    let mut seen_layers = std::collections::BTreeSet::new();
    for path in &all {
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let own = rank(module).unwrap_or_else(|| panic!("{} is in no layer", rel.display()));
        seen_layers.insert(own);
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if let Some(r) = rank(&name)
                    && r > own
                {
                    violations.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert_eq!(seen_layers.len(), LAYERS.len(), "every layer has code");
    assert!(
        violations.is_empty(),
        "imports of a higher layer:\n{}",
        violations.join("\n")
    );
}
