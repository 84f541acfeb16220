//! UIDVALIDITY from the user's counter (Dovecot's `dovecot-uidvalidity`): a new or rebuilt
//! uidlist takes the next value, so folders made in the same second differ and a name used again
//! never gets an old value back.

mod common;

use common::TempDir;
use mailwright_maildir::{Maildir, UIDVALIDITY_FILE};

fn v(md: &Maildir) -> u32 {
    md.sync().unwrap().uid_validity
}

#[test]
fn folders_of_one_second_differ_and_a_name_used_again_gets_a_new_value() {
    let tmp = TempDir::new("uv-same-second");
    let root = Maildir::create(tmp.path()).unwrap();
    let inbox = v(&root);
    let mut seen = vec![inbox];
    for name in ["a", "b", "c", "d"] {
        let f = root.create_folder(name).unwrap();
        seen.push(v(&f));
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "one counter, growing: {seen:?}"
    );
    // DELETE x + CREATE x in the same second.
    let old_c = seen[3];
    root.delete_folder("c").unwrap();
    let c = root.create_folder("c").unwrap();
    let new_c = v(&c);
    assert!(new_c > old_c && !seen.contains(&new_c));
    // RENAME y x after deleting x: x now has y's value, never x's old one.
    let old_a = seen[1];
    let d = seen[4];
    root.delete_folder("a").unwrap();
    root.rename_folder("d", "a").unwrap();
    let a = v(&root.folder("a").unwrap());
    assert_eq!(a, d);
    assert_ne!(a, old_a);
    // A lost uidlist is rebuilt with a value above everything handed out.
    std::fs::remove_file(c.path().join("dovecot-uidlist")).unwrap();
    assert!(v(&c) > new_c);
    // The counter is Dovecot's: the hint holds the last value in hex, the counter file its name.
    let last = v(&root.create_folder("e").unwrap());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join(UIDVALIDITY_FILE)).unwrap(),
        format!("{last:08x}")
    );
    assert!(
        tmp.path()
            .join(format!("{UIDVALIDITY_FILE}.{last:08x}"))
            .exists()
    );
}

#[test]
fn existing_folders_keep_their_values_and_the_counter_starts_above_them() {
    let tmp = TempDir::new("uv-upgrade");
    let root = Maildir::create(tmp.path()).unwrap();
    let sent = root.create_folder("Sent").unwrap();
    // As an older version (or Courier) left them: values in use, no counter.
    std::fs::write(
        root.path().join("dovecot-uidlist"),
        "3 V4000000000 N1 G00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    std::fs::write(sent.path().join("dovecot-uidlist"), "1 3900000000 1\n").unwrap();
    assert_eq!(v(&root), 4_000_000_000);
    assert_eq!(v(&sent), 3_900_000_000);
    let new = root.create_folder("New").unwrap();
    assert_eq!(v(&new), 4_000_000_001);
    assert_eq!(v(&root), 4_000_000_000, "kept");
}

#[test]
fn continues_the_counter_dovecot_left() {
    let tmp = TempDir::new("uv-dovecot");
    let root = Maildir::create(tmp.path()).unwrap();
    // Dovecot's files after it took 0x6b161f69 (8 hex digits, no newline; an empty 0444 file).
    std::fs::write(tmp.path().join(UIDVALIDITY_FILE), "6b161f69").unwrap();
    std::fs::write(tmp.path().join(format!("{UIDVALIDITY_FILE}.6b161f69")), "").unwrap();
    assert_eq!(v(&root), 0x6b16_1f6a);
    assert_eq!(v(&root.create_folder("x").unwrap()), 0x6b16_1f6b);
    assert!(
        !tmp.path()
            .join(format!("{UIDVALIDITY_FILE}.6b161f69"))
            .exists()
    );
}

#[test]
fn concurrent_takers_never_share_a_value() {
    let tmp = TempDir::new("uv-race");
    let root = Maildir::create(tmp.path()).unwrap();
    let names: Vec<String> = (0..24).map(|i| format!("f{i}")).collect();
    for n in &names {
        root.create_folder(n).unwrap();
    }
    let threads: Vec<_> = names
        .chunks(6)
        .map(|chunk| {
            let root = root.clone();
            let chunk = chunk.to_vec();
            std::thread::spawn(move || {
                chunk
                    .iter()
                    .map(|n| v(&root.folder(n).unwrap()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), names.len());
}
