//! The function's settings, read from the environment once at cold start and
//! validated there, so a bad value stops the function at init with a message
//! naming the variable instead of failing every invocation later.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem} (received {received:?})")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
    pub received: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>, received: &str) -> Self {
        ConfigError {
            variable,
            problem: problem.into(),
            received: received.to_owned(),
        }
    }
}

/// A CloudFront distribution ID such as `E2QWRUHAPOMQZL`: uppercase letters and
/// digits only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DistributionId(String);

impl DistributionId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok =
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(DistributionId(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a CloudFront distribution ID (uppercase letters and digits, like E2QWRUHAPOMQZL)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DistributionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The distribution's origin path (`/static`), held as the key prefix it
/// stands for (`static/`): CloudFront prepends it to the viewer's path when it
/// asks S3, so a key under it is served at the path without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPath {
    key_prefix: String,
}

impl OriginPath {
    /// Accepts `/static`, `/static/` or `/a/b`; an empty value or `/` means none.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        let trimmed = s.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(None);
        }
        let Some(inner) = trimmed.strip_prefix('/') else {
            return Err("an origin path starts with '/', like /static".into());
        };
        if inner.contains('*') || inner.split('/').any(str::is_empty) {
            return Err("an origin path is /segment[/segment...] with no '*' or empty segment".into());
        }
        Ok(Some(OriginPath {
            key_prefix: format!("{inner}/"),
        }))
    }

    /// The part of `key` that the distribution serves, or `None` when the key
    /// lies outside the origin path.
    pub fn strip<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.key_prefix)
    }
}

impl fmt::Display for OriginPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.key_prefix.trim_end_matches('/'))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub distributions: Vec<DistributionId>,
    pub origin_path: Option<OriginPath>,
    pub dry_run: bool,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a table in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        const IDS: &str = "DISTRIBUTION_IDS";
        let raw_ids = lookup(IDS).unwrap_or_default();
        let mut distributions = Vec::new();
        for part in raw_ids.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let id = DistributionId::parse(part).map_err(|e| ConfigError::new(IDS, e, &raw_ids))?;
            if !distributions.contains(&id) {
                distributions.push(id);
            }
        }
        if distributions.is_empty() {
            return Err(ConfigError::new(
                IDS,
                "required: one or more CloudFront distribution IDs, comma-separated",
                &raw_ids,
            ));
        }

        const ORIGIN: &str = "ORIGIN_PATH";
        let raw_origin = lookup(ORIGIN).unwrap_or_default();
        let origin_path =
            OriginPath::parse(raw_origin.trim()).map_err(|e| ConfigError::new(ORIGIN, e, &raw_origin))?;

        const DRY: &str = "DRY_RUN";
        let raw_dry = lookup(DRY).unwrap_or_default();
        let dry_run = match raw_dry.trim().to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" => false,
            "true" | "1" | "yes" => true,
            _ => return Err(ConfigError::new(DRY, "expected true or false", &raw_dry)),
        };

        Ok(Config {
            distributions,
            origin_path,
            dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn reads_ids_origin_and_dry_run() {
        let c = config(&[
            ("DISTRIBUTION_IDS", " E1ABC , E2DEF,E1ABC "),
            ("ORIGIN_PATH", "/static/"),
            ("DRY_RUN", "TRUE"),
        ])
        .unwrap();
        let ids: Vec<_> = c.distributions.iter().map(DistributionId::as_str).collect();
        assert_eq!(ids, ["E1ABC", "E2DEF"]);
        assert_eq!(c.origin_path.as_ref().unwrap().to_string(), "/static");
        assert!(c.dry_run);
    }

    #[test]
    fn defaults() {
        let c = config(&[("DISTRIBUTION_IDS", "E1ABC")]).unwrap();
        assert_eq!(c.origin_path, None);
        assert!(!c.dry_run);
        let c = config(&[("DISTRIBUTION_IDS", "E1ABC"), ("ORIGIN_PATH", "/")]).unwrap();
        assert_eq!(c.origin_path, None);
    }

    #[test]
    fn bad_values_name_the_variable_and_what_was_received() {
        let e = config(&[]).unwrap_err();
        assert_eq!(e.variable, "DISTRIBUTION_IDS");
        assert!(e.to_string().contains("required"), "{e}");

        let e = config(&[("DISTRIBUTION_IDS", "E1ABC,arn:aws:cloudfront::1:distribution/E2")]).unwrap_err();
        assert_eq!(e.variable, "DISTRIBUTION_IDS");
        assert!(
            e.to_string()
                .contains("\"arn:aws:cloudfront::1:distribution/E2\" is not"),
            "{e}"
        );

        for bad in ["static", "/a//b", "/a/*"] {
            let e = config(&[("DISTRIBUTION_IDS", "E1"), ("ORIGIN_PATH", bad)]).unwrap_err();
            assert_eq!(e.variable, "ORIGIN_PATH", "{bad}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }

        let e = config(&[("DISTRIBUTION_IDS", "E1"), ("DRY_RUN", "maybe")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "DRY_RUN: expected true or false (received \"maybe\")"
        );
    }

    #[test]
    fn origin_path_strips_only_whole_segments() {
        let o = OriginPath::parse("/static").unwrap().unwrap();
        assert_eq!(o.strip("static/css/app.css"), Some("css/app.css"));
        assert_eq!(o.strip("staticfiles/x.css"), None);
        assert_eq!(o.strip("static"), None);
        assert_eq!(o.strip("other/static/x"), None);
    }
}
