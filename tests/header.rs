//! The committed C header must be exactly what cbindgen generates from the
//! source now (build.rs writes the fresh one to OUT_DIR).

#[test]
fn committed_header_matches_the_source() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/tiercache.h"));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/tiercache.h"))
        .expect("include/tiercache.h is missing");
    assert!(
        fresh == committed,
        "include/tiercache.h is stale: rebuild outside CI (build.rs rewrites it) and commit it"
    );
}

#[test]
fn header_names_every_contract_function() {
    let h = include_str!(concat!(env!("OUT_DIR"), "/tiercache.h"));
    for f in [
        "tc_options_new",
        "tc_options_free",
        "tc_options_set_dir",
        "tc_options_set_l1_capacity",
        "tc_options_set_l2_capacity",
        "tc_options_set_write_policy",
        "tc_options_set_sync_policy",
        "tc_options_set_default_ttl",
        "tc_cache_open",
        "tc_cache_close",
        "tc_put",
        "tc_get",
        "tc_bytes_free",
        "tc_get_into",
        "tc_contains",
        "tc_remove",
        "tc_remove_prefix",
        "tc_clear",
        "tc_flush",
        "tc_purge_expired",
        "tc_stats_get",
        "tc_sink_put",
        "tc_cache_set_loader",
        "tc_status_str",
        "tc_last_error",
        "tc_version",
    ] {
        assert!(
            h.contains(&format!(" {f}(")) || h.contains(&format!("*{f}(")),
            "{f} missing from the header"
        );
    }
    for v in [
        "TC_OK = 0",
        "TC_NOT_FOUND = 1",
        "TC_INVALID_ARGUMENT = 2",
        "TC_TOO_LARGE = 3",
        "TC_IO_ERROR = 4",
        "TC_LOCKED = 5",
        "TC_CORRUPT = 6",
        "TC_LOADER_FAILED = 7",
        "TC_BUFFER_TOO_SMALL = 8",
        "TC_PANIC = 9",
        "TC_WRITE_THROUGH = 0",
        "TC_WRITE_BACK = 1",
        "TC_SYNC_NEVER = 0",
        "TC_SYNC_ON_FLUSH = 1",
        "TC_SYNC_ALWAYS = 2",
        "TC_SYNC_INTERVAL = 3",
    ] {
        assert!(h.contains(v), "{v} missing from the header");
    }
}
