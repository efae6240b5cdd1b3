//! The rules every invalidation path must keep, whatever the key, written
//! independently of src/path.rs. Shared by tests/properties.rs and the fuzz
//! targets (through `#[path]`) so that both check exactly the same thing.

use cloudfront_invalidator::path::{InvalidationPath, MAX_PATH_LEN};

/// S3 keys are at most 1,024 bytes of UTF-8; `for_key` is only defined for those.
pub const S3_MAX_KEY_BYTES: usize = 1024;

/// Printable ASCII that CloudFront wants percent-encoded.
const UNSAFE_PRINTABLE: &[u8] = b" \"#%<>?[\\]^`{|}~";

/// Whether CloudFront needs this byte of a key percent-encoded: non-ASCII,
/// control characters, space and the unsafe set. Every other byte must stay
/// literal, or the invalidation no longer matches the cached object.
pub fn must_encode(byte: u8) -> bool {
    let printable_ascii = (0x20..0x7f).contains(&byte);
    !printable_ascii || UNSAFE_PRINTABLE.contains(&byte)
}

/// The byte of the `%XX` escape starting at `at` (uppercase hex only, as
/// CloudFront is sent them), if there is one.
fn escape_at(bytes: &[u8], at: usize) -> Option<u8> {
    let hex = |b: Option<&u8>| match b {
        Some(b @ b'0'..=b'9') => Some(b - b'0'),
        Some(b @ b'A'..=b'F') => Some(b - b'A' + 10),
        _ => None,
    };
    match bytes.get(at) {
        Some(b'%') => Some(hex(bytes.get(at + 1))? * 16 + hex(bytes.get(at + 2))?),
        _ => None,
    }
}

/// Decodes `%XX` escapes (uppercase hex only). `Err` names the first broken one.
pub fn percent_decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = escape_at(bytes, i).ok_or_else(|| format!("broken escape at byte {i} of {text:?}"))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Encodes a key the way S3 puts it in event notifications (form-URL-encoding):
/// space is `+`, unreserved characters and `/` stay literal, every other byte
/// is `%XX`.
pub fn form_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len() * 3);
    for &byte in key.as_bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Checks that `path` is what CloudFront must receive for the decoded `key`
/// (at most [`S3_MAX_KEY_BYTES`]); `Err` says which rule is broken.
pub fn check_path(key: &str, path: &InvalidationPath) -> Result<(), String> {
    let p = path.as_str();
    let fail = |rule: &str| Err(format!("{rule}: key {key:?} gave path {p:?}"));
    if path.to_string() != p {
        return fail("Display differs from as_str");
    }
    if !p.starts_with('/') {
        return fail("path does not start with /");
    }
    if p.chars().count() > MAX_PATH_LEN {
        return fail("path is longer than MAX_PATH_LEN characters");
    }
    // Only printable ASCII CloudFront takes literally, `%` only as `%XX`
    // (uppercase hex) of a byte that needs it, `*` only at the end.
    let bytes = p.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            match escape_at(bytes, i) {
                None => return fail("% that does not start an uppercase %XX escape"),
                Some(d) if !must_encode(d) => {
                    return fail("a character CloudFront takes literally is percent-encoded");
                }
                Some(_) => i += 3,
            }
            continue;
        }
        if must_encode(b) {
            return fail("a character CloudFront needs encoded is literal");
        }
        if b == b'*' && i != bytes.len() - 1 {
            return fail("* other than as the last character");
        }
        i += 1;
    }
    // Decoding gives back the key; a key with `*` or `~` gives the wildcard
    // of the key's prefix before the first of them: it covers the key and
    // nothing outside that prefix.
    let (literal, wildcard) = match key.find(['*', '~']) {
        Some(at) => (&key[..at], true),
        None => (key, false),
    };
    if path.is_wildcard() != wildcard || p.ends_with('*') != wildcard {
        return fail("wildcard if and only if the key holds * or ~");
    }
    let encoded = &p[1..p.len() - usize::from(wildcard)];
    match percent_decode(encoded) {
        Ok(decoded) if decoded == literal.as_bytes() => Ok(()),
        Ok(_) if wildcard => {
            fail("wildcard prefix does not decode to the key's prefix before its first * or ~")
        }
        Ok(_) => fail("path does not decode to the key"),
        Err(e) => fail(&e),
    }
}
