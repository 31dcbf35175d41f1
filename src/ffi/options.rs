//! `tc_options`: the builder a C caller fills in before `tc_cache_open`.

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::boundary::{
    arg, arg_mut, bytes, guard, guard_void, RawCompression, RawL1Policy, RawSyncPolicy, RawWritePolicy,
};
use crate::error::{tc_status, Error};
use crate::options::{Compression, L1Policy, Options, SyncPolicy, WritePolicy};

/// Options for `tc_cache_open`: an opaque builder.
#[allow(non_camel_case_types)]
pub struct tc_options {
    pub(crate) opts: Options,
}

/// Creates options with every default: memory only (no directory), L1 bounded
/// at 64 MiB of keys plus values and no entry bound, evicting by LRU, L2
/// bounded at 1 GiB on disk, write-through, `TC_SYNC_ON_FLUSH`, no default
/// TTL, values up to 16 MiB, L2 segments of 64 MiB.
///
/// Ownership: the caller owns the result and frees it with `tc_options_free`
/// (`tc_cache_open` copies what it needs). Returns NULL only if memory is
/// exhausted. Thread safety: an options object must not be used from two
/// threads at once.
#[no_mangle]
pub extern "C" fn tc_options_new() -> *mut tc_options {
    let mut out = std::ptr::null_mut();
    guard_void("tc_options_new", || {
        out = Box::into_raw(Box::new(tc_options {
            opts: Options::default(),
        }));
    });
    out
}

/// Frees options made by `tc_options_new`. NULL is a no-op.
///
/// # Safety
/// `opts` is NULL or came from `tc_options_new` and was not freed before.
#[no_mangle]
pub unsafe extern "C" fn tc_options_free(opts: *mut tc_options) {
    if !opts.is_null() {
        guard_void("tc_options_free", || drop(Box::from_raw(opts)));
    }
}

/// Sets the L2 directory (a NUL-terminated path, created with mode 0700 if
/// missing). Unset, the cache is memory only. The path is copied.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` or `path` is NULL or
/// `path` is empty.
///
/// # Safety
/// `opts` is a live options object; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_dir(opts: *mut tc_options, path: *const c_char) -> tc_status {
    guard("tc_options_set_dir", || {
        let opts = arg_mut(opts, "opts")?;
        let path = CStr::from_ptr(arg(path, "path")?);
        if path.is_empty() {
            return Err(Error::invalid("path is empty"));
        }
        opts.opts.dir = Some(PathBuf::from(OsStr::from_bytes(path.to_bytes())));
        Ok(())
    })
}

/// Bounds L1 by entries and by key plus value bytes; 0 means no bound on that
/// dimension. A value larger than the byte bound divided among L1's shards is
/// not kept in L1 (it is served from L2).
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_l1_capacity(
    opts: *mut tc_options,
    max_entries: u64,
    max_bytes: u64,
) -> tc_status {
    guard("tc_options_set_l1_capacity", || {
        let opts = arg_mut(opts, "opts")?;
        opts.opts.l1_max_entries = max_entries;
        opts.opts.l1_max_bytes = max_bytes;
        Ok(())
    })
}

/// Chooses how L1 picks what to evict: `TC_L1_LRU` (default) or
/// `TC_L1_S3FIFO` (scan-resistant, and a hit takes no exclusive lock, so
/// hits from several threads scale). Either keeps every guarantee of
/// docs/CONSISTENCY.md; only which entries stay in memory differs.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL or `policy` is not
/// a `tc_l1_policy` value.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_l1_policy(opts: *mut tc_options, policy: RawL1Policy) -> tc_status {
    guard("tc_options_set_l1_policy", || {
        let opts = arg_mut(opts, "opts")?;
        opts.opts.l1_policy = L1Policy::from_u32(policy.0)
            .ok_or_else(|| Error::invalid(format!("policy: {} is not a tc_l1_policy", policy.0)))?;
        Ok(())
    })
}

/// Bounds the bytes L2 keeps on disk; 0 means no bound.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_l2_capacity(opts: *mut tc_options, max_bytes: u64) -> tc_status {
    guard("tc_options_set_l2_capacity", || {
        arg_mut(opts, "opts")?.opts.l2_max_bytes = max_bytes;
        Ok(())
    })
}

/// Chooses write-through (default) or write-back.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL or `policy` is not
/// a `tc_write_policy` value.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_write_policy(opts: *mut tc_options, policy: RawWritePolicy) -> tc_status {
    guard("tc_options_set_write_policy", || {
        let opts = arg_mut(opts, "opts")?;
        opts.opts.write_policy = WritePolicy::from_u32(policy.0)
            .ok_or_else(|| Error::invalid(format!("policy: {} is not a tc_write_policy", policy.0)))?;
        Ok(())
    })
}

/// Chooses when L2 is fsynced. `interval_ms` is read only with
/// `TC_SYNC_INTERVAL`, where it must be at least 1.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL, `policy` is not a
/// `tc_sync_policy` value, or the interval is 0 with `TC_SYNC_INTERVAL`.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_sync_policy(
    opts: *mut tc_options,
    policy: RawSyncPolicy,
    interval_ms: u64,
) -> tc_status {
    guard("tc_options_set_sync_policy", || {
        let opts = arg_mut(opts, "opts")?;
        let policy = SyncPolicy::from_u32(policy.0)
            .ok_or_else(|| Error::invalid(format!("policy: {} is not a tc_sync_policy", policy.0)))?;
        opts.opts.set_sync_policy(policy, interval_ms)
    })
}

/// Compresses L2 values of at least `min_value_len` bytes with `c` (LZ4 or
/// Zstandard), each value only if that makes it smaller; shorter values and
/// values that do not shrink are stored as they are. L1 keeps values
/// uncompressed. The codec is recorded in each record, so a directory can be
/// reopened with any setting and still reads every record. Bytes saved are
/// counted as `compressed_bytes_saved` (`tc_stats_get_counter`). Default:
/// `TC_COMPRESSION_NONE`.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL or `c` is not a
/// `tc_compression` value.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_compression(
    opts: *mut tc_options,
    c: RawCompression,
    min_value_len: u64,
) -> tc_status {
    guard("tc_options_set_compression", || {
        let opts = arg_mut(opts, "opts")?;
        let c =
            Compression::from_u32(c.0).ok_or_else(|| Error::invalid(format!("c: {} is not a tc_compression", c.0)))?;
        opts.opts.set_compression(c, min_value_len);
        Ok(())
    })
}

/// Encrypts and authenticates every L2 record (key, value and metadata)
/// with XChaCha20-Poly1305 under subkeys of this 32-byte key; key hashes on
/// disk are keyed. The key is copied. A directory written with a key opens
/// only with that key (another key: `TC_INVALID_ARGUMENT` from
/// `tc_cache_open`), one written without a key does not open with one and
/// vice versa (`TC_INVALID_ARGUMENT`). Sizes, times and the number of
/// entries are not hidden (see README.md).
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` or `key` is NULL or
/// `key_len` is not 32.
///
/// # Safety
/// `opts` is NULL or a live options object; `key` is NULL or points to
/// `key_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_encryption_key(
    opts: *mut tc_options,
    key: *const u8,
    key_len: usize,
) -> tc_status {
    guard("tc_options_set_encryption_key", || {
        let opts = arg_mut(opts, "opts")?;
        let key = bytes(key, key_len, "key")?;
        opts.opts.set_encryption_key(key)
    })
}

/// Sets the TTL, in milliseconds, of puts and loads that pass a TTL of 0;
/// 0 (the default) means such entries never expire.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_default_ttl(opts: *mut tc_options, ttl_ms: u64) -> tc_status {
    guard("tc_options_set_default_ttl", || {
        arg_mut(opts, "opts")?.opts.default_ttl_ms = ttl_ms;
        Ok(())
    })
}

/// Sets the largest value accepted, in bytes (default 16 MiB, at most 1 GiB);
/// a larger value is refused with `TC_TOO_LARGE`.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL or `max_bytes` is
/// 0 or over 1 GiB.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_max_value_size(opts: *mut tc_options, max_bytes: u64) -> tc_status {
    guard("tc_options_set_max_value_size", || {
        arg_mut(opts, "opts")?.opts.set_max_value_len(max_bytes)
    })
}

/// Sets the size at which the active L2 segment file is sealed and a new one
/// started (default 64 MiB, at least 4096 bytes).
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL or the size is out
/// of range.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_segment_size(opts: *mut tc_options, max_bytes: u64) -> tc_status {
    guard("tc_options_set_segment_size", || {
        arg_mut(opts, "opts")?.opts.set_segment_bytes(max_bytes)
    })
}

/// Opens the directory without changing it: for tools that look inside a
/// cache directory. The directory must exist and hold segments. Nothing is
/// repaired (bytes after a torn tail are ignored, not cut; missing hints are
/// not rewritten), no background work runs, and `tc_put`, `tc_remove`,
/// `tc_remove_prefix`, `tc_clear(cache, false)`, `tc_purge_expired` and
/// `tc_compact` return `TC_INVALID_ARGUMENT`; values a loader gives are kept
/// in memory only. The directory is still locked while open.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_read_only(opts: *mut tc_options, read_only: bool) -> tc_status {
    guard("tc_options_set_read_only", || {
        arg_mut(opts, "opts")?.opts.read_only = read_only;
        Ok(())
    })
}

/// Sets the shared remote tier (Redis or Valkey): a NUL-terminated URL,
/// `redis://[user:password@]host[:port][/db]` (or `valkey://`) for one
/// server, `redis+cluster://[user:password@]host:port[,host:port…]` for the
/// seed nodes of a Redis Cluster; `rediss://` and `rediss+cluster://` for
/// TLS (the server's certificate is checked against the system's roots, or
/// those in the PEM file that the environment variable `SSL_CERT_FILE`
/// names). NULL: no remote tier (the default; then
/// nothing connects). The URL is checked here; the server is not contacted
/// until `tc_cache_open`, where an unreachable server, or a failed AUTH,
/// leaves the cache open with the remote tier degraded (counter
/// "remote_state" 2), retrying in the background. See README.md, "Many
/// processes, many machines".
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL, or the URL is
/// not UTF-8, cannot be parsed or has an unknown scheme (`tc_last_error`
/// says why).
///
/// # Safety
/// `opts` is NULL or a live options object; `url` is NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_remote(opts: *mut tc_options, url: *const c_char) -> tc_status {
    guard("tc_options_set_remote", || {
        let opts = arg_mut(opts, "opts")?;
        if url.is_null() {
            return opts.opts.set_remote(None);
        }
        let url = CStr::from_ptr(url)
            .to_str()
            .map_err(|_| Error::invalid("url: not UTF-8"))?;
        opts.opts.set_remote(Some(url))
    })
}

/// Sets the namespace of the remote tier (1 to 255 bytes, copied; default
/// "tiercache"): caches with the same server and namespace share values and
/// invalidations; other namespaces are invisible to them.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` or `ns` is NULL or the
/// length is 0 or over 255.
///
/// # Safety
/// `opts` is NULL or a live options object; `ns` is NULL or valid for
/// `ns_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_remote_namespace(
    opts: *mut tc_options,
    ns: *const u8,
    ns_len: usize,
) -> tc_status {
    guard("tc_options_set_remote_namespace", || {
        let opts = arg_mut(opts, "opts")?;
        let ns = std::slice::from_raw_parts(arg(ns, "ns")?, ns_len);
        opts.opts.set_remote_namespace(ns)
    })
}

/// Sets the secret (16 bytes or more, copied) with which every value in the
/// remote tier is signed (HMAC-SHA256): a value without a valid signature
/// under this secret is refused and counted in "remote_errors". Every cache
/// of a namespace must use the same secret.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` or `secret` is NULL or
/// the secret is shorter than 16 bytes.
///
/// # Safety
/// `opts` is NULL or a live options object; `secret` is NULL or valid for
/// `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_remote_secret(
    opts: *mut tc_options,
    secret: *const u8,
    len: usize,
) -> tc_status {
    guard("tc_options_set_remote_secret", || {
        let opts = arg_mut(opts, "opts")?;
        let secret = std::slice::from_raw_parts(arg(secret, "secret")?, len);
        opts.opts.set_remote_secret(secret)
    })
}

/// Sets the timeout of one remote operation, in milliseconds (default 250,
/// 1 to 3600000). While the server is down or slow, a call on the cache
/// waits for the remote tier at most about this long (twice with a
/// connect), then goes on without it.
///
/// Returns `TC_OK`; `TC_INVALID_ARGUMENT` if `opts` is NULL or the timeout
/// is out of range.
///
/// # Safety
/// `opts` is NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn tc_options_set_remote_timeout(opts: *mut tc_options, timeout_ms: u64) -> tc_status {
    guard("tc_options_set_remote_timeout", || {
        arg_mut(opts, "opts")?.opts.set_remote_timeout(timeout_ms)
    })
}
