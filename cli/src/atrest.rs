//! How the tool opens an encrypted or compressing cache directory: the
//! encryption key, read from a file (`--key-file PATH`) or from the
//! environment (`TIERCACHE_KEY`), never from a command-line argument, where
//! every user of the machine could read it in the process list; and the
//! codec `put` compresses with (`--compression`).
//!
//! A key is 32 bytes: in a file, either those 32 bytes or 64 hex digits
//! (surrounding whitespace ignored); in `TIERCACHE_KEY`, 64 hex digits.
//! Giving both is refused rather than one silently winning.

use std::ffi::OsString;
use std::path::Path;
use std::sync::OnceLock;

use tiercache::{Compression, EncryptionKey, Options};

use crate::bytes;
use crate::failure::Failure;

/// The environment variable that may hold the key, as hex.
pub const KEY_ENV: &str = "TIERCACHE_KEY";

/// What every command opens directories with, set once by `main`.
static SETTINGS: OnceLock<Settings> = OnceLock::new();

#[derive(Debug, Default)]
struct Settings {
    key: Option<EncryptionKey>,
    compression: Option<Compression>,
}

/// Reads the key (if any) from `key_file` or the environment, and keeps it
/// with `compression` for every directory the command opens.
pub fn init(key_file: Option<&Path>, env: Option<OsString>, compression: Option<Compression>) -> Result<(), Failure> {
    let key = match (key_file, env) {
        (Some(_), Some(_)) => {
            return Err(Failure::error(format!(
                "both --key-file and {KEY_ENV} give a key; give one"
            )))
        }
        (Some(path), None) => Some(from_file(path)?),
        (None, Some(v)) => {
            let v = v
                .into_string()
                .map_err(|_| Failure::error(format!("{KEY_ENV}: not 64 hex digits")))?;
            Some(from_hex(v.trim(), KEY_ENV)?)
        }
        (None, None) => None,
    };
    let _ = SETTINGS.set(Settings { key, compression });
    Ok(())
}

/// The key given, if any.
pub fn key() -> Option<&'static EncryptionKey> {
    SETTINGS.get().and_then(|s| s.key.as_ref())
}

/// Applies the key and the codec to options about to open a directory.
pub fn apply(opts: &mut Options) {
    if let Some(s) = SETTINGS.get() {
        opts.encryption_key = s.key.clone();
        if let Some(c) = s.compression {
            opts.compression = c;
        }
    }
}

fn from_file(path: &Path) -> Result<EncryptionKey, Failure> {
    let raw = std::fs::read(path).map_err(|e| Failure::io(format!("read the key file {}", path.display()), e))?;
    if let Some(k) = EncryptionKey::new(&raw) {
        return Ok(k);
    }
    let what = format!("key file {}", path.display());
    let text =
        std::str::from_utf8(&raw).map_err(|_| Failure::error(format!("{what}: neither 32 bytes nor 64 hex digits")))?;
    from_hex(text.trim(), &what)
}

fn from_hex(text: &str, what: &str) -> Result<EncryptionKey, Failure> {
    let bytes = bytes::parse_hex(text).map_err(|e| Failure::error(format!("{what}: {e}")))?;
    EncryptionKey::new(&bytes).ok_or_else(|| {
        Failure::error(format!(
            "{what}: an encryption key is 32 bytes (64 hex digits), not {}",
            bytes.len()
        ))
    })
}

/// `--compression`'s values.
pub fn parse_compression(s: &str) -> Result<Compression, String> {
    match s {
        "none" => Ok(Compression::TC_COMPRESSION_NONE),
        "lz4" => Ok(Compression::TC_COMPRESSION_LZ4),
        "zstd" => Ok(Compression::TC_COMPRESSION_ZSTD),
        _ => Err(format!("{s:?} is not one of none, lz4, zstd")),
    }
}
