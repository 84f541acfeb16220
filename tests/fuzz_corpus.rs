//! Replays every committed fuzz seed through the same function its cargo-fuzz target calls, so the
//! corpus is checked on stable in every CI run (`fuzz/run-all.sh` does the real fuzzing on nightly).

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::Path;

#[test]
fn replay_fuzz_corpora() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
    let mut replayed = 0usize;
    for (name, body) in targets::all_targets() {
        // A target in a TARGETS table must also be a cargo-fuzz binary, or nightly fuzzing misses it.
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz target {name} has no [[bin]] in fuzz/Cargo.toml"
        );
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "fuzz target {name} has no seed corpus at {}: {e}",
                dir.display()
            )
        });
        let mut seeds = 0usize;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            if path.is_file() {
                let data = std::fs::read(&path).expect("read seed");
                body(&data);
                seeds += 1;
            }
        }
        assert!(seeds > 0, "fuzz target {name} has an empty seed corpus");
        replayed += seeds;
    }
    println!("replayed {replayed} fuzz seeds");
}
