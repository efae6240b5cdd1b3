//! Properties of key decoding and path encoding over arbitrary keys: no panic,
//! and every path keeps CloudFront's rules (fuzz/invariants.rs, shared with the
//! fuzz targets in fuzz/). 256 cases per property by default; set
//! PROPTEST_CASES for a longer run.

use cloudfront_invalidator::path::{InvalidationPath, KeyError, decode_key};
use proptest::prelude::*;
use proptest::sample::select;

#[path = "../fuzz/invariants.rs"]
mod invariants;
use invariants::{S3_MAX_KEY_BYTES, check_path, form_encode};

/// Characters that have a rule of their own: the encoded set, controls, `+`,
/// `%`, `*`, `/`, characters of 2, 3 and 4 UTF-8 bytes, and a few that must
/// stay literal.
const SPECIAL: &[&str] = &[
    " ",
    "\"",
    "#",
    "%",
    "<",
    ">",
    "?",
    "[",
    "\\",
    "]",
    "^",
    "`",
    "{",
    "|",
    "}",
    "~",
    "+",
    "*",
    "/",
    "\0",
    "\t",
    "\n",
    "\r",
    "\u{1f}",
    "\u{7f}",
    "\u{80}",
    "é",
    "\u{7ff}",
    "\u{800}",
    "日",
    "\u{feff}",
    "\u{ffff}",
    "😀",
    "\u{10ffff}",
    "a",
    "Z",
    "0",
    ".",
    "-",
    "_",
    "=",
    "&",
    "'",
    "!",
    "$",
    "(",
    ")",
    ":",
    ";",
    "@",
    ",",
    "..",
    "//",
    "%25",
    "%2B",
    "%20",
    "%2A",
];

/// Pieces of raw keys as S3 might send them, well-formed or not.
const RAW: &[&str] = &[
    "%",
    "%2",
    "%2B",
    "%2b",
    "%20",
    "%25",
    "%G1",
    "%+1",
    "%-1",
    "%C3",
    "%A9",
    "%C3%A9",
    "%FF",
    "%F0%9F%98%80",
    "%ED%A0%80",
    "%00",
    "%7F",
    "+",
    "*",
    "%2A",
    "/",
    "a",
    "é",
    "😀",
    " ",
];

/// Truncates to at most S3's 1,024 bytes, at a character boundary; never empty.
fn s3_sized(chars: Vec<char>) -> String {
    let mut key = String::new();
    for c in chars {
        if key.len() + c.len_utf8() > S3_MAX_KEY_BYTES {
            break;
        }
        key.push(c);
    }
    if key.is_empty() { "k".into() } else { key }
}

/// Arbitrary Unicode keys of 1 to 1,024 bytes, short ones as often as long ones.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 1..16),
        prop::collection::vec(any::<char>(), 1..=S3_MAX_KEY_BYTES),
    ]
    .prop_map(s3_sized)
}

fn special_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(select(SPECIAL), 1..24),
        prop::collection::vec(select(SPECIAL), 1..600),
    ]
    .prop_map(|pieces| s3_sized(pieces.concat().chars().collect()))
}

/// Keys at S3's length limit made of characters that each encode to 3 to 12
/// path characters: the longest paths there can be.
fn longest_key() -> impl Strategy<Value = String> {
    let worst = select(&["\u{7f}", " ", "%", "\0", "é", "日", "😀", "~", "\u{10ffff}"][..]);
    prop::collection::vec(worst, S3_MAX_KEY_BYTES..=S3_MAX_KEY_BYTES)
        .prop_map(|pieces| s3_sized(pieces.concat().chars().collect()))
}

/// Keys holding at least one `*`, so wildcards are checked on every case.
fn star_key() -> impl Strategy<Value = String> {
    (special_key(), special_key(), 0usize..1024)
        .prop_map(|(before, after, at)| s3_sized(format!("{before}*{after}").chars().skip(at % 8).collect()))
}

fn raw_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(select(RAW), 0..40).prop_map(|pieces| pieces.concat()),
    ]
}

fn assert_path_rules(key: &str) -> Result<(), TestCaseError> {
    check_path(key, &InvalidationPath::for_key(key)).map_err(TestCaseError::fail)
}

proptest! {
    #[test]
    fn any_key_gives_a_path_cloudfront_accepts_and_decodes_back(key in any_key()) {
        assert_path_rules(&key)?;
    }

    #[test]
    fn special_characters_are_encoded_exactly_as_cloudfront_wants(key in special_key()) {
        assert_path_rules(&key)?;
    }

    #[test]
    fn the_longest_keys_fit_cloudfront_path_limit(key in longest_key()) {
        prop_assert!(key.len() > S3_MAX_KEY_BYTES - 4);
        assert_path_rules(&key)?;
    }

    #[test]
    fn a_star_gives_the_narrowest_wildcard_that_covers_the_key(key in star_key()) {
        prop_assume!(key.contains('*'));
        let path = InvalidationPath::for_key(&key);
        prop_assert!(path.is_wildcard());
        assert_path_rules(&key)?;
    }

    #[test]
    fn s3_form_encoding_decodes_back_to_the_key(key in prop_oneof![any_key(), special_key()]) {
        let raw = form_encode(&key);
        prop_assert_eq!(decode_key(&raw), Ok(key.clone()), "S3 sent {:?}", raw);
        // Lowercase hex, every byte escaped, and `*` left literal (as Java's
        // URLEncoder does) are form encodings of the same key too.
        let lower: String = key.bytes().map(|b| format!("%{b:02x}")).collect();
        prop_assert_eq!(decode_key(&lower), Ok(key.clone()), "S3 sent {:?}", lower);
        let star_literal = raw.replace("%2A", "*");
        prop_assert_eq!(decode_key(&star_literal), Ok(key.clone()), "S3 sent {:?}", star_literal);
    }

    #[test]
    fn decode_key_never_panics_and_errors_say_where(raw in raw_string()) {
        match decode_key(&raw) {
            Ok(key) => {
                prop_assert!(!key.is_empty());
                if !raw.contains(['%', '+']) {
                    prop_assert_eq!(&key, &raw);
                }
                prop_assert!(key.len() <= S3_MAX_KEY_BYTES);
                assert_path_rules(&key)?;
            }
            Err(KeyError::Empty) => prop_assert!(raw.is_empty()),
            Err(KeyError::BrokenEscape { at, .. }) => prop_assert_eq!(raw.as_bytes().get(at), Some(&b'%')),
            Err(KeyError::NotUtf8 { bytes }) => prop_assert!(raw.contains('%') && !bytes.is_empty()),
            Err(KeyError::TooLong { bytes }) => prop_assert!(bytes > S3_MAX_KEY_BYTES && bytes <= raw.len()),
        }
    }
}
