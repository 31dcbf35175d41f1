//! Prints what an `open_dir` input holds and what the library answers for
//! it (`tiercache_fuzz::explain_open_dir`): for working out a finding.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example explain -- fuzz/artifacts/open_dir/crash-…
fn main() {
    for path in std::env::args().skip(1) {
        let data = std::fs::read(&path).expect("read the input");
        println!("{path}\n{}", tiercache_fuzz::explain_open_dir(&data));
        // EXPLAIN_DIR=<dir>: also write the directory there, unopened.
        if let Some(dir) = std::env::var_os("EXPLAIN_DIR") {
            std::fs::create_dir_all(&dir).expect("create EXPLAIN_DIR");
            tiercache_fuzz::Layout::from_fuzz(&data).write(std::path::Path::new(&dir));
        }
    }
}
