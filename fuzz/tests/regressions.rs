//! Replays every input under `fuzz/regressions/<target>/` through the same
//! code the fuzz targets run, and the seed-like smoke inputs below; runs on
//! stable Rust: `cargo test --manifest-path fuzz/Cargo.toml`.

use std::fs;
use std::panic;
use std::path::Path;

const TARGETS: [&str; 5] = [
    "record_decode",
    "open_dir",
    "hint_decode",
    "index_decode",
    "frame_decode",
];

#[test]
fn regressions_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut failed = Vec::new();
    let mut ran = 0;
    for target in TARGETS {
        let Ok(rd) = fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<_> = rd.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for path in files {
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.') || n == "README.md")
            {
                continue;
            }
            let data = fs::read(&path).unwrap();
            ran += 1;
            if panic::catch_unwind(|| tiercache_fuzz::run(target, &data)).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    eprintln!("replayed {ran} regression inputs");
    assert!(
        failed.is_empty(),
        "{} regression inputs fail:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn smoke_inputs() {
    tiercache_fuzz::record_decode(b"");
    tiercache_fuzz::record_decode(&[0xff; 64]);
    tiercache_fuzz::open_dir(b"");
    tiercache_fuzz::open_dir(&[0x0b, 0, 1, 2, 3]);
    tiercache_fuzz::hint_decode(&[1]);
    tiercache_fuzz::hint_decode(&[0]);
    tiercache_fuzz::index_decode(&[0]);
    tiercache_fuzz::index_decode(&[1]);
    tiercache_fuzz::index_decode(&[2, 10, 0, 1]);
    tiercache_fuzz::index_decode(&[3, 0x10, 0x10, 0x40]);
    tiercache_fuzz::index_decode(&[0x1c]);
}

/// The committed inputs of directories and frames written at rest reach past
/// authentication: their records and frames open with the targets' keys.
#[test]
fn at_rest_inputs_are_read() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut seen = 0;
    for e in fs::read_dir(root.join("open_dir")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("at-rest-") {
            let data = fs::read(e.path()).unwrap();
            assert!(tiercache_fuzz::open_dir_keys(&data) > 5, "{name}: no readable record");
            seen += 1;
        }
    }
    for e in fs::read_dir(root.join("frame_decode")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("frame-") {
            let data = fs::read(e.path()).unwrap();
            let s = tiercache_fuzz::frame_sealer(data[0]);
            assert!(
                s.open(tiercache_fuzz::FRAME_NAME, &data[1..]).is_ok(),
                "{name} does not open"
            );
            seen += 1;
        }
    }
    assert!(seen >= 6, "{seen} at-rest inputs");
}
