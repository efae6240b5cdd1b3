//! One S3 key to one CloudFront invalidation path: decode the key as S3 sends
//! it, then encode it the way CloudFront matches cached objects. Pure: no I/O.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::fmt;

/// Maximum length of one invalidation path (CloudFront API reference).
pub const MAX_PATH_LEN: usize = 4000;

/// Maximum length of an S3 key in bytes: a longer "key" did not come from S3,
/// and encoded it could exceed [`MAX_PATH_LEN`].
pub const MAX_KEY_BYTES: usize = 1024;

/// The characters CloudFront wants percent-encoded in a path: control
/// characters, space and the RFC 1738 "unsafe" set, plus `?` (else it starts a
/// query string). Every other ASCII character must stay literal or the
/// invalidation no longer matches the cached object. Non-ASCII bytes are always
/// encoded by `utf8_percent_encode`.
const CLOUDFRONT_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'~');

/// Why an S3 key could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("broken percent-escape {escape:?} at byte {at} of the key")]
    BrokenEscape { escape: String, at: usize },
    #[error("the decoded key is not valid UTF-8 (bytes {bytes})")]
    NotUtf8 { bytes: String },
    #[error("the key is {bytes} bytes long; S3 keys are at most 1,024")]
    TooLong { bytes: usize },
}

/// Decodes a key as S3 puts it in an event notification: form-URL-encoded, so
/// `+` is a space and `%XX` is one byte of the UTF-8 key.
pub fn decode_key(raw: &str) -> Result<String, KeyError> {
    if raw.is_empty() {
        return Err(KeyError::Empty);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = bytes.get(i + 1..i + 3).and_then(hex_pair);
                let Some(byte) = byte else {
                    let end = (i + 3).min(bytes.len());
                    return Err(KeyError::BrokenEscape {
                        escape: String::from_utf8_lossy(&bytes[i..end]).into_owned(),
                        at: i,
                    });
                };
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    if out.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong { bytes: out.len() });
    }
    String::from_utf8(out).map_err(|e| KeyError::NotUtf8 {
        bytes: e
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// The byte two hex digits stand for; `None` unless both are hex digits.
fn hex_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16);
    match pair {
        [hi, lo] => Some((digit(*hi)? * 16 + digit(*lo)?) as u8),
        _ => None,
    }
}

/// The forms of `relative` (a decoded key, under the origin path) that a
/// site serves it at, as keys: its own, and for an index document its
/// directory with and without the slash (the empty key, `/`, at the root).
/// A key with `*` or `~` has only its own: its path is a wildcard over its
/// prefix, which covers the others.
pub fn forms(relative: &str, index_document: Option<&str>) -> Vec<String> {
    let mut forms = vec![relative.to_owned()];
    if let Some(index) = index_document {
        let (dir, name) = relative.rsplit_once('/').map_or(("", relative), |(d, n)| (d, n));
        if name == index && !relative.contains(['*', '~']) {
            if dir.is_empty() {
                forms.push(String::new());
            } else {
                forms.push(format!("{dir}/"));
                forms.push(dir.to_owned());
            }
        }
    }
    forms
}

/// A path as CloudFront's CreateInvalidation takes it: starts with `/`, encoded,
/// and `*` only as a final wildcard. Built only by [`InvalidationPath::for_key`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct InvalidationPath(String);

impl InvalidationPath {
    /// The path that invalidates the object cached for a decoded key (already
    /// relative to the distribution's origin path).
    ///
    /// Two characters have no path that certainly matches the cached object,
    /// so a key holding one is covered by a prefix wildcard cut just before
    /// the first of them, which matches the object and nothing outside that
    /// prefix: CloudFront reads `*` as a wildcard and offers no escape for a
    /// literal one (`a/b*c.txt` gives `/a/b*`); a literal `~` is refused
    /// (InvalidArgument), and its escape `%7E` does not match the URL a
    /// browser requests, which keeps `~` literal (`~alice/x.html` gives `/*`).
    pub fn for_key(key: &str) -> Self {
        let (literal, wildcard) = match key.find(['*', '~']) {
            Some(at) => (&key[..at], true),
            None => (key, false),
        };
        let mut path = String::with_capacity(literal.len() + 2);
        path.push('/');
        path.extend(utf8_percent_encode(literal, CLOUDFRONT_UNSAFE));
        if wildcard {
            path.push('*');
        }
        debug_assert!(path.len() <= MAX_PATH_LEN, "S3 keys are at most 1,024 bytes");
        InvalidationPath(path)
    }

    /// The wildcard over everything under an already encoded directory path
    /// that starts and ends with `/` (`/static/css/` gives `/static/css/*`).
    pub fn wildcard_for_directory(directory: &str) -> Self {
        debug_assert!(directory.starts_with('/') && directory.ends_with('/'));
        InvalidationPath(format!("{directory}*"))
    }

    /// The path with every query string after it: itself and a trailing `*`
    /// (`/app.js` gives `/app.js*`, which covers `/app.js?v=2`), for a cache
    /// behavior whose cache key holds query strings. A wildcard already
    /// covers them.
    pub fn with_query_strings(&self) -> Self {
        if self.is_wildcard() {
            self.clone()
        } else {
            InvalidationPath(format!("{}*", self.0))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0.ends_with('*')
    }
}

impl fmt::Display for InvalidationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (key as S3 sends it, path CloudFront must receive)
    const KEYS: &[(&str, &str)] = &[
        ("index.html", "/index.html"),
        ("css/app.css", "/css/app.css"),
        ("deep/nested/dir/file.js", "/deep/nested/dir/file.js"),
        ("my+file.txt", "/my%20file.txt"),
        ("my%20file.txt", "/my%20file.txt"),
        ("a%2Bb.txt", "/a+b.txt"),
        ("c%2B%2B/notes.md", "/c++/notes.md"),
        ("caf%C3%A9.png", "/caf%C3%A9.png"),
        (
            "%E6%97%A5%E6%9C%AC/%E8%AA%9E.html",
            "/%E6%97%A5%E6%9C%AC/%E8%AA%9E.html",
        ),
        ("emoji%F0%9F%98%80.txt", "/emoji%F0%9F%98%80.txt"),
        ("page%23section.html", "/page%23section.html"),
        ("%23hash-first.css", "/%23hash-first.css"),
        ("100%25.txt", "/100%25.txt"),
        ("what%3F.html", "/what%3F.html"),
        ("file%5B1%5D.txt", "/file%5B1%5D.txt"),
        ("%7Bbraces%7D.json", "/%7Bbraces%7D.json"),
        ("pipe%7Cchar", "/pipe%7Cchar"),
        ("back%5Cslash", "/back%5Cslash"),
        ("caret%5E.txt", "/caret%5E.txt"),
        ("tick%60.txt", "/tick%60.txt"),
        ("quote%22.txt", "/quote%22.txt"),
        ("angle%3Cb%3E.html", "/angle%3Cb%3E.html"),
        ("%7Euser/home.html", "/*"),
        ("docs/%7Euser/home.html", "/docs/*"),
        ("a%2Ab%7Ec", "/a*"),
        ("a%7Eb%2Ac", "/a*"),
        ("a%3Db%26c%3Dd.txt", "/a=b&c=d.txt"),
        ("semi%3Bcolon%2Ccomma.txt", "/semi;colon,comma.txt"),
        ("at%40sign%21bang.txt", "/at@sign!bang.txt"),
        ("paren%28s%29%24dollar.txt", "/paren(s)$dollar.txt"),
        ("apos%27colon%3A.txt", "/apos'colon:.txt"),
        ("tab%09char.txt", "/tab%09char.txt"),
        ("del%7Fchar.txt", "/del%7Fchar.txt"),
        ("already%2520encoded.txt", "/already%2520encoded.txt"),
        ("star*.txt", "/star*"),
        ("dir/a%2Ab/c.txt", "/dir/a*"),
        ("*", "/*"),
        ("dir/", "/dir/"),
        ("dir//double", "/dir//double"),
        ("UPPER/lower.TXT", "/UPPER/lower.TXT"),
        ("dots/../x.txt", "/dots/../x.txt"),
        ("space+%2B+plus", "/space%20+%20plus"),
    ];

    #[test]
    fn tricky_keys_give_exact_paths() {
        for (raw, want) in KEYS {
            let key = decode_key(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(InvalidationPath::for_key(&key).as_str(), *want, "key {raw:?}");
        }
        assert!(KEYS.len() >= 25);
    }

    #[test]
    fn broken_keys_are_rejected_with_what_was_wrong() {
        assert_eq!(
            decode_key("bad%G1.txt"),
            Err(KeyError::BrokenEscape {
                escape: "%G1".into(),
                at: 3
            })
        );
        assert_eq!(
            decode_key("trailing%2"),
            Err(KeyError::BrokenEscape {
                escape: "%2".into(),
                at: 8
            })
        );
        assert_eq!(
            decode_key("x%"),
            Err(KeyError::BrokenEscape {
                escape: "%".into(),
                at: 1
            })
        );
        assert_eq!(
            decode_key("%FF%FE.txt"),
            Err(KeyError::NotUtf8 {
                bytes: "FF FE 2E 74 78 74".into()
            })
        );
        assert_eq!(decode_key(""), Err(KeyError::Empty));
        // A sign is not a hex digit even though from_str_radix accepts it.
        assert!(matches!(decode_key("%+1"), Err(KeyError::BrokenEscape { .. })));
        assert_eq!(
            decode_key(&"%7F".repeat(1025)),
            Err(KeyError::TooLong { bytes: 1025 })
        );
        assert!(decode_key(&"%7F".repeat(1024)).is_ok());
    }

    #[test]
    fn wildcard_only_for_star_and_tilde_keys() {
        assert!(InvalidationPath::for_key("a*b").is_wildcard());
        assert!(InvalidationPath::for_key("a~b").is_wildcard());
        assert!(!InvalidationPath::for_key("a/b").is_wildcard());
    }

    #[test]
    fn longest_possible_key_fits_cloudfront_limit() {
        // S3 keys are at most 1,024 bytes; the worst case encodes each byte as %XX.
        let key = "\u{7f}".repeat(1024);
        assert!(InvalidationPath::for_key(&key).as_str().len() <= MAX_PATH_LEN);
    }
}
