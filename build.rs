//! Generates the C header from `src/ffi` with cbindgen (version pinned in
//! Cargo.toml, so the output is reproducible), and sets how the shared
//! library is linked.
//!
//! The header is always written to `$OUT_DIR/tiercache.h`. Outside CI it is
//! also copied to `include/tiercache.h` when that differs, so a developer's
//! build keeps the committed header current; in CI (`CI` set) the committed
//! file is left alone and `tests/header.rs` fails if it is stale.
//!
//! The header's `TIERCACHE_VERSION_*` macros come from the crate's version
//! here (cbindgen.toml has the rest of the header's settings), so they and
//! `tc_version()` cannot disagree.
//!
//! On Linux the shared library gets the soname `libtiercache.so.<major>`. It
//! exports only the `tc_*` functions without a version script of ours: rustc
//! links every cdylib with its own version script that exports exactly the
//! `#[no_mangle] pub extern "C"` functions and makes everything else local (a
//! second anonymous script would be refused by GNU ld). `tests/abi/symbols.sh`
//! checks the result with `nm -D`; abi/README.md has the rest of the ABI rules.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=CI");
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();

    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtiercache.so.{major}");
    }

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    config.after_includes = Some(version_macros());
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

/// The header's version macros, from the crate version (Cargo.toml).
fn version_macros() -> String {
    let v = |name: &str| env::var(name).unwrap();
    format!(
        "\n/*\n \
         The version of the library this header belongs to. tc_version() returns\n \
         TIERCACHE_VERSION_STRING. Releases with the same major version are\n \
         ABI-compatible (only functions are added); the shared library's soname is\n \
         libtiercache.so.<major>.\n \
         */\n\
         #define TIERCACHE_VERSION_MAJOR {}\n\
         #define TIERCACHE_VERSION_MINOR {}\n\
         #define TIERCACHE_VERSION_PATCH {}\n\
         #define TIERCACHE_VERSION_STRING \"{}\"",
        v("CARGO_PKG_VERSION_MAJOR"),
        v("CARGO_PKG_VERSION_MINOR"),
        v("CARGO_PKG_VERSION_PATCH"),
        v("CARGO_PKG_VERSION"),
    )
}
