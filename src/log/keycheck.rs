//! The key check file of an encrypted directory: proof, at open, that the
//! encryption key given is the one the directory was written with, and the
//! random salt from which that directory's subkeys are derived (`seal::Keys`).
//!
//! A directory is encrypted if and only if it has this file. It is written
//! once, before the first segment of a directory opened with a key, through
//! a temporary file that is fsynced and renamed (then the directory is
//! fsynced), and never changes. Opening decides, before any record is read:
//! - file and key: the key must match (a wrong key is `TC_INVALID_ARGUMENT`,
//!   never garbage); a damaged file is `TC_CORRUPT`;
//! - file, no key: refused, the directory is encrypted;
//! - no file, key: refused if any segment holds a record (the directory was
//!   written in the clear); otherwise the file is made and the directory is
//!   encrypted from now on;
//! - neither: a plain directory.
//!
//! A file rather than a record in a segment: it must be read before any
//! segment (the subkeys that open the records come from its salt), and it
//! must outlive `clear` and the retirement of old segments, which delete
//! segment files.
//!
//! No migration between the two is offered: a cache can be refilled, so the
//! way from one to the other is to clear it (or use a new directory).
//!
//! ```text
//! 0   4   magic "TCK1"
//! 4   2   version (1)
//! 6   2   suite (1: XChaCha20-Poly1305, SipHash-2-4, HKDF-SHA256)
//! 8   32  salt, random
//! 40  32  check: HKDF-Expand(check subkey, "tiercache key check" || bytes 0..40)
//! 72  4   CRC32 of bytes 0..72
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::fileio;
use super::segment;
use crate::error::{Error, Result};
use crate::seal::{EncryptionKey, Keys};

/// The file's name in a cache directory.
pub const FILE_NAME: &str = "KEYCHECK";
const MAGIC: [u8; 4] = *b"TCK1";
const VERSION: u16 = 1;
const SUITE: u16 = 1;
const LEN: usize = 76;
const CHECKED: usize = 40;

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The subkeys to read and write `dir` with, after the checks in the
/// module doc; `None` for a plain directory.
pub fn keys_for(dir: &Path, key: Option<&EncryptionKey>, read_only: bool, durable: bool) -> Result<Option<Keys>> {
    let file = path(dir);
    let bytes = match fs::read(&file) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("read {}", file.display()), e)),
    };
    match (bytes, key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::invalid(format!(
            "{} is encrypted: open it with its encryption key",
            dir.display()
        ))),
        (Some(bytes), Some(key)) => check(&file, &bytes, key).map(Some),
        (None, Some(key)) => {
            if has_records(dir)? {
                return Err(Error::invalid(format!(
                    "{} was written without an encryption key and cannot be opened with one \
                     (no migration is offered: clear it, or use another directory)",
                    dir.display()
                )));
            }
            if read_only {
                return Err(Error::invalid(format!(
                    "{} has no key check file: it is not an encrypted cache directory",
                    dir.display()
                )));
            }
            create(dir, key, durable)
                .map(Some)
                .map_err(|e| Error::io(format!("write {}", file.display()), e))
        }
    }
}

/// The subkeys of `key`, if the key check file `bytes` says it is the right one.
fn check(file: &Path, bytes: &[u8], key: &EncryptionKey) -> Result<Keys> {
    let damaged = |why: &str| Error::corrupt(format!("{} is damaged ({why})", file.display()));
    if bytes.len() != LEN {
        return Err(damaged("wrong length"));
    }
    if crc32fast::hash(&bytes[..LEN - 4]).to_le_bytes() != bytes[LEN - 4..] {
        return Err(damaged("checksum mismatch"));
    }
    if bytes[0..4] != MAGIC {
        return Err(damaged("not a tiercache key check file"));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    let suite = u16::from_le_bytes([bytes[6], bytes[7]]);
    if version != VERSION || suite != SUITE {
        return Err(Error::corrupt(format!(
            "{} was written by a newer tiercache (version {version}, suite {suite})",
            file.display()
        )));
    }
    let keys = Keys::derive(key, &bytes[8..CHECKED]);
    let want = check_value(&keys, &bytes[..CHECKED]);
    // Not secret: a match proves the key, a mismatch only that it is another.
    if want[..] != bytes[CHECKED..CHECKED + 32] {
        return Err(Error::invalid(format!(
            "wrong encryption key for {} (its key check does not match)",
            file.parent().unwrap_or(file).display()
        )));
    }
    Ok(keys)
}

fn check_value(keys: &Keys, head: &[u8]) -> [u8; 32] {
    let mut context = b"tiercache key check".to_vec();
    context.extend_from_slice(head);
    keys.check_value(&context)
}

/// Whether any segment file of `dir` holds more than its header.
fn has_records(dir: &Path) -> Result<bool> {
    let list_err = |e| Error::io(format!("list {}", dir.display()), e);
    for ent in fs::read_dir(dir).map_err(list_err)? {
        let ent = ent.map_err(list_err)?;
        let is_segment = ent.file_name().to_str().and_then(segment::parse_file_name).is_some();
        if is_segment && ent.metadata().map_err(list_err)?.len() > segment::HEADER_LEN {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Writes a new key check file for `key` (temp file, fsync, rename, fsync
/// the directory; no fsync unless `durable`).
fn create(dir: &Path, key: &EncryptionKey, durable: bool) -> io::Result<Keys> {
    let mut bytes = Vec::with_capacity(LEN);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&SUITE.to_le_bytes());
    let mut salt = [0u8; 32];
    getrandom::getrandom(&mut salt).map_err(|e| io::Error::other(e.to_string()))?;
    bytes.extend_from_slice(&salt);
    let keys = Keys::derive(key, &salt);
    let check = check_value(&keys, &bytes);
    bytes.extend_from_slice(&check);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    fileio::replace(dir, &tmp, &path(dir), &bytes, durable)?;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> EncryptionKey {
        EncryptionKey::new(&[b; 32]).unwrap()
    }

    #[test]
    fn the_right_key_opens_and_every_other_case_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(keys_for(d, None, false, true).unwrap().is_none());
        let made = keys_for(d, Some(&key(1)), false, true).unwrap().unwrap();
        let again = keys_for(d, Some(&key(1)), false, true).unwrap().unwrap();
        assert_eq!(made.hash_secret(), again.hash_secret());
        let e = keys_for(d, Some(&key(2)), false, true).unwrap_err();
        assert_eq!(e.status(), crate::Status::TC_INVALID_ARGUMENT);
        assert!(e.message().contains("wrong encryption key"), "{}", e.message());
        let e = keys_for(d, None, false, true).unwrap_err();
        assert!(e.message().contains("is encrypted"), "{}", e.message());
        // Damage is told apart from a wrong key.
        let mut bytes = fs::read(path(d)).unwrap();
        bytes[10] ^= 1;
        fs::write(path(d), &bytes).unwrap();
        let e = keys_for(d, Some(&key(1)), false, true).unwrap_err();
        assert_eq!(e.status(), crate::Status::TC_CORRUPT);
    }

    #[test]
    fn a_plain_directory_with_records_refuses_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = vec![0u8; segment::HEADER_LEN as usize + 1];
        seg[0] = b'T';
        fs::write(dir.path().join(segment::file_name(1)), &seg).unwrap();
        let e = keys_for(dir.path(), Some(&key(1)), false, true).unwrap_err();
        assert!(
            e.message().contains("written without an encryption key"),
            "{}",
            e.message()
        );
        assert!(!path(dir.path()).exists());
        // An empty segment (header only) holds nothing to protect.
        seg.pop();
        fs::write(dir.path().join(segment::file_name(1)), &seg).unwrap();
        assert!(keys_for(dir.path(), Some(&key(1)), false, true).unwrap().is_some());
    }
}
