//! value: what does a YAML scalar mean, read as Go reads it?
//!
//! Tempo is written in Go, and its configuration values are read the Go way: durations as Go
//! duration strings ([`parse_go_duration`]), integers with YAML 1.1's underscores and
//! prefixes or as integral floats, booleans as YAML 1.1's `yes`/`no`/`on`/`off`, ports, listen
//! addresses, log levels, and `${VAR}` references in the text ([`expand_env`]).
//!
//! Each reader (`de_*`, for serde's `deserialize_with`) checks a scalar while serde visits
//! it, so that an error carries the key's path and the position of the value in the file.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};
use tempo_core::FsyncPolicy;

/// A Go duration string that does not parse: `invalid duration "5x": unknown unit "x"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {value:?}: {reason}")]
pub(crate) struct DurationError {
    /// The text given.
    value: String,
    /// What is wrong with it.
    reason: String,
}

/// A key that is present enables its section, even with no value (`grpc:`).
pub(super) fn de_present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(
        Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
    ))
}

/// A YAML scalar of any type.
pub(super) enum Scalar {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Scalar::Null => Unexpected::Unit,
            Scalar::Bool(v) => Unexpected::Bool(*v),
            Scalar::Unsigned(v) => Unexpected::Unsigned(*v),
            Scalar::Signed(v) => Unexpected::Signed(*v),
            Scalar::Float(v) => Unexpected::Float(*v),
            Scalar::Str(s) => Unexpected::Str(s),
        }
    }
}

/// Why a scalar was refused.
pub(super) enum Reject {
    /// Right type, wrong value.
    Value(Scalar),
    /// Wrong type.
    Type(Scalar),
    /// A message of our own.
    Custom(String),
}

/// Reads one scalar and converts it with `convert`; `Ok(None)` is an empty value.
struct ScalarVisitor<T> {
    expecting: &'static str,
    convert: fn(Scalar) -> Result<Option<T>, Reject>,
}

impl<T> ScalarVisitor<T> {
    fn finish<E: de::Error>(&self, value: Scalar) -> Result<Option<T>, E> {
        (self.convert)(value).map_err(|reject| match reject {
            Reject::Value(v) => E::invalid_value(v.unexpected(), &self.expecting),
            Reject::Type(v) => E::invalid_type(v.unexpected(), &self.expecting),
            Reject::Custom(message) => E::custom(message),
        })
    }
}

impl<'de, T> Visitor<'de> for ScalarVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        self.finish(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        self.finish(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<T>, E> {
        self.finish(Scalar::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        self.finish(Scalar::Unsigned(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        self.finish(Scalar::Signed(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<T>, E> {
        self.finish(Scalar::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        self.finish(Scalar::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Option<T>, E> {
        self.finish(Scalar::Str(v))
    }
}

pub(super) fn read_scalar<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    expecting: &'static str,
    convert: fn(Scalar) -> Result<Option<T>, Reject>,
) -> Result<Option<T>, D::Error> {
    deserializer.deserialize_any(ScalarVisitor { expecting, convert })
}

const EXPECT_UINT: &str = "a non-negative integer (underscores allowed, as in 1_000_000)";

fn uint_value(value: Scalar) -> Result<Option<u64>, Reject> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Unsigned(v) => Ok(Some(v)),
        Scalar::Signed(v) => u64::try_from(v).map(Some).map_err(|_| Reject::Value(value)),
        // Go's YAML parser stores an integral float (1.073741824e+09) in an integer field.
        // In range and integral, so the conversion is exact.
        Scalar::Float(v) if v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 => {
            Ok(Some(v as u64))
        }
        Scalar::Float(_) => Err(Reject::Value(value)),
        Scalar::Bool(_) => Err(Reject::Type(value)),
        Scalar::Str(ref s) => match parse_yaml11_uint(s) {
            Some(v) => Ok(Some(v)),
            None => Err(Reject::Value(value)),
        },
    }
}

pub(super) fn de_opt_u64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    read_scalar(deserializer, EXPECT_UINT, uint_value)
}

const EXPECT_CONN_LIMIT: &str =
    "a number of connections (0 or less: a share of the open-files limit)";

/// dskit's connection limits are signed: zero or less means no explicit limit.
fn conn_limit_value(value: Scalar) -> Result<Option<usize>, Reject> {
    let limit = match value {
        Scalar::Signed(v) if v <= 0 => return Ok(Some(0)),
        Scalar::Str(ref s) if s.trim().starts_with('-') => {
            match parse_yaml11_uint(&s.trim()[1..]) {
                Some(_) => return Ok(Some(0)),
                None => return Err(Reject::Value(value)),
            }
        }
        other => match uint_value(other)? {
            None => return Ok(None),
            Some(v) => v,
        },
    };
    usize::try_from(limit)
        .map(Some)
        .map_err(|_| Reject::Value(Scalar::Unsigned(limit)))
}

pub(super) fn de_conn_limit<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    read_scalar(deserializer, EXPECT_CONN_LIMIT, conn_limit_value)
}

/// YAML 1.1 integers that YAML 1.2 reads as strings: digits with underscores, optionally with
/// a `0x`, `0o` or `0b` prefix.
fn parse_yaml11_uint(text: &str) -> Option<u64> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    let (digits, radix) = if let Some(rest) = text.strip_prefix("0x") {
        (rest, 16)
    } else if let Some(rest) = text.strip_prefix("0o") {
        (rest, 8)
    } else if let Some(rest) = text.strip_prefix("0b") {
        (rest, 2)
    } else {
        (text, 10)
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || digits.starts_with('+') {
        return None;
    }
    u64::from_str_radix(&digits, radix).ok()
}

const EXPECT_BOOL: &str = "a boolean (true or false)";

fn bool_value(value: Scalar) -> Result<Option<bool>, Reject> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Bool(v) => Ok(Some(v)),
        // YAML 1.1 booleans, which Go's YAML parser accepts.
        Scalar::Str(ref s) => match s.as_str() {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
                Ok(Some(true))
            }
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
            | "FALSE" => Ok(Some(false)),
            _ => Err(Reject::Value(value)),
        },
        Scalar::Unsigned(_) | Scalar::Signed(_) | Scalar::Float(_) => Err(Reject::Type(value)),
    }
}

pub(super) fn de_opt_bool<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    read_scalar(deserializer, EXPECT_BOOL, bool_value)
}

pub(super) fn de_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(de_opt_bool(deserializer)?.unwrap_or(false))
}

const EXPECT_PORT: &str = "a port number from 0 to 65535";

fn port_value(value: Scalar) -> Result<Option<u16>, Reject> {
    let number = match value {
        Scalar::Null => return Ok(None),
        Scalar::Unsigned(v) => v,
        Scalar::Str(ref s) => match parse_yaml11_uint(s) {
            Some(v) => v,
            None => return Err(Reject::Value(value)),
        },
        Scalar::Signed(_) => return Err(Reject::Value(value)),
        Scalar::Float(_) | Scalar::Bool(_) => return Err(Reject::Type(value)),
    };
    u16::try_from(number)
        .map(Some)
        .map_err(|_| Reject::Value(Scalar::Unsigned(number)))
}

pub(super) fn de_port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u16>, D::Error> {
    read_scalar(deserializer, EXPECT_PORT, port_value)
}

const EXPECT_STRING: &str = "a string";

/// Any scalar as text, as Go's YAML parser reads a number into a string field.
pub(super) fn string_value(value: Scalar) -> Result<Option<String>, Reject> {
    Ok(match value {
        Scalar::Null => None,
        Scalar::Str(s) => Some(s),
        Scalar::Bool(v) => Some(v.to_string()),
        Scalar::Unsigned(v) => Some(v.to_string()),
        Scalar::Signed(v) => Some(v.to_string()),
        Scalar::Float(v) => Some(v.to_string()),
    })
}

pub(super) fn de_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(read_scalar(deserializer, EXPECT_STRING, string_value)?.unwrap_or_default())
}

const EXPECT_ENDPOINT: &str = "a listen address as host:port, such as 0.0.0.0:4317";

/// A listen address; an empty host (`:4317`) becomes `0.0.0.0`, as Go listens on every
/// interface then; an empty value means the default.
fn endpoint_value(value: Scalar) -> Result<Option<String>, Reject> {
    let Some(text) = string_value(value)? else {
        return Ok(None);
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let Some((host, port)) = trimmed.rsplit_once(':') else {
        return Err(Reject::Value(Scalar::Str(text)));
    };
    let bracketed = host.starts_with('[') && host.ends_with(']');
    // An IPv6 address needs brackets: `[::]:4317`.
    if port.parse::<u16>().is_err() || (host.contains(':') && !bracketed) {
        return Err(Reject::Value(Scalar::Str(text)));
    }
    if host.is_empty() {
        return Ok(Some(format!("0.0.0.0:{port}")));
    }
    Ok(Some(trimmed.to_owned()))
}

pub(super) fn de_endpoint<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    read_scalar(deserializer, EXPECT_ENDPOINT, endpoint_value)
}

const EXPECT_LOG_LEVEL: &str = "one of debug, info, warn, error";

/// Tempo's levels; the value is kept in lower case.
fn log_level_value(value: Scalar) -> Result<Option<String>, Reject> {
    let Some(text) = string_value(value)? else {
        return Ok(None);
    };
    let level = text.to_ascii_lowercase();
    match level.as_str() {
        "debug" | "info" | "warn" | "error" => Ok(Some(level)),
        _ => Err(Reject::Value(Scalar::Str(text))),
    }
}

pub(super) fn de_log_level<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    read_scalar(deserializer, EXPECT_LOG_LEVEL, log_level_value)
}

const EXPECT_DURATION: &str = "a Go duration such as 5s, 1m30s or 336h";

fn duration_value(value: Scalar) -> Result<Option<Duration>, Reject> {
    let text = match value {
        Scalar::Null => return Ok(None),
        Scalar::Str(s) => s,
        // A bare number has no unit; `parse_go_duration` accepts only 0 and says so.
        Scalar::Unsigned(v) => v.to_string(),
        Scalar::Signed(v) => v.to_string(),
        Scalar::Float(v) => v.to_string(),
        Scalar::Bool(_) => return Err(Reject::Type(value)),
    };
    parse_go_duration(&text)
        .map(Some)
        .map_err(|e| Reject::Custom(e.to_string()))
}

pub(super) fn de_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    read_scalar(deserializer, EXPECT_DURATION, duration_value)
}

const EXPECT_FSYNC: &str = "always, never, or a Go duration such as 100ms";

fn fsync_value(value: Scalar) -> Result<Option<FsyncPolicy>, Reject> {
    if let Scalar::Str(s) = &value {
        match s.as_str() {
            "always" => return Ok(Some(FsyncPolicy::Always)),
            "never" => return Ok(Some(FsyncPolicy::Never)),
            _ => {}
        }
    }
    match duration_value(value) {
        Ok(interval) => Ok(interval.map(FsyncPolicy::Interval)),
        Err(Reject::Custom(message)) => Err(Reject::Custom(format!(
            "expected {EXPECT_FSYNC}, got {message}"
        ))),
        Err(other) => Err(other),
    }
}

pub(super) fn de_fsync<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<FsyncPolicy>, D::Error> {
    read_scalar(deserializer, EXPECT_FSYNC, fsync_value)
}

/// Parses a Go duration string, as Go's `time.ParseDuration` does: a sequence of decimal
/// numbers, each with an optional fraction and a unit (`ns`, `us` or `µs`, `ms`, `s`, `m`,
/// `h`), as `300ms`, `1.5h` or `2h45m`. `0` alone needs no unit.
///
/// Unlike Go, a negative duration is an error, since no setting can use one.
pub(crate) fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = |reason: &str| DurationError {
        value: text.to_owned(),
        reason: reason.to_owned(),
    };
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(fail("empty"));
    }
    let mut total: u128 = 0;
    let mut s = rest;
    while !s.is_empty() {
        // The integer part.
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = s.split_at(int_len);
        s = after;
        // The fraction.
        let mut frac_digits = "";
        if let Some(after_dot) = s.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            (frac_digits, s) = after_dot.split_at(frac_len);
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(fail("expected a number"));
        }
        // The unit: everything up to the next number.
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let (unit, after) = s.split_at(unit_len);
        s = after;
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" if s.is_empty() && !rest.contains(|c: char| c.is_ascii_alphabetic()) => {
                return Err(fail(&format!(
                    "missing unit (write it as \"{rest}s\" for seconds, for example)"
                )));
            }
            "" => return Err(fail("missing unit")),
            other => return Err(fail(&format!("unknown unit {other:?}"))),
        };
        // Go's maximum is about 292 years; more digits than that are an overflow anyway.
        const MAX_NANOS: u128 = i64::MAX as u128;
        let too_large = || fail("too large");
        if int_digits.len() > 20 {
            return Err(too_large());
        }
        let int_value: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| too_large())?
        };
        let mut part = int_value
            .checked_mul(nanos_per_unit)
            .ok_or_else(too_large)?;
        // Digits past the 18th cannot change a result in nanoseconds of a unit of at most an
        // hour (3.6e12 ns), as Go also stops reading them.
        let frac_digits = &frac_digits[..frac_digits.len().min(18)];
        if !frac_digits.is_empty() {
            let frac_value: u128 = frac_digits.parse().map_err(|_| too_large())?;
            let scale = 10u128.pow(frac_digits.len() as u32);
            part += frac_value * nanos_per_unit / scale;
        }
        total = total.checked_add(part).ok_or_else(too_large)?;
        if total > MAX_NANOS {
            return Err(too_large());
        }
    }
    if negative && total != 0 {
        return Err(fail("negative durations are not allowed"));
    }
    // `total` is at most `i64::MAX`, so it fits in a `u64`.
    Ok(Duration::from_nanos(
        u64::try_from(total).map_err(|_| fail("too large"))?,
    ))
}

/// Replaces environment variable references, as Tempo does with `-config.expand-env=true`:
/// `${VAR}` and `$VAR` become the variable's value (empty when unset), `${VAR:-default}` uses
/// `default` when the variable is unset or empty, `${VAR-default}` only when it is unset, and
/// `$$` is a literal `$`. Defaults may themselves hold references. Any other use of `$` is
/// left as it is.
pub(super) fn expand_env(text: &str) -> String {
    expand_with(text, &|name| std::env::var(name).ok())
}

/// [`expand_env`] with the variables of `lookup`.
pub(super) fn expand_with(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner_and_tail) = after.strip_prefix('{') {
            match matching_brace(inner_and_tail) {
                Some(close) => {
                    let inner = &inner_and_tail[..close];
                    match expand_braced(inner, lookup) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("${");
                            out.push_str(inner);
                            out.push('}');
                        }
                    }
                    rest = &inner_and_tail[close + 1..];
                }
                None => {
                    // Unterminated: keep the rest as written.
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            let name_len = identifier_len(after);
            if name_len == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..name_len]).unwrap_or_default());
            }
            rest = &after[name_len..];
        }
    }
    out.push_str(rest);
    out
}

/// Length of the variable name at the start of `s`: a letter or `_`, then letters, digits, `_`.
fn identifier_len(s: &str) -> usize {
    let mut len = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        len = i + c.len_utf8();
    }
    len
}

/// Index of the `}` closing a `${` whose content starts `s`, allowing nested `${...}`.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The value of `${inner}`, or `None` when `inner` is not a form we expand.
fn expand_braced(inner: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let name_len = identifier_len(inner);
    if name_len == 0 {
        return None;
    }
    let (name, op) = inner.split_at(name_len);
    let value = lookup(name);
    if op.is_empty() {
        return Some(value.unwrap_or_default());
    }
    if let Some(default) = op.strip_prefix(":-") {
        return Some(match value {
            Some(v) if !v.is_empty() => v,
            _ => expand_with(default, lookup),
        });
    }
    // Any other operator (`:=`, `+`, ...) is left as written.
    let default = op.strip_prefix('-')?;
    Some(value.unwrap_or_else(|| expand_with(default, lookup)))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn go_durations() {
        let ok: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("+5s", secs(5)),
            ("0s", Duration::ZERO),
            ("5s", secs(5)),
            ("300ms", Duration::from_millis(300)),
            ("1.5h", secs(5400)),
            ("2h45m", secs(2 * 3600 + 45 * 60)),
            ("336h", secs(336 * 3600)),
            ("336h0m0s", secs(336 * 3600)),
            ("1h2m3s4ms5us6ns", Duration::new(3723, 4_005_006)),
            ("10µs", Duration::from_micros(10)),
            ("10μs", Duration::from_micros(10)),
            ("10us", Duration::from_micros(10)),
            (".5s", Duration::from_millis(500)),
            ("5.s", secs(5)),
            ("1.0000000001s", Duration::new(1, 0)),
            (
                "0.333333333333333333333h",
                Duration::from_nanos(1_199_999_999_999),
            ),
            (
                "2562047h47m16.854775807s",
                Duration::from_nanos(i64::MAX as u64),
            ),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_go_duration(text).unwrap(), *expected, "{text}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("5", "missing unit"),
            ("1h5", "missing unit"),
            ("5x", r#"unknown unit "x""#),
            ("5 s", r#"unknown unit " s""#),
            ("s", "expected a number"),
            (".s", "expected a number"),
            ("1h.", "expected a number"),
            ("-5s", "negative durations are not allowed"),
            ("2562047h47m16.854775808s", "too large"),
            ("99999999999999999999999h", "too large"),
        ];
        for (text, reason) in bad {
            let err = parse_go_duration(text).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid duration {text:?}: {reason}")),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn integers_as_go_yaml_reads_them() {
        assert_eq!(parse_yaml11_uint("1_000_000"), Some(1_000_000));
        assert_eq!(parse_yaml11_uint("0x10"), Some(16));
        assert_eq!(parse_yaml11_uint("0b101"), Some(5));
        assert_eq!(parse_yaml11_uint("+7"), Some(7));
        assert_eq!(parse_yaml11_uint("-7"), None);
        assert_eq!(parse_yaml11_uint("_"), None);
        assert_eq!(parse_yaml11_uint("1e3"), None);
    }

    #[test]
    fn environment_expansion() {
        let lookup = |name: &str| match name {
            "HOST" => Some("tempo".to_owned()),
            "EMPTY" => Some(String::new()),
            "PORT" => Some("4317".to_owned()),
            _ => None,
        };
        let expand = |text: &str| expand_with(text, &lookup);
        assert_eq!(expand("endpoint: ${HOST}:${PORT}"), "endpoint: tempo:4317");
        assert_eq!(expand("endpoint: $HOST:$PORT"), "endpoint: tempo:4317");
        assert_eq!(expand("a: ${UNSET}."), "a: .");
        assert_eq!(expand("a: ${UNSET:-fallback}"), "a: fallback");
        assert_eq!(expand("a: ${EMPTY:-fallback}"), "a: fallback");
        assert_eq!(expand("a: ${EMPTY-fallback}"), "a: ");
        assert_eq!(expand("a: ${UNSET-fallback}"), "a: fallback");
        assert_eq!(expand("a: ${HOST:-fallback}"), "a: tempo");
        assert_eq!(expand("a: ${UNSET:-${HOST}:${PORT}}!"), "a: tempo:4317!");
        assert_eq!(expand("a: ${UNSET:-x:-y}"), "a: x:-y");
        assert_eq!(expand("price: $$5 and $$HOST"), "price: $5 and $HOST");
        assert_eq!(
            expand("a: $ b $1 ${} ${9X} ${HOST:+alt}"),
            "a: $ b $1 ${} ${9X} ${HOST:+alt}"
        );
        assert_eq!(expand("a: ${HOST"), "a: ${HOST");
        assert_eq!(expand("ünïcode: ${HOST} ✓ $"), "ünïcode: tempo ✓ $");
    }
}
