//! The command line: which stack, from when, for how long. Pure: the words
//! in, the settings out, or one line saying what is wrong.

use std::time::Duration;

/// What `cloudfront-invalidator-wait` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub stack: String,
    /// Changes S3 reported before this (ms since the Unix epoch) are not
    /// waited for; `None`: an hour before the start.
    pub since_ms: Option<i64>,
    pub timeout: Duration,
    /// How long after the start an empty change queue is believed (see
    /// `fresh`); `None`: the wiring's default.
    pub settle: Option<Duration>,
    /// How often to look, and to print a progress line.
    pub every: Duration,
}

pub const USAGE: &str = "usage: cloudfront-invalidator-wait --stack NAME [--since TIME] [--timeout 15m] \
[--settle DURATION] [--every 10s]
  Exits 0 once every change S3 reported to the stack up to now is invalidated and CloudFront
  says Completed; 1 when a change reached the dead-letter queue or at the timeout; 2 when it
  cannot tell (no such stack, no access).
  TIME: RFC 3339 (2026-12-01T10:00:00Z), or a DURATION before now (30m).
  DURATION: a number with s, m or h (90s, 15m, 1h).
  Credentials and region as every AWS SDK reads them: AWS_PROFILE, SSO, environment, role.";

/// Reads `args` (without the program's name). `now_ms` turns `--since 30m`
/// into a time.
pub fn parse(args: &[String], now_ms: i64) -> Result<Args, String> {
    let mut stack = None;
    let mut since_ms = None;
    let mut timeout = Duration::from_secs(15 * 60);
    let mut settle = None;
    let mut every = Duration::from_secs(10);
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (word.as_str(), None),
        };
        if matches!(flag, "-h" | "--help") {
            return Err(USAGE.to_owned());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| words.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag {
            "--stack" => stack = Some(value()?),
            "--since" => since_ms = Some(time(&value()?, now_ms)?),
            "--timeout" => timeout = duration(flag, &value()?)?,
            "--settle" => settle = Some(duration(flag, &value()?)?),
            "--every" => every = duration(flag, &value()?)?,
            _ => return Err(format!("unknown argument {word:?}\n{USAGE}")),
        }
    }
    let stack = stack
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("--stack is required\n{USAGE}"))?;
    if every.is_zero() {
        return Err("--every must be more than 0 s".into());
    }
    Ok(Args {
        stack,
        since_ms,
        timeout,
        settle,
        every,
    })
}

/// `90s`, `15m`, `1h`, `1.5s`; a bare number is seconds.
pub fn duration(flag: &str, text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let seconds = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    number
        .parse::<f64>()
        .ok()
        .map(|n| n * seconds)
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag} {text:?}: expected a duration such as 90s, 15m or 1h"))
}

/// A duration as it was probably written: `15m`, `1h`, `90s`, `0.5s`.
pub fn span(d: Duration) -> String {
    let seconds = d.as_secs();
    match (seconds, d.subsec_millis()) {
        (s, 0) if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        (s, 0) if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        (s, 0) => format!("{s}s"),
        _ => format!("{}s", d.as_secs_f64()),
    }
}

/// An RFC 3339 time, or a duration before `now_ms`.
fn time(text: &str, now_ms: i64) -> Result<i64, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.timestamp_millis());
    }
    duration("--since", text)
        .map(|ago| now_ms - ago.as_millis() as i64)
        .map_err(|_| {
            format!(
                "--since {text:?}: expected a time such as 2026-12-01T10:00:00Z, or a duration before \
                 now such as 30m"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_stack_alone_takes_the_defaults() {
        let args = parse(&words("--stack site"), 0).unwrap();
        assert_eq!(
            args,
            Args {
                stack: "site".into(),
                since_ms: None,
                timeout: Duration::from_secs(900),
                settle: None,
                every: Duration::from_secs(10),
            }
        );
    }

    #[test]
    fn times_and_durations_in_either_spelling() {
        let now = 1_800_000_000_000;
        let args = parse(
            &words("--stack=site --since 2026-12-01T10:00:00Z --timeout 1h --settle=90s --every 0.5s"),
            now,
        )
        .unwrap();
        assert_eq!(args.since_ms, Some(1_796_119_200_000));
        assert_eq!(args.timeout, Duration::from_secs(3600));
        assert_eq!(args.settle, Some(Duration::from_secs(90)));
        assert_eq!(args.every, Duration::from_millis(500));
        let ago = parse(&words("--stack site --since 30m"), now).unwrap();
        assert_eq!(ago.since_ms, Some(now - 1_800_000));
    }

    #[test]
    fn durations_are_said_as_written() {
        for text in ["15m", "1h", "90s", "0.5s", "2s"] {
            assert_eq!(span(duration("--timeout", text).unwrap()), text);
        }
    }

    #[test]
    fn mistakes_say_what_was_expected() {
        assert!(parse(&[], 0).unwrap_err().starts_with("--stack is required"));
        assert!(
            parse(&words("--stack"), 0)
                .unwrap_err()
                .starts_with("--stack needs a value")
        );
        assert!(
            parse(&words("--stack s --timeout soon"), 0)
                .unwrap_err()
                .contains("expected a duration such as 90s")
        );
        assert!(
            parse(&words("--stack s --since yesterday"), 0)
                .unwrap_err()
                .contains("expected a time such as")
        );
        assert!(
            parse(&words("--stack s --wait"), 0)
                .unwrap_err()
                .starts_with("unknown argument \"--wait\"")
        );
        assert!(parse(&words("--stack s --every 0s"), 0).is_err());
        assert!(parse(&words("--help"), 0).unwrap_err().starts_with("usage:"));
    }
}
