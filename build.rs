//! Generates the C header from `src/ffi` with cbindgen (version pinned in
//! Cargo.toml, so the output is reproducible).
//!
//! The header is always written to `$OUT_DIR/tiercache.h`. Outside CI it is
//! also copied to `include/tiercache.h` when that differs, so a developer's
//! build keeps the committed header current; in CI (`CI` set) the committed
//! file is left alone and `tests/header.rs` fails if it is stale.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=CI");
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("tiercache.h");
    bindings.write_to_file(&out);
    if env::var_os("CI").is_none() {
        let committed = crate_dir.join("include").join("tiercache.h");
        let fresh = fs::read(&out).unwrap();
        if fs::read(&committed).ok().as_deref() != Some(&fresh[..]) {
            fs::create_dir_all(committed.parent().unwrap()).unwrap();
            fs::write(&committed, fresh).unwrap();
        }
    }
}
