//! Which changed keys need an invalidation at all: INCLUDE / EXCLUDE glob
//! patterns, and content-hashed file names, which never need one because a
//! changed file gets a new name. Pure: no I/O.

use std::fmt;

/// A glob on a decoded S3 key: `*` matches within one path segment, `**`
/// across segments (`static/**`, `**/*.map`), `?` one character; anything
/// else matches itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
}

impl Glob {
    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("an empty pattern".into());
        }
        if pattern.contains("***") {
            return Err(format!("{pattern:?} has '***'; use '**' to cross directories"));
        }
        // A leading '/' would match nothing, silently.
        if let Some(key_pattern) = pattern.strip_prefix('/') {
            let fix = key_pattern.trim_start_matches('/');
            return Err(format!(
                "{pattern:?} starts with '/', but patterns match object keys, which never do: write {fix:?}"
            ));
        }
        Ok(Glob {
            pattern: pattern.to_owned(),
        })
    }

    pub fn matches(&self, key: &str) -> bool {
        let pattern: Vec<char> = self.pattern.chars().collect();
        let key: Vec<char> = key.chars().collect();
        glob_match(&pattern, &key)
    }
}

impl std::str::FromStr for Glob {
    type Err = String;

    fn from_str(pattern: &str) -> Result<Self, String> {
        Glob::parse(pattern)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// Backtracking glob match; patterns are short, so this is cheap.
fn glob_match(pattern: &[char], key: &[char]) -> bool {
    match pattern {
        [] => key.is_empty(),
        ['*', '*', '/', rest @ ..] => {
            // `**/` matches zero or more whole directories.
            glob_match(rest, key) || (0..key.len()).any(|i| key[i] == '/' && glob_match(rest, &key[i + 1..]))
        }
        ['*', '*', rest @ ..] => (0..=key.len()).any(|i| glob_match(rest, &key[i..])),
        ['*', rest @ ..] => (0..=key.len())
            .take_while(|&i| i == 0 || key[i - 1] != '/')
            .any(|i| glob_match(rest, &key[i..])),
        ['?', rest @ ..] => matches!(key, [c, ..] if *c != '/') && glob_match(rest, &key[1..]),
        [p, rest @ ..] => matches!(key, [c, ..] if c == p) && glob_match(rest, &key[1..]),
    }
}

/// Why a key is left out, or `None` when it needs invalidating.
pub fn skip_reason(key: &str, include: &[Glob], exclude: &[Glob], skip_hashed: bool) -> Option<String> {
    if !include.is_empty() && !include.iter().any(|g| g.matches(key)) {
        let patterns: Vec<String> = include.iter().map(ToString::to_string).collect();
        return Some(format!("matches no INCLUDE pattern ({})", patterns.join(", ")));
    }
    if let Some(glob) = exclude.iter().find(|g| g.matches(key)) {
        return Some(format!("matches EXCLUDE pattern {glob}"));
    }
    if skip_hashed && let Some(hash) = content_hash(key) {
        return Some(format!(
            "content-hashed name (hash {hash}): a changed file gets a new name, so nothing cached goes stale"
        ));
    }
    None
}

/// The content hash in a key's file name, if it has one in a shape that a
/// build tool people deploy with makes by default. Only such shapes count:
/// a plain name taken for a hashed one is never invalidated and stays stale,
/// while a hashed name taken for a plain one costs one path. The research,
/// with each tool's source and a corpus of 1,920 real plain names and 594
/// names the tools made, is in `tools/corpus/SHAPES.md`; `tests/filter_corpus.rs`
/// holds the rule to it.
///
/// | shape | tools (defaults) |
/// | --- | --- |
/// | `name.<12 hex>.ext`, at least one letter | Django `ManifestStaticFilesStorage` (md5, 12) |
/// | `name.<8/16/20/32/64 hex>.ext`, a letter and a digit | webpack `[contenthash]` (20; 16 with xxhash64), Create React App and Vue CLI (8), Angular's webpack builder (16), Parcel 2 (8), Hugo `fingerprint` (64) |
/// | `<16/20/64 hex>.ext`, the whole name | webpack asset modules `[hash][ext]`, Next.js CSS |
/// | `name-<64 hex>.ext` | Rails Sprockets 3 and 4 (sha256) |
/// | `name-<8/16/20 hex>.js` (code and fonts only) | Next.js with webpack (16), Gatsby (20), Propshaft and Vite 4 / Rollup 3 (8) |
/// | `name-<8 base64url>.js` (code and fonts only) | Vite 5 to 8, Rollup 4, Rolldown |
/// | `name-<8 base32>.js` (code and fonts only) | esbuild, Angular's application builder |
/// | `<13 base38>.js` under `_next/static/` | Next.js with Turbopack |
///
/// Hex is lowercase. The shapes a word, a size or a code can take are not
/// hashes: an all-decimal token (`orders.202611251230.csv`), an image size
/// (`photo-1024x683.jpg`), a code of letters then digits
/// (`sku-AB123456.html`), a tail of at most three runs of letters or digits
/// (`setup-Win10Pro.js`). Base64url and base32 tails need upper case, lower
/// case (base64url) and a digit, and count only on code and font files:
/// images and pages are what users name with IDs and overwrite in place.
/// `staticfiles.json`, Django's manifest, is never skipped.
pub fn content_hash(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next().unwrap_or(key);
    if name == "staticfiles.json" {
        return None;
    }
    let tokens: Vec<&str> = name.split('.').collect();
    let [first, middle @ .., extension] = tokens.as_slice() else {
        return None;
    };
    let build_output = BUILD_OUTPUT.contains(extension);
    if let Some(token) = middle.iter().find(|t| dotted_hash(t)) {
        return Some(token);
    }
    if [16, 20, 64].contains(&first.len()) && is_hex(first, true) {
        return Some(first);
    }
    if let Some((_, tail)) = first.rsplit_once('-') {
        let lengths: &[usize] = if build_output { &[8, 16, 20, 64] } else { &[64] };
        if lengths.contains(&tail.len()) && is_hex(tail, true) {
            return Some(tail);
        }
    }
    // The base64url tail may hold '-' and '_' itself: take the last 8.
    let split = first
        .len()
        .checked_sub(9)
        .filter(|&at| first.is_char_boundary(at + 1));
    if let Some(at) = split.filter(|&at| build_output && at > 0 && first.as_bytes()[at] == b'-') {
        let tail = &first[at + 1..];
        if (is_base64url(tail) || is_base32(tail)) && !readable(tail) {
            return Some(tail);
        }
    }
    if is_next_static(key) {
        let stem = first.strip_prefix("turbopack-").unwrap_or(first);
        return [stem].iter().chain(middle).find(|t| is_base38(t)).copied();
    }
    None
}

/// Extensions of what bundlers emit as code and fonts.
const BUILD_OUTPUT: [&str; 11] = [
    "js", "mjs", "cjs", "css", "map", "wasm", "woff", "woff2", "ttf", "otf", "eot",
];

/// A `.`-delimited hex hash: Django's 12 digits (with a letter, so not a
/// timestamp), or 8, 16, 20, 32 or 64 with a letter and a digit.
fn dotted_hash(token: &str) -> bool {
    match token.len() {
        12 => is_hex(token, false),
        8 | 16 | 20 | 32 | 64 => is_hex(token, true),
        _ => false,
    }
}

/// Lowercase hex with at least one letter (and one digit, when asked).
fn is_hex(token: &str, with_digit: bool) -> bool {
    token
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && token.bytes().any(|b| b.is_ascii_alphabetic())
        && (!with_digit || token.bytes().any(|b| b.is_ascii_digit()))
}

/// Rollup 4's url-safe base64 hash: 8 of `A-Z a-z 0-9 _ -`, with upper
/// case, lower case and a digit.
fn is_base64url(token: &str) -> bool {
    let b = token.as_bytes();
    b.len() == 8
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(u8::is_ascii_digit)
}

/// esbuild's base32 hash: 8 of `A-Z 2-7`, with a letter and a digit.
fn is_base32(token: &str) -> bool {
    let b = token.as_bytes();
    b.len() == 8
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(c))
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_digit)
}

/// Turbopack's base38 hash: 13 of `0-9 a-z _ -`, with a letter and a digit.
fn is_base38(token: &str) -> bool {
    let b = token.as_bytes();
    b.len() == 13
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(u8::is_ascii_digit)
}

/// True for a tail a person could have written: at most three runs of a
/// word (`Win`, `pro`), capitals (`ABCD`), digits or a separator, as in
/// `Win10Pro`, `iPhone12`, `AB123456`. A random 8-character hash has more.
fn readable(tail: &str) -> bool {
    let mut runs = 0;
    let mut previous: Option<u8> = None;
    for c in tail.bytes() {
        let continues = match previous {
            None => false,
            Some(p) if p.is_ascii_digit() => c.is_ascii_digit(),
            Some(p) if p.is_ascii_lowercase() => c.is_ascii_lowercase(),
            // A capital goes on into lower case (`Win`) or capitals (`ABCD`).
            Some(p) if p.is_ascii_uppercase() => c.is_ascii_alphabetic(),
            Some(_) => false,
        };
        if !continues {
            runs += 1;
        }
        previous = Some(c);
    }
    runs <= 3
}

/// Next.js serves `_next/static/` with `Cache-Control: immutable`: every
/// name there is new per build.
fn is_next_static(key: &str) -> bool {
    key.starts_with("_next/static/") || key.contains("/_next/static/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Glob {
        Glob::parse(p).unwrap()
    }

    #[test]
    fn globs() {
        let cases = [
            ("static/**", "static/css/app.css", true),
            ("static/**", "static/app.css", true),
            ("static/**", "media/static/app.css", false),
            ("**/*.map", "app.js.map", true),
            ("**/*.map", "static/js/app.js.map", true),
            ("**/*.map", "static/js/app.js", false),
            ("*.html", "index.html", true),
            ("*.html", "docs/index.html", false),
            ("docs/*/index.html", "docs/v1/index.html", true),
            ("docs/*/index.html", "docs/v1/beta/index.html", false),
            ("docs/**/index.html", "docs/v1/beta/index.html", true),
            ("docs/**/index.html", "docs/index.html", true),
            ("img/?.png", "img/a.png", true),
            ("img/?.png", "img/ab.png", false),
            ("img/?.png", "img//.png", false),
            ("exact/key.txt", "exact/key.txt", true),
            ("exact/key.txt", "exact/key.txt2", false),
            ("caf\u{e9}/*", "caf\u{e9}/menu.pdf", true),
        ];
        for (pattern, key, want) in cases {
            assert_eq!(glob(pattern).matches(key), want, "{pattern} on {key}");
        }
        assert!(Glob::parse("").is_err());
        assert!(Glob::parse("a/***/b").is_err());
    }

    #[test]
    fn include_and_exclude_give_their_reason() {
        let include = [glob("static/**")];
        let exclude = [glob("**/*.map")];
        assert_eq!(skip_reason("static/app.js", &include, &exclude, false), None);
        assert_eq!(
            skip_reason("static/app.js.map", &include, &exclude, false).unwrap(),
            "matches EXCLUDE pattern **/*.map"
        );
        assert_eq!(
            skip_reason("media/x.png", &include, &exclude, false).unwrap(),
            "matches no INCLUDE pattern (static/**)"
        );
        assert!(
            skip_reason("static/app.3f2a9c1b.js", &include, &exclude, true)
                .unwrap()
                .contains("3f2a9c1b")
        );
        assert_eq!(
            skip_reason("static/app.3f2a9c1b.js", &include, &exclude, false),
            None
        );
    }

    #[test]
    fn hashed_names_are_recognised() {
        let hashed = [
            ("static/admin/css/base.5af66c1b1797.css", "5af66c1b1797"),
            ("static/admin/js/core.0123456789ab.js", "0123456789ab"),
            ("static/img/logo.123456789abc.svg", "123456789abc"),
            ("static/js/jquery.min.0a1b2c3d4e5f.js", "0a1b2c3d4e5f"),
            ("static/css/bootstrap.min.css.cafbda9c0e9e.map", "cafbda9c0e9e"),
            ("x.00000000000a.png", "00000000000a"),
            ("assets/app.3f2a9c1b.js", "3f2a9c1b"),
            ("assets/app.3f2a9c1b.js.map", "3f2a9c1b"),
            ("fonts/inter.a1b2c3d4.woff2", "a1b2c3d4"),
            ("dist/main.9f86d081884c7d65.bundle.js", "9f86d081884c7d65"),
            ("dist/runtime.e3b0c44298fc1c149afb.js", "e3b0c44298fc1c149afb"),
            ("dist/217.70029347233e63b43206.js", "70029347233e63b43206"),
            ("dist/059995f5d62565bd0419.woff2", "059995f5d62565bd0419"),
            ("_next/static/css/3d3fa21fc8eec13f.css", "3d3fa21fc8eec13f"),
            ("_next/static/chunks/main-7a8d9f0e1c2b3a4d.js", "7a8d9f0e1c2b3a4d"),
            ("_next/static/chunks/0cz1d0mv5g_q7.js", "0cz1d0mv5g_q7"),
            ("_next/static/chunks/turbopack-2u1d16houkiyo.js", "2u1d16houkiyo"),
            ("assets/index-BjgYtC5x.js", "BjgYtC5x"),
            ("assets/index-BjgYtC5x.css", "BjgYtC5x"),
            ("assets/page12-C9ZrNSo-.js", "C9ZrNSo-"),
            ("assets/polyfills-legacy-Cj5_x9Qd.js", "Cj5_x9Qd"),
            ("assets/vendor-a1b2c3d4e5f60718.js", "a1b2c3d4e5f60718"),
            ("dist/chunk-vendors.4b2c1a9e.js", "4b2c1a9e"),
            ("browser/main-A2B3CD4E.js", "A2B3CD4E"),
            ("css/site.min.5d41402abc4b.css", "5d41402abc4b"),
            (
                "assets/application-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.png",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            ),
            ("assets/application-e0ca5a2f.digested.js", "e0ca5a2f"),
            ("static/admin/img/icon-yes.d2f9f035226a.svg", "d2f9f035226a"),
        ];
        for (key, hash) in hashed {
            assert_eq!(content_hash(key), Some(hash), "{key}");
        }
    }

    #[test]
    fn plain_names_are_never_taken_for_hashed_ones() {
        let plain = [
            // Reported skipped by the rule this one replaced.
            "og-image-1200x630.png",
            "photo-1024x683.jpg",
            "hero-1920x1080.jpg",
            "products/sku-AB123456.html",
            "show-episode42.mp3",
            "post-part2of3.html",
            "lato-v24-latin-700italic.woff2",
            "orders.202611251230.csv",
            "settings.staging2.json",
            // And names a looser rule would take.
            "staticfiles.json",
            "static/staticfiles.json",
            "static/admin/css/base.css",
            "index.html",
            "js/jquery-3.7.1.min.js",
            "fonts/Roboto-Regular.ttf",
            "fonts/OpenSans-SemiBold.ttf",
            "reports/report-20261125.pdf",
            "photos/photo-00123456.jpg",
            "img/deadbeef.png",
            "img/icon-abcdefgh.svg",
            "css/font-awesome-4.0.3.css",
            "media/IMG_20261125_1234.jpg",
            "products/sku-AB234567.jpg",
            "products/sku-X7B2K9Q4.jpg",
            "users/avatar-Xy7Ab3Kq.jpg",
            "users/avatar-0123456789abcdef0123456789abcdef.jpg",
            "users/0123456789abcdef0123456789abcdef.jpg",
            "js/setup-Win10Pro.js",
            "js/case-iPhone12.js",
            "js/main-ABCD2345.js",
            "leaflet/CRS.EPSG3857.js",
            "webfonts/fa-v4compatibility.woff2",
            "chunks/0cz1d0mv5g_q7.js",
            "css/a.b.c.css",
            "README",
            "img/logo",
        ];
        for key in plain {
            assert_eq!(content_hash(key), None, "{key}");
        }
    }
}
