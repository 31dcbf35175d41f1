//! Keys and values between the command line and the cache: arguments are
//! taken as their bytes (or as hex with `--hex`), and bytes are shown as
//! text when they are printable UTF-8, otherwise as `0x`-prefixed hex.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::failure::Failure;

/// The bytes an argument stands for: its own bytes, or with `hex` the bytes
/// its hex digits spell (an optional `0x` prefix is allowed). `what` names
/// the argument in messages.
pub fn from_arg(arg: &OsStr, hex: bool, what: &str) -> Result<Vec<u8>, Failure> {
    if !hex {
        return Ok(arg.as_bytes().to_vec());
    }
    let s = arg
        .to_str()
        .ok_or_else(|| Failure::error(format!("{what}: --hex expects hex digits")))?;
    parse_hex(s).map_err(|why| Failure::error(format!("{what}: {why}")))
}

/// Parses hex digits, with or without a `0x` prefix.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{s:?} has an odd number of hex digits"));
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("{s:?} is not hex: {:?} is not a hex digit", c as char)),
    };
    digits
        .as_bytes()
        .chunks(2)
        .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// `0x` followed by two lowercase hex digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The bytes as text if that shows them faithfully on one field of one line
/// (valid UTF-8, no control characters, not empty, not itself starting with
/// `0x`, which would read as hex), otherwise as hex.
pub fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.is_empty() && !s.starts_with("0x") && !s.chars().any(char::is_control) => s.to_string(),
        _ => hex(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_text_is_shown_only_when_unambiguous() {
        assert_eq!(parse_hex("0x00ff10").unwrap(), vec![0, 255, 16]);
        assert_eq!(parse_hex("ABcd").unwrap(), vec![0xab, 0xcd]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert_eq!(hex(&[0, 255]), "0x00ff");
        assert_eq!(show(b"user:1"), "user:1");
        assert_eq!(show(b"a\tb"), "0x610962");
        assert_eq!(show(b"0x12"), "0x30783132");
        assert_eq!(show(&[0xff]), "0xff");
        assert_eq!(show(b""), "0x");
    }
}
