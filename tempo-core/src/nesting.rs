//! nesting: how deep may an attribute value nest, and which part of a request nests deeper?
//!
//! OTLP lets attribute values nest without bound: an `AnyValue` may hold an array of values or
//! a list of key-value pairs, whose values may hold more. The store accepts
//! [`MAX_ANY_VALUE_DEPTH`] levels, the same for protobuf and JSON: an attribute's value is at
//! level 1, and the elements of an array or the entries of a key-value list at level `n` are
//! at level `n + 1` (an entry counts even without a value).
//!
//! A span holding a deeper value is rejected on its own; a resource or scope holding one
//! rejects the spans under it. The checks here come in two forms that agree: on the model,
//! after a decode, and on protobuf's wire format, for bodies too deep to decode whole. Both
//! stop at the limit, so neither recurses further than it allows, whatever the input.

use crate::model::{AnyValue, InstrumentationScope, KeyValue, Resource, Span, Value};

/// The deepest level an attribute value may nest to, in protobuf and in JSON alike.
///
/// An attribute's value is at level 1; the elements of an array, and the entries of a
/// key-value list (with or without a value), at level `n` are at level `n + 1`. A span holding
/// a value deeper than this is rejected and counted in the batch's rejections; a resource or
/// scope holding one rejects the spans under it.
///
/// Thirty-two is the most that protobuf decoding (prost, with its fixed limit of 100 nested
/// messages) accepts for every placement of a value: the deepest one, a key-value list in an
/// event's or a link's attribute, puts its 32nd level 99 messages below `TracesData`. So a
/// request within the limit decodes in one pass, and every stored span decodes again when the
/// write-ahead log is replayed or a block is read.
pub const MAX_ANY_VALUE_DEPTH: usize = 32;

/// Why a part is rejected, for the attribute at `path` (such as `events[0].attributes[2]`).
fn reason(path: &str) -> String {
    format!("{path}: value nested more than {MAX_ANY_VALUE_DEPTH} levels deep")
}

/// Whether a key-value pair at `depth` (its value at the same depth) is nested too deep.
fn key_value_too_deep(kv: &KeyValue, depth: usize) -> bool {
    depth > MAX_ANY_VALUE_DEPTH || kv.value.as_ref().is_some_and(|v| value_too_deep(v, depth))
}

fn value_too_deep(value: &AnyValue, depth: usize) -> bool {
    if depth > MAX_ANY_VALUE_DEPTH {
        return true;
    }
    match &value.value {
        Some(Value::ArrayValue(a)) => a.values.iter().any(|v| value_too_deep(v, depth + 1)),
        Some(Value::KvlistValue(l)) => l.values.iter().any(|kv| key_value_too_deep(kv, depth + 1)),
        _ => false,
    }
}

/// The index of the first attribute nested too deep.
fn attributes_too_deep(attributes: &[KeyValue]) -> Option<usize> {
    attributes.iter().position(|kv| key_value_too_deep(kv, 1))
}

/// Why a span is nested too deep (its attributes, its events' or its links'), if it is.
pub(crate) fn span_too_deep(span: &Span) -> Option<String> {
    if let Some(i) = attributes_too_deep(&span.attributes) {
        return Some(reason(&format!("attributes[{i}]")));
    }
    for (e, event) in span.events.iter().enumerate() {
        if let Some(i) = attributes_too_deep(&event.attributes) {
            return Some(reason(&format!("events[{e}].attributes[{i}]")));
        }
    }
    for (l, link) in span.links.iter().enumerate() {
        if let Some(i) = attributes_too_deep(&link.attributes) {
            return Some(reason(&format!("links[{l}].attributes[{i}]")));
        }
    }
    None
}

/// Why a resource is nested too deep, if it is.
pub(crate) fn resource_too_deep(resource: &Resource) -> Option<String> {
    attributes_too_deep(&resource.attributes).map(|i| reason(&format!("resource.attributes[{i}]")))
}

/// Why an instrumentation scope is nested too deep, if it is.
pub(crate) fn scope_too_deep(scope: &InstrumentationScope) -> Option<String> {
    attributes_too_deep(&scope.attributes).map(|i| reason(&format!("scope.attributes[{i}]")))
}

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// One field of a protobuf message as it is on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireField {
    /// The field number.
    pub(crate) number: u32,
    /// The wire type.
    pub(crate) wire_type: u8,
    /// Where the whole field is, key included.
    pub(crate) raw: std::ops::Range<usize>,
    /// Where a length-delimited field's value is (empty for other wire types).
    pub(crate) value: std::ops::Range<usize>,
}

impl WireField {
    /// Whether this is a length-delimited field (a message, string, bytes or packed field).
    pub(crate) fn is_length_delimited(&self) -> bool {
        self.wire_type == LEN
    }
}

/// The fields of an encoded message, in order; an error ends the iteration at bytes that are
/// not well-formed protobuf. Groups (long deprecated, never used by OTLP) count as malformed:
/// skipping them would take the nesting this module exists to bound.
pub(crate) struct WireFields<'a> {
    buf: &'a [u8],
    at: usize,
}

/// Bytes that are not well-formed protobuf, or use groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

impl<'a> WireFields<'a> {
    /// The fields of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> WireFields<'a> {
        WireFields { buf, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.at).ok_or(Malformed)?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Malformed)
    }

    fn skip(&mut self, len: u64) -> Result<usize, Malformed> {
        let len = usize::try_from(len).map_err(|_| Malformed)?;
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or(Malformed)?;
        self.at = end;
        Ok(end)
    }

    fn field(&mut self) -> Result<WireField, Malformed> {
        let start = self.at;
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| Malformed)?;
        let (number, wire_type) = (key >> 3, (key & 7) as u8);
        if number == 0 {
            return Err(Malformed);
        }
        let mut value = 0..0;
        match wire_type {
            VARINT => {
                self.varint()?;
            }
            FIXED64 => {
                self.skip(8)?;
            }
            FIXED32 => {
                self.skip(4)?;
            }
            LEN => {
                let len = self.varint()?;
                let from = self.at;
                value = from..self.skip(len)?;
            }
            _ => return Err(Malformed),
        }
        Ok(WireField {
            number,
            wire_type,
            raw: start..self.at,
            value,
        })
    }
}

impl Iterator for WireFields<'_> {
    type Item = Result<WireField, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.buf.len() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            // Nothing after malformed bytes can be read.
            self.at = self.buf.len();
        }
        Some(field)
    }
}

/// The values of the length-delimited fields `number` of an encoded message, in order; stops
/// quietly at malformed bytes, which the decoder that follows reports.
fn len_fields(buf: &[u8], number: u32) -> impl Iterator<Item = &[u8]> {
    WireFields::new(buf)
        .map_while(Result::ok)
        .filter(move |f| f.number == number && f.wire_type == LEN)
        .filter_map(move |f| buf.get(f.value))
}

// Field numbers of OTLP's messages, from its `.proto` files.
const KEY_VALUE_VALUE: u32 = 2;
const ANY_VALUE_ARRAY: u32 = 5;
const ANY_VALUE_KVLIST: u32 = 6;
const ARRAY_VALUES: u32 = 1;
const KVLIST_VALUES: u32 = 1;
const SPAN_ATTRIBUTES: u32 = 9;
const SPAN_EVENTS: u32 = 11;
const SPAN_LINKS: u32 = 13;
const EVENT_ATTRIBUTES: u32 = 3;
const LINK_ATTRIBUTES: u32 = 4;
const RESOURCE_ATTRIBUTES: u32 = 1;
const SCOPE_ATTRIBUTES: u32 = 3;
/// `ResourceSpans.resource` and `ScopeSpans.scope`.
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const SCOPE_SPANS_SCOPE: u32 = 1;

fn wire_key_value_too_deep(kv: &[u8], depth: usize) -> bool {
    depth > MAX_ANY_VALUE_DEPTH
        || len_fields(kv, KEY_VALUE_VALUE).any(|v| wire_value_too_deep(v, depth))
}

fn wire_value_too_deep(value: &[u8], depth: usize) -> bool {
    if depth > MAX_ANY_VALUE_DEPTH {
        return true;
    }
    WireFields::new(value)
        .map_while(Result::ok)
        .filter(|f| f.wire_type == LEN)
        .any(|f| {
            let inner = value.get(f.value).unwrap_or_default();
            match f.number {
                ANY_VALUE_ARRAY => {
                    len_fields(inner, ARRAY_VALUES).any(|v| wire_value_too_deep(v, depth + 1))
                }
                ANY_VALUE_KVLIST => len_fields(inner, KVLIST_VALUES)
                    .any(|kv| wire_key_value_too_deep(kv, depth + 1)),
                _ => false,
            }
        })
}

/// The index of the first attribute (fields `number` of `msg`) nested too deep.
fn wire_attributes_too_deep(msg: &[u8], number: u32) -> Option<usize> {
    len_fields(msg, number).position(|kv| wire_key_value_too_deep(kv, 1))
}

/// [`span_too_deep`] on an encoded `Span`.
pub(crate) fn wire_span_too_deep(span: &[u8]) -> Option<String> {
    if let Some(i) = wire_attributes_too_deep(span, SPAN_ATTRIBUTES) {
        return Some(reason(&format!("attributes[{i}]")));
    }
    for (e, event) in len_fields(span, SPAN_EVENTS).enumerate() {
        if let Some(i) = wire_attributes_too_deep(event, EVENT_ATTRIBUTES) {
            return Some(reason(&format!("events[{e}].attributes[{i}]")));
        }
    }
    for (l, link) in len_fields(span, SPAN_LINKS).enumerate() {
        if let Some(i) = wire_attributes_too_deep(link, LINK_ATTRIBUTES) {
            return Some(reason(&format!("links[{l}].attributes[{i}]")));
        }
    }
    None
}

/// [`resource_too_deep`] on the resource of an encoded `ResourceSpans`.
pub(crate) fn wire_resource_too_deep(resource_spans: &[u8]) -> Option<String> {
    len_fields(resource_spans, RESOURCE_SPANS_RESOURCE)
        .find_map(|r| wire_attributes_too_deep(r, RESOURCE_ATTRIBUTES))
        .map(|i| reason(&format!("resource.attributes[{i}]")))
}

/// [`scope_too_deep`] on the scope of an encoded `ScopeSpans`.
pub(crate) fn wire_scope_too_deep(scope_spans: &[u8]) -> Option<String> {
    len_fields(scope_spans, SCOPE_SPANS_SCOPE)
        .find_map(|s| wire_attributes_too_deep(s, SCOPE_ATTRIBUTES))
        .map(|i| reason(&format!("scope.attributes[{i}]")))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
pub(crate) mod tests {
    use super::*;
    use crate::model::{ArrayValue, Event, KeyValueList, Link, ResourceSpans, TracesData};
    use prost::Message;

    /// A value nested `depth` levels deep: key-value lists (the costliest for protobuf), or
    /// arrays, around a string.
    pub(crate) fn nested(depth: usize, kvlist: bool) -> AnyValue {
        let mut value = AnyValue {
            value: Some(Value::StringValue("leaf".into())),
        };
        for _ in 1..depth {
            value = AnyValue {
                value: Some(if kvlist {
                    Value::KvlistValue(KeyValueList {
                        values: vec![KeyValue {
                            key: "k".into(),
                            value: Some(value),
                        }],
                    })
                } else {
                    Value::ArrayValue(ArrayValue {
                        values: vec![value],
                    })
                }),
            };
        }
        value
    }

    pub(crate) fn attribute(depth: usize, kvlist: bool) -> KeyValue {
        KeyValue {
            key: "deep".into(),
            value: Some(nested(depth, kvlist)),
        }
    }

    fn span_with(event: Vec<KeyValue>, link: Vec<KeyValue>, own: Vec<KeyValue>) -> Span {
        Span {
            attributes: own,
            events: vec![Event {
                attributes: event,
                ..Event::default()
            }],
            links: vec![Link {
                attributes: link,
                ..Link::default()
            }],
            ..Span::default()
        }
    }

    fn both(span: &Span) -> (Option<String>, Option<String>) {
        (
            span_too_deep(span),
            wire_span_too_deep(&span.encode_to_vec()),
        )
    }

    #[test]
    fn the_limit_is_the_same_on_the_model_and_on_the_wire() {
        for kvlist in [true, false] {
            let ok = attribute(MAX_ANY_VALUE_DEPTH, kvlist);
            let deep = attribute(MAX_ANY_VALUE_DEPTH + 1, kvlist);
            let fine = span_with(vec![ok.clone()], vec![ok.clone()], vec![ok.clone()]);
            assert_eq!(both(&fine), (None, None));

            let e = span_with(vec![ok.clone(), deep.clone()], vec![], vec![]);
            let want = format!(
                "events[0].attributes[1]: value nested more than {MAX_ANY_VALUE_DEPTH} levels deep"
            );
            assert_eq!(both(&e), (Some(want.clone()), Some(want)));

            let l = span_with(vec![], vec![deep.clone()], vec![]);
            let want = "links[0].attributes[0]: value nested more than 32 levels deep";
            assert_eq!(both(&l), (Some(want.into()), Some(want.into())));

            let a = span_with(vec![], vec![], vec![ok.clone(), ok.clone(), deep.clone()]);
            assert_eq!(both(&a).0.as_deref(), both(&a).1.as_deref());
            assert!(both(&a).0.unwrap().starts_with("attributes[2]: "));

            let resource = Resource {
                attributes: vec![deep.clone()],
                ..Resource::default()
            };
            let rs = ResourceSpans {
                resource: Some(resource.clone()),
                ..ResourceSpans::default()
            };
            assert_eq!(
                resource_too_deep(&resource),
                wire_resource_too_deep(&rs.encode_to_vec())
            );
            assert!(resource_too_deep(&resource).is_some());
        }
    }

    #[test]
    fn a_key_value_entry_counts_as_a_level_even_without_a_value() {
        // At the limit, a key-value list whose one entry has no value: that entry is one
        // level too deep.
        let mut value = AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "empty".into(),
                    value: None,
                }],
            })),
        };
        for _ in 1..MAX_ANY_VALUE_DEPTH {
            value = AnyValue {
                value: Some(Value::ArrayValue(ArrayValue {
                    values: vec![value],
                })),
            };
        }
        let kv = vec![KeyValue {
            key: "k".into(),
            value: Some(value),
        }];
        let span = span_with(vec![], vec![], kv);
        assert!(both(&span).0.is_some());
        assert_eq!(both(&span).0, both(&span).1);
    }

    #[test]
    fn the_deepest_legal_placement_decodes_whole() {
        // A key-value list in an event's attribute, the costliest placement, at the limit.
        let ok = attribute(MAX_ANY_VALUE_DEPTH, true);
        let data = TracesData {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![crate::model::ScopeSpans {
                    spans: vec![span_with(vec![ok.clone()], vec![ok], vec![])],
                    ..Default::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let bytes = data.encode_to_vec();
        assert_eq!(TracesData::decode(bytes.as_slice()).unwrap(), data);
        // One level more does not: that is what the limit is for.
        let deep = attribute(MAX_ANY_VALUE_DEPTH + 1, true);
        let mut data = data;
        data.resource_spans[0].scope_spans[0].spans[0].events[0].attributes = vec![deep];
        assert!(TracesData::decode(data.encode_to_vec().as_slice()).is_err());
    }

    #[test]
    fn checks_stop_at_the_limit_whatever_the_depth() {
        // Far deeper than any stack would allow if the walk followed it.
        let bytes = deep_array_value(200_000);
        assert!(bytes.len() > 1 << 20);
        assert!(wire_value_too_deep(&bytes, 1));
        assert!(!wire_value_too_deep(b"\x0a\x01x", 1));
    }

    /// An encoded `AnyValue` of arrays nested `levels` deep around a string, built from the
    /// inside out (reversed, so that each level is appended, never prepended).
    pub(crate) fn deep_array_value(levels: usize) -> Vec<u8> {
        let mut rev = b"x\x01\x0a".to_vec(); // AnyValue { string_value: "x" }, reversed
        let prefix = |rev: &mut Vec<u8>, tag: u8| {
            let mut len = rev.len();
            let mut varint = Vec::new();
            while len >= 0x80 {
                varint.push((len as u8) | 0x80);
                len >>= 7;
            }
            varint.push(len as u8);
            rev.extend(varint.iter().rev());
            rev.push(tag);
        };
        for _ in 0..levels {
            prefix(&mut rev, 0x0a); // ArrayValue.values
            prefix(&mut rev, 0x2a); // AnyValue.array_value
        }
        rev.reverse();
        rev
    }

    #[test]
    fn wire_fields_refuse_malformed_bytes_and_groups() {
        let fields: Vec<_> = WireFields::new(b"\x08\x01\x12\x02ab").collect();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].clone().unwrap().value, 4..6);
        for bad in [
            &b"\x12\x05ab"[..], // length past the end
            b"\x0b\x0c",        // a group
            b"\x00\x01",        // field number 0
            b"\x08",            // truncated varint
            b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            assert_eq!(WireFields::new(bad).last(), Some(Err(Malformed)), "{bad:?}");
        }
    }
}
