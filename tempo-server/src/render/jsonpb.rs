//! jsonpb: how does Tempo's JSON write a protobuf message?
//!
//! Tempo answers in JSON as its gogo-protobuf `jsonpb` marshaller writes it with default
//! settings, and every body of the query API follows the same rules, which live here:
//!
//! - lowerCamel field names, in the order of their declaration in the `.proto` file;
//! - zero values and empty lists left out (a oneof member is written even when it holds its
//!   type's zero value);
//! - enums by name, and an enum value without a name as a bare number;
//! - 64-bit integers as quoted decimal strings, 32-bit ones as numbers;
//! - bytes as padded standard base64, except the IDs of search results, which Tempo writes in
//!   hex ([`search_trace_id`], [`search_span_id`]);
//! - strings escaped the way Go's `encoding/json` escapes them (including `<`, `>` and `&`),
//!   doubles written as Go writes them.
//!
//! [`JsonWriter`] builds that text directly, without an intermediate JSON tree; the message
//! writers of the `trace`, `search`, `tags` and `metrics_query` modules are built on it. OTLP's `KeyValue` and
//! `AnyValue`, which traces and search results share, are written here too.

use base64::Engine as _;
use tempo_core::model::{AnyValue, KeyValue, TraceId, Value};

/// A trace ID as Tempo writes it in search results: lowercase hex, leading zeros trimmed
/// (empty for an all-zero ID).
pub(crate) fn search_trace_id(id: &TraceId) -> String {
    id.to_hex().trim_start_matches('0').to_owned()
}

/// A span ID as Tempo writes it in search results: lowercase hex, leading zeros trimmed,
/// then left-padded with zeros to at least 16 digits.
pub(crate) fn search_span_id(id: &[u8]) -> String {
    let hex = hex::encode(id);
    format!("{:0>16}", hex.trim_start_matches('0'))
}

/// Appends jsonpb-style JSON to a string buffer.
pub(crate) struct JsonWriter {
    out: String,
}

/// An open JSON object: remembers whether a separator is due before the next key.
pub(crate) struct Object {
    empty: bool,
}

impl Object {
    /// Writes `,"name":` (no comma before the first key). `name` is a field name: plain
    /// ASCII that needs no escaping.
    pub(super) fn key(&mut self, w: &mut JsonWriter, name: &str) {
        self.separate(w);
        w.out.push('"');
        w.out.push_str(name);
        w.out.push_str("\":");
    }

    /// Writes `,"key":` for a map entry: the key is any string, written with the escaping of
    /// a value.
    pub(super) fn entry(&mut self, w: &mut JsonWriter, key: &str) {
        self.separate(w);
        w.string(key);
        w.out.push(':');
    }

    /// A comma, unless this is the first member.
    fn separate(&mut self, w: &mut JsonWriter) {
        if !self.empty {
            w.out.push(',');
        }
        self.empty = false;
    }

    /// Writes `}`.
    pub(super) fn end(self, w: &mut JsonWriter) {
        w.out.push('}');
    }
}

impl JsonWriter {
    /// A writer with room for `capacity` bytes.
    pub(super) fn with_capacity(capacity: usize) -> JsonWriter {
        JsonWriter {
            out: String::with_capacity(capacity),
        }
    }

    /// The text written.
    pub(super) fn finish(self) -> Vec<u8> {
        self.out.into_bytes()
    }

    /// Appends `s` as it is: JSON text already written.
    pub(super) fn push_str(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// Writes `{` and returns the open object.
    pub(super) fn begin_object(&mut self) -> Object {
        self.out.push('{');
        Object { empty: true }
    }

    /// Writes `[` item `,` item ... `]`.
    pub(super) fn array<T>(&mut self, items: &[T], mut item: impl FnMut(&mut JsonWriter, &T)) {
        self.out.push('[');
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            item(self, it);
        }
        self.out.push(']');
    }

    /// `attributes` then `droppedAttributesCount`, each only when not empty or zero.
    pub(super) fn attributes(&mut self, obj: &mut Object, attributes: &[KeyValue], dropped: u32) {
        if !attributes.is_empty() {
            obj.key(self, "attributes");
            self.array(attributes, JsonWriter::key_value);
        }
        self.u32_field(obj, "droppedAttributesCount", dropped);
    }

    /// OTLP's `KeyValue`.
    pub(super) fn key_value(&mut self, kv: &KeyValue) {
        let mut obj = self.begin_object();
        self.string_field(&mut obj, "key", &kv.key);
        if let Some(value) = &kv.value {
            obj.key(self, "value");
            self.any_value(value);
        }
        obj.end(self);
    }

    /// A oneof member is written even when it holds its type's zero value
    /// (`{"intValue":"0"}`, `{"stringValue":""}`); no member at all is `{}`.
    fn any_value(&mut self, value: &AnyValue) {
        let mut obj = self.begin_object();
        match &value.value {
            None => {}
            Some(Value::StringValue(s)) => {
                obj.key(self, "stringValue");
                self.string(s);
            }
            Some(Value::BoolValue(b)) => {
                obj.key(self, "boolValue");
                self.push_str(if *b { "true" } else { "false" });
            }
            Some(Value::IntValue(i)) => {
                obj.key(self, "intValue");
                self.out.push('"');
                self.i64(*i);
                self.out.push('"');
            }
            Some(Value::DoubleValue(d)) => {
                obj.key(self, "doubleValue");
                self.f64(*d);
            }
            Some(Value::ArrayValue(array)) => {
                obj.key(self, "arrayValue");
                let mut inner = self.begin_object();
                if !array.values.is_empty() {
                    inner.key(self, "values");
                    self.array(&array.values, JsonWriter::any_value);
                }
                inner.end(self);
            }
            Some(Value::KvlistValue(list)) => {
                obj.key(self, "kvlistValue");
                let mut inner = self.begin_object();
                if !list.values.is_empty() {
                    inner.key(self, "values");
                    self.array(&list.values, JsonWriter::key_value);
                }
                inner.end(self);
            }
            Some(Value::BytesValue(bytes)) => {
                obj.key(self, "bytesValue");
                self.base64(bytes);
            }
        }
        obj.end(self);
    }

    /// A string field, left out when empty.
    pub(super) fn string_field(&mut self, obj: &mut Object, name: &str, value: &str) {
        if !value.is_empty() {
            obj.key(self, name);
            self.string(value);
        }
    }

    /// A bytes field in base64, left out when empty.
    pub(super) fn bytes_field(&mut self, obj: &mut Object, name: &str, value: &[u8]) {
        if !value.is_empty() {
            obj.key(self, name);
            self.base64(value);
        }
    }

    /// A 32-bit integer field, as a number; left out when zero.
    pub(super) fn u32_field(&mut self, obj: &mut Object, name: &str, value: u32) {
        if value != 0 {
            obj.key(self, name);
            self.u64(u64::from(value));
        }
    }

    /// A 64-bit integer field, as a quoted string; left out when zero.
    pub(super) fn fixed64_field(&mut self, obj: &mut Object, name: &str, value: u64) {
        if value != 0 {
            obj.key(self, name);
            self.quoted_u64(value);
        }
    }

    /// A signed 64-bit integer field, as a quoted string; left out when zero.
    pub(super) fn i64_field(&mut self, obj: &mut Object, name: &str, value: i64) {
        if value != 0 {
            obj.key(self, name);
            self.out.push('"');
            self.i64(value);
            self.out.push('"');
        }
    }

    /// A double field; left out when zero (NaN is not zero: it is written `"NaN"`).
    pub(super) fn f64_field(&mut self, obj: &mut Object, name: &str, value: f64) {
        if value != 0.0 {
            obj.key(self, name);
            self.f64(value);
        }
    }

    /// Bytes as a padded standard base64 string.
    fn base64(&mut self, bytes: &[u8]) {
        self.out.push('"');
        base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut self.out);
        self.out.push('"');
    }

    /// A 64-bit integer as a quoted decimal string.
    pub(super) fn quoted_u64(&mut self, value: u64) {
        self.out.push('"');
        self.u64(value);
        self.out.push('"');
    }

    /// An unsigned integer in decimal.
    fn u64(&mut self, mut value: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            // `value % 10` is below 10, so the cast cannot truncate.
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        for &d in &digits[start..] {
            self.out.push(char::from(d));
        }
    }

    /// A signed integer in decimal.
    pub(super) fn i64(&mut self, value: i64) {
        if value < 0 {
            self.out.push('-');
        }
        self.u64(value.unsigned_abs());
    }

    /// A double as Go's `encoding/json` writes it: the shortest digits that read back as the
    /// same double (an exact tie between two candidates goes to the even one), in positional
    /// notation from 1e-6 up to 1e21 and in exponent notation (`1e+21`, `1.5e-7`) outside;
    /// with jsonpb's quoted `"NaN"`, `"Infinity"` and `"-Infinity"`.
    fn f64(&mut self, value: f64) {
        if value.is_nan() {
            self.out.push_str("\"NaN\"");
            return;
        }
        if value.is_infinite() {
            self.out.push_str(if value > 0.0 {
                "\"Infinity\""
            } else {
                "\"-Infinity\""
            });
            return;
        }
        if value == 0.0 {
            self.out
                .push_str(if value.is_sign_negative() { "-0" } else { "0" });
            return;
        }
        // The digits come from serde_json's formatter, which rounds exact ties to even as Go
        // does; Rust's own `Display` rounds them up (…222.25 gives …222.3, Go …222.2).
        let Ok(text) = serde_json::to_string(&value) else {
            return self.out.push_str(&value.to_string());
        };
        let (digits, exponent) = decimal_digits(&text);
        if value.is_sign_negative() {
            self.out.push('-');
        }
        let abs = value.abs();
        if (1e-6..1e21).contains(&abs) {
            if exponent < 0 {
                self.out.push_str("0.");
                for _ in 0..(-exponent - 1) {
                    self.out.push('0');
                }
                self.out.push_str(&digits);
            } else {
                let int_len = usize::try_from(exponent).unwrap_or(0) + 1;
                if digits.len() <= int_len {
                    self.out.push_str(&digits);
                    for _ in digits.len()..int_len {
                        self.out.push('0');
                    }
                } else {
                    self.out.push_str(&digits[..int_len]);
                    self.out.push('.');
                    self.out.push_str(&digits[int_len..]);
                }
            }
        } else {
            // Go writes at least two exponent digits, then trims `e-07` to `e-7`: so negative
            // exponents have no padding and positive ones (at least 21 here) need none.
            self.out.push_str(&digits[..1]);
            if digits.len() > 1 {
                self.out.push('.');
                self.out.push_str(&digits[1..]);
            }
            self.out.push_str(if exponent < 0 { "e-" } else { "e+" });
            self.u64(u64::from(exponent.unsigned_abs()));
        }
    }

    /// A string known to need no escaping (enum names).
    pub(super) fn raw_string(&mut self, s: &str) {
        self.out.push('"');
        self.out.push_str(s);
        self.out.push('"');
    }

    /// A JSON string escaped as Go's `encoding/json` does with HTML escaping on (its
    /// default, which jsonpb uses): `"` and `\`; `\n`, `\r`, `\t`, `\b`, `\f` in short form;
    /// other control characters, `<`, `>`, `&`, U+2028 and U+2029 as `\u00XX` / `\u20XX`
    /// with lowercase hex digits.
    pub(super) fn string(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.out.push('"');
        let bytes = s.as_bytes();
        let mut run_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let short: Option<&str> = match b {
                b'"' => Some("\\\""),
                b'\\' => Some("\\\\"),
                b'\n' => Some("\\n"),
                b'\r' => Some("\\r"),
                b'\t' => Some("\\t"),
                0x08 => Some("\\b"),
                0x0c => Some("\\f"),
                _ => None,
            };
            let needs_unicode = b < 0x20 || b == b'<' || b == b'>' || b == b'&';
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
            let line_separator = b == 0xE2
                && bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8) | Some(0xA9));
            if short.is_none() && !needs_unicode && !line_separator {
                i += 1;
                continue;
            }
            // Every escaped position is the start of a character (an ASCII byte or the
            // lead byte of U+2028/U+2029), so these slices fall on character boundaries.
            self.out.push_str(&s[run_start..i]);
            if let Some(short) = short {
                self.out.push_str(short);
                i += 1;
            } else if line_separator {
                self.out.push_str(if bytes[i + 2] == 0xA8 {
                    "\\u2028"
                } else {
                    "\\u2029"
                });
                i += 3;
            } else {
                self.out.push_str("\\u00");
                self.out.push(char::from(HEX[usize::from(b >> 4)]));
                self.out.push(char::from(HEX[usize::from(b & 0x0f)]));
                i += 1;
            }
            run_start = i;
        }
        self.out.push_str(&s[run_start..]);
        self.out.push('"');
    }
}

/// The significant digits of a finite, non-zero number written in JSON (`-12.5`, `1e+21`,
/// `5e-324`), without sign or leading and trailing zeros, and the power of ten of the first
/// digit: `("125", 1)` for `-12.5`.
fn decimal_digits(text: &str) -> (String, i32) {
    let text = text.trim_start_matches('-');
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.trim_start_matches('+').parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int_part = int_part.trim_start_matches('0');
    let (digits, first) = if int_part.is_empty() {
        let significant = frac_part.trim_start_matches('0');
        // Leading zeros of the fraction put the first digit further right.
        let zeros = frac_part.len() - significant.len();
        (
            significant.to_owned(),
            -i32::try_from(zeros).unwrap_or(0) - 1,
        )
    } else {
        (
            format!("{int_part}{frac_part}"),
            i32::try_from(int_part.len()).unwrap_or(0) - 1,
        )
    };
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        return ("0".to_owned(), 0);
    }
    (digits.to_owned(), first + exp)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn doubles_are_written_as_go_writes_them() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e-100, "1e-100"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-1.25e22, "-1.25e+22"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            // Exact ties between two shortest candidates go to the even digit.
            (-(699_525_126_013_222.0 + 0.25), "-699525126013222.2"),
            (172_840_062_195_934.0 + 0.625, "172840062195934.62"),
            (5e-324, "5e-324"),
            (1.7e-5, "0.000017"),
            (12.5, "12.5"),
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"Infinity\""),
            (f64::NEG_INFINITY, "\"-Infinity\""),
        ];
        for &(value, expected) in cases {
            let mut w = JsonWriter::with_capacity(0);
            w.f64(value);
            assert_eq!(w.out, expected, "{value:?}");
            serde_json::from_str::<serde_json::Value>(&w.out).unwrap();
        }
    }
}
