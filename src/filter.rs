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

/// The content hash in a key's file name, if it has one: Django's
/// `ManifestStaticFilesStorage` (`base.5af66c1b1797.css`, 12 hex digits) or a
/// bundler's `name.[hash].ext` / `name-[hash].ext` (8 or more letters, digits
/// or `_`, with at least one letter and one digit: `app.3f2a9c1b.js`,
/// `index-BjgYtC5x.js`). Dates, versions and words are not hashes
/// (`report-20261125.pdf`, `jquery-3.7.1.min.js`, `Roboto-Regular.ttf`), and
/// `staticfiles.json`, Django's manifest, is never skipped.
pub fn content_hash(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next().unwrap_or(key);
    if name == "staticfiles.json" {
        return None;
    }
    let tokens: Vec<&str> = name.split('.').collect();
    if tokens.len() < 2 {
        return None;
    }
    // Every token but the final extension: a middle token is `.hash.`, and
    // the part after a token's last '-' is `-hash.`.
    let before_extension = &tokens[..tokens.len() - 1];
    before_extension.iter().enumerate().find_map(|(i, token)| {
        let dashed = token
            .rsplit_once('-')
            .map(|(_, tail)| tail)
            .filter(|t| is_hash(t));
        let dotted = Some(*token).filter(|t| i > 0 && (is_hash(t) || is_django_hash(t)));
        dotted.or(dashed)
    })
}

fn is_hash(token: &str) -> bool {
    token.len() >= 8
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && token.bytes().any(|b| b.is_ascii_digit())
        && token.bytes().any(|b| b.is_ascii_alphabetic())
}

fn is_django_hash(token: &str) -> bool {
    token.len() == 12
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
            ("static/img/logo.123456789012.svg", "123456789012"),
            ("static/js/jquery.min.0a1b2c3d4e5f.js", "0a1b2c3d4e5f"),
            ("assets/app.3f2a9c1b.js", "3f2a9c1b"),
            ("assets/app.3f2a9c1b.js.map", "3f2a9c1b"),
            ("assets/index-BjgYtC5x.js", "BjgYtC5x"),
            ("assets/index-BjgYtC5x.css", "BjgYtC5x"),
            ("assets/vendor-a1b2c3d4e5f60718.js", "a1b2c3d4e5f60718"),
            ("dist/main.9f86d081884c7d65.bundle.js", "9f86d081884c7d65"),
            ("dist/runtime.e3b0c44298fc1c149afb.js", "e3b0c44298fc1c149afb"),
            ("dist/chunk-vendors.4b2c1a9e.js", "4b2c1a9e"),
            ("_next/static/chunks/main-7a8d9f0e1c2b3a4d.js", "7a8d9f0e1c2b3a4d"),
            ("fonts/inter.a1b2c3d4.woff2", "a1b2c3d4"),
            ("img/hero-2b9f3c7A.webp", "2b9f3c7A"),
            ("css/site.min.5d41402abc4b.css", "5d41402abc4b"),
            ("a/b/c/d/e.0f0f0f0f0f0f.txt", "0f0f0f0f0f0f"),
            ("x.00000000000a.png", "00000000000a"),
            ("build/app_3.12345abc.js", "12345abc"),
            ("static/admin/img/icon-yes.d2f9f035226a.svg", "d2f9f035226a"),
            ("assets/polyfills-legacy-Cj5_x9Qd.js", "Cj5_x9Qd"),
        ];
        for (key, hash) in hashed {
            assert_eq!(content_hash(key), Some(hash), "{key}");
        }
        let plain = [
            "staticfiles.json",
            "static/staticfiles.json",
            "static/admin/css/base.css",
            "index.html",
            "assets/vendor.min.js",
            "js/jquery-3.7.1.min.js",
            "fonts/Roboto-Regular.ttf",
            "reports/report-20261125.pdf",
            "photos/photo-00123456.jpg",
            "docs/getting-started.html",
            "css/font-awesome-4.0.3.css",
            "img/logo",
            "img/deadbeef.png",
            "blog/2026/11/launch.html",
            "downloads/app-v2.1.0.dmg",
            "media/IMG_20261125_1234.jpg",
            "data/items.json",
            "img/icon-abcdefgh.svg",
            "README",
            "robots.txt",
            "css/a.b.c.css",
        ];
        for key in plain {
            assert_eq!(content_hash(key), None, "{key}");
        }
    }
}
