//! json: what does this OTLP/JSON body say?
//!
//! Decodes OTLP/JSON trace requests into the model. It follows the OTLP specification (hex
//! trace and span IDs, lowerCamelCase keys, 64-bit integers as strings or numbers, enums as
//! integers) and also accepts what real gateways send: base64 IDs, enum names as strings
//! (`"SPAN_KIND_SERVER"`), the original snake_case field names, `null` for absent fields, and
//! the pre-1.0 `instrumentationLibrarySpans` names. Unknown fields are ignored, as the
//! specification requires.
//!
//! A body that is not JSON, or whose structure is wrong, is an error naming the path of the
//! offending field. A span whose ID cannot be decoded is dropped and counted, like any other
//! span with a malformed ID.
//!
//! Attribute values may nest [`MAX_ANY_VALUE_DEPTH`] levels, as in protobuf: a span holding a
//! deeper one is dropped and counted, and so are the spans under a resource or scope holding
//! one. The document is read only as deep as that check needs, so any nesting, however deep,
//! costs a bounded stack.

use std::fmt;

use base64::Engine;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};
use tempo_core::MAX_ANY_VALUE_DEPTH;
use tempo_core::model::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, KeyValueList, Link, Resource,
    ResourceSpans, ScopeSpans, Span, SpanKind, Status, StatusCode, Value,
};

/// An OTLP/JSON body that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed OTLP/JSON at {path}: {message}")]
pub struct JsonError {
    /// Where in the document, such as `resourceSpans[0].scopeSpans[1].spans[3].kind`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

/// The spans decoded from an OTLP/JSON body, and the spans dropped while decoding.
#[derive(Debug, Default)]
pub struct DecodedJson {
    /// The decoded spans.
    pub resource_spans: Vec<ResourceSpans>,
    /// Why spans were dropped, one entry per dropped span.
    pub rejected: Vec<String>,
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (or `TracesData`).
pub fn decode_traces_json(body: &[u8]) -> Result<DecodedJson, JsonError> {
    let doc = parse_bounded(body).map_err(|e| JsonError {
        path: "$".into(),
        message: e.to_string(),
    })?;
    let mut decoder = Decoder::default();
    let root = decoder.object(&doc, "$")?;
    let mut out = DecodedJson::default();
    for (i, rs) in decoder
        .array(root, "resourceSpans", "$")?
        .iter()
        .enumerate()
    {
        let path = format!("resourceSpans[{i}]");
        if let Some(resource_spans) = decoder.resource_spans(rs, &path)? {
            out.resource_spans.push(resource_spans);
        }
    }
    out.rejected = decoder.rejected;
    Ok(out)
}

/// How many levels of arrays and objects are read; deeper ones are skipped, without recursion,
/// and read as null. The decoder never looks that deep: the deepest it reads is the `values`
/// array of a value at the limit, a key-value list in each level (four JSON levels a level)
/// in an event's or link's attribute (eight levels of envelope above the first): 10 + 4 × 32.
/// Two more levels keep whole the entries one past the limit, which are rejected unread.
const MAX_JSON_DEPTH: usize = 12 + 4 * MAX_ANY_VALUE_DEPTH;

/// Parses JSON as `serde_json::from_slice` does, but only [`MAX_JSON_DEPTH`] levels deep, so
/// that the stack it takes is bounded whatever the input.
fn parse_bounded(body: &[u8]) -> Result<Json, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    // The depth is bounded by `Bounded` instead, and deeper levels are skipped, not refused.
    de.disable_recursion_limit();
    let doc = Bounded(MAX_JSON_DEPTH).deserialize(&mut de)?;
    de.end()?;
    Ok(doc)
}

/// A JSON value whose arrays and objects are read `.0` levels deep; deeper, they are skipped
/// (serde_json skips without recursion) and become null.
struct Bounded(usize);

impl<'de> DeserializeSeed<'de> for Bounded {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let Some(below) = self.0.checked_sub(1) else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Json::Null);
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(Bounded(below))? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let Some(below) = self.0.checked_sub(1) else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Json::Null);
        };
        let mut entries = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Bounded(below))?;
            entries.insert(key, value);
        }
        Ok(Json::Object(entries))
    }
}

#[derive(Default)]
struct Decoder {
    rejected: Vec<String>,
}

/// Why a value cannot be decoded: the body is malformed there, or the value nests deeper than
/// [`MAX_ANY_VALUE_DEPTH`], which only rejects the span (or resource, or scope) holding it.
enum Fault {
    Malformed(JsonError),
    TooDeep,
}

impl From<JsonError> for Fault {
    fn from(e: JsonError) -> Fault {
        Fault::Malformed(e)
    }
}

/// Why a part is rejected when the attribute at `at` (relative to it) nests too deep.
fn too_deep(at: &str) -> String {
    format!("{at}: value nested more than {MAX_ANY_VALUE_DEPTH} levels deep")
}

fn err(path: &str, message: impl Into<String>) -> JsonError {
    JsonError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The field `camel` (or its snake_case form) of `obj`, `None` when absent or null.
fn field<'a>(obj: &'a Map<String, Json>, camel: &str) -> Option<&'a Json> {
    let found = obj.get(camel).or_else(|| {
        let snake = to_snake(camel);
        obj.get(snake.as_str())
    });
    found.filter(|v| !v.is_null())
}

fn to_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn join(path: &str, key: &str) -> String {
    if path == "$" {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Decoder {
    fn object<'a>(&self, v: &'a Json, path: &str) -> Result<&'a Map<String, Json>, JsonError> {
        v.as_object()
            .ok_or_else(|| err(path, format!("expected an object, found {}", kind_of(v))))
    }

    fn array<'a>(
        &self,
        obj: &'a Map<String, Json>,
        key: &str,
        path: &str,
    ) -> Result<&'a [Json], JsonError> {
        match field(obj, key) {
            None => Ok(&[]),
            Some(Json::Array(items)) => Ok(items),
            Some(other) => Err(err(
                &join(path, key),
                format!("expected an array, found {}", kind_of(other)),
            )),
        }
    }

    fn string(&self, obj: &Map<String, Json>, key: &str, path: &str) -> Result<String, JsonError> {
        match field(obj, key) {
            None => Ok(String::new()),
            Some(Json::String(s)) => Ok(s.clone()),
            Some(other) => Err(err(
                &join(path, key),
                format!("expected a string, found {}", kind_of(other)),
            )),
        }
    }

    fn u64(&self, obj: &Map<String, Json>, key: &str, path: &str) -> Result<u64, JsonError> {
        match field(obj, key) {
            None => Ok(0),
            Some(v) => parse_u64(v).ok_or_else(|| {
                err(
                    &join(path, key),
                    format!("expected an unsigned integer, found {v}"),
                )
            }),
        }
    }

    fn u32(&self, obj: &Map<String, Json>, key: &str, path: &str) -> Result<u32, JsonError> {
        let v = self.u64(obj, key, path)?;
        u32::try_from(v).map_err(|_| err(&join(path, key), format!("{v} does not fit in 32 bits")))
    }

    fn enumeration(
        &self,
        obj: &Map<String, Json>,
        key: &str,
        path: &str,
        by_name: fn(&str) -> Option<i32>,
    ) -> Result<i32, JsonError> {
        match field(obj, key) {
            None => Ok(0),
            Some(Json::Number(n)) => n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| err(&join(path, key), format!("invalid enum value {n}"))),
            Some(Json::String(s)) => by_name(s)
                .or_else(|| s.parse::<i32>().ok())
                .ok_or_else(|| err(&join(path, key), format!("unknown enum value {s:?}"))),
            Some(other) => Err(err(
                &join(path, key),
                format!("expected an enum name or number, found {}", kind_of(other)),
            )),
        }
    }

    /// An ID field: hex as the specification says, or base64. Returns `Err(reason)` when it
    /// cannot be decoded; the caller drops the span.
    fn id(
        &self,
        obj: &Map<String, Json>,
        key: &str,
        len: usize,
    ) -> Result<Result<Vec<u8>, String>, JsonError> {
        match field(obj, key) {
            None => Ok(Ok(Vec::new())),
            Some(Json::String(s)) => Ok(decode_id(s, len).map_err(|e| format!("{key}: {e}"))),
            Some(other) => Ok(Err(format!(
                "{key}: expected a hex string, found {}",
                kind_of(other)
            ))),
        }
    }

    /// The resource spans at `path`, or `None` when its resource nests too deep (its spans
    /// are then counted as rejected).
    fn resource_spans(&mut self, v: &Json, path: &str) -> Result<Option<ResourceSpans>, JsonError> {
        let obj = self.object(v, path)?;
        let (resource, too_deep_reason) = match field(obj, "resource") {
            None => (None, None),
            Some(r) => {
                let rpath = join(path, "resource");
                let robj = self.object(r, &rpath)?;
                match self.attributes(robj, &rpath)? {
                    Ok(attributes) => (
                        Some(Resource {
                            attributes,
                            dropped_attributes_count: self.u32(
                                robj,
                                "droppedAttributesCount",
                                &rpath,
                            )?,
                        }),
                        None,
                    ),
                    Err(i) => (None, Some(too_deep(&format!("resource.attributes[{i}]")))),
                }
            }
        };
        let mut scope_spans = Vec::new();
        for key in ["scopeSpans", "instrumentationLibrarySpans"] {
            for (i, ss) in self.array(obj, key, path)?.iter().enumerate() {
                let spath = format!("{}[{i}]", join(path, key));
                if let Some(ss) = self.scope_spans(ss, &spath, too_deep_reason.as_deref())? {
                    scope_spans.push(ss);
                }
            }
        }
        let schema_url = self.string(obj, "schemaUrl", path)?;
        Ok(too_deep_reason.is_none().then_some(ResourceSpans {
            resource,
            scope_spans,
            schema_url,
        }))
    }

    /// The scope spans at `path`, or `None` when they are rejected whole: `outer` says why
    /// their resource was, or their scope nests too deep.
    fn scope_spans(
        &mut self,
        v: &Json,
        path: &str,
        outer: Option<&str>,
    ) -> Result<Option<ScopeSpans>, JsonError> {
        let obj = self.object(v, path)?;
        let scope_value = field(obj, "scope").map(|s| ("scope", s)).or_else(|| {
            field(obj, "instrumentationLibrary").map(|s| ("instrumentationLibrary", s))
        });
        let mut rejected_whole = outer.map(str::to_owned);
        let scope = match scope_value {
            None => None,
            Some((key, s)) => {
                let spath = join(path, key);
                let sobj = self.object(s, &spath)?;
                match self.attributes(sobj, &spath)? {
                    Ok(attributes) => Some(InstrumentationScope {
                        name: self.string(sobj, "name", &spath)?,
                        version: self.string(sobj, "version", &spath)?,
                        attributes,
                        dropped_attributes_count: self.u32(
                            sobj,
                            "droppedAttributesCount",
                            &spath,
                        )?,
                    }),
                    Err(i) => {
                        rejected_whole
                            .get_or_insert_with(|| too_deep(&format!("{key}.attributes[{i}]")));
                        None
                    }
                }
            }
        };
        let items = self.array(obj, "spans", path)?;
        let mut spans = Vec::with_capacity(items.len());
        for (i, s) in items.iter().enumerate() {
            let spath = format!("{}[{i}]", join(path, "spans"));
            // A resource or scope nested too deep takes its spans with it, whatever they hold.
            match (self.span(s, &spath)?, &rejected_whole) {
                (Ok(span), None) => spans.push(span),
                (_, Some(reason)) => self.rejected.push(format!("{spath}: {reason}")),
                (Err(reason), None) => self.rejected.push(format!("{spath}: {reason}")),
            }
        }
        let schema_url = self.string(obj, "schemaUrl", path)?;
        Ok(rejected_whole.is_none().then_some(ScopeSpans {
            scope,
            spans,
            schema_url,
        }))
    }

    fn span(&mut self, v: &Json, path: &str) -> Result<Result<Span, String>, JsonError> {
        let obj = self.object(v, path)?;
        let ids = (|| -> Result<Result<_, String>, JsonError> {
            let trace_id = match self.id(obj, "traceId", 16)? {
                Ok(id) => id,
                Err(e) => return Ok(Err(e)),
            };
            let span_id = match self.id(obj, "spanId", 8)? {
                Ok(id) => id,
                Err(e) => return Ok(Err(e)),
            };
            let parent = match self.id(obj, "parentSpanId", 8)? {
                Ok(id) => id,
                Err(e) => return Ok(Err(e)),
            };
            Ok(Ok((trace_id, span_id, parent)))
        })()?;
        let (trace_id, span_id, parent_span_id) = match ids {
            Ok(ids) => ids,
            Err(reason) => return Ok(Err(reason)),
        };
        let status = match field(obj, "status") {
            None => None,
            Some(s) => {
                let spath = join(path, "status");
                let sobj = self.object(s, &spath)?;
                Some(Status {
                    message: self.string(sobj, "message", &spath)?,
                    code: self.enumeration(sobj, "code", &spath, |n| {
                        StatusCode::from_otlp_name(n).map(|c| c as i32)
                    })?,
                })
            }
        };
        // The span's own attributes, then its events', then its links': the order in which
        // the store looks for a value nested too deep, so that both name the same one.
        let attributes = match self.attributes(obj, path)? {
            Ok(attributes) => attributes,
            Err(i) => return Ok(Err(too_deep(&format!("attributes[{i}]")))),
        };
        let mut events = Vec::new();
        for (i, e) in self.array(obj, "events", path)?.iter().enumerate() {
            let epath = format!("{}[{i}]", join(path, "events"));
            let eobj = self.object(e, &epath)?;
            let attributes = match self.attributes(eobj, &epath)? {
                Ok(attributes) => attributes,
                Err(a) => return Ok(Err(too_deep(&format!("events[{i}].attributes[{a}]")))),
            };
            events.push(Event {
                time_unix_nano: self.u64(eobj, "timeUnixNano", &epath)?,
                name: self.string(eobj, "name", &epath)?,
                attributes,
                dropped_attributes_count: self.u32(eobj, "droppedAttributesCount", &epath)?,
            });
        }
        let mut links = Vec::new();
        for (i, l) in self.array(obj, "links", path)?.iter().enumerate() {
            let lpath = format!("{}[{i}]", join(path, "links"));
            let lobj = self.object(l, &lpath)?;
            let trace_id = match self.id(lobj, "traceId", 16)? {
                Ok(id) => id,
                Err(reason) => return Ok(Err(format!("links[{i}].{reason}"))),
            };
            let span_id = match self.id(lobj, "spanId", 8)? {
                Ok(id) => id,
                Err(reason) => return Ok(Err(format!("links[{i}].{reason}"))),
            };
            let attributes = match self.attributes(lobj, &lpath)? {
                Ok(attributes) => attributes,
                Err(a) => return Ok(Err(too_deep(&format!("links[{i}].attributes[{a}]")))),
            };
            links.push(Link {
                trace_id,
                span_id,
                trace_state: self.string(lobj, "traceState", &lpath)?,
                attributes,
                dropped_attributes_count: self.u32(lobj, "droppedAttributesCount", &lpath)?,
                flags: self.u32(lobj, "flags", &lpath)?,
            });
        }
        Ok(Ok(Span {
            trace_id,
            span_id,
            trace_state: self.string(obj, "traceState", path)?,
            parent_span_id,
            name: self.string(obj, "name", path)?,
            kind: self.enumeration(obj, "kind", path, |n| {
                SpanKind::from_otlp_name(n).map(|k| k as i32)
            })?,
            start_time_unix_nano: self.u64(obj, "startTimeUnixNano", path)?,
            end_time_unix_nano: self.u64(obj, "endTimeUnixNano", path)?,
            attributes,
            dropped_attributes_count: self.u32(obj, "droppedAttributesCount", path)?,
            events,
            dropped_events_count: self.u32(obj, "droppedEventsCount", path)?,
            links,
            dropped_links_count: self.u32(obj, "droppedLinksCount", path)?,
            status,
            flags: self.u32(obj, "flags", path)?,
        }))
    }

    /// The `attributes` of `obj`, or `Err(i)` when attribute `i` nests too deep.
    fn attributes(
        &self,
        obj: &Map<String, Json>,
        path: &str,
    ) -> Result<Result<Vec<KeyValue>, usize>, JsonError> {
        let items = self.array(obj, "attributes", path)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, kv) in items.iter().enumerate() {
            match self.key_value(kv, &format!("{}[{i}]", join(path, "attributes")), 1) {
                Ok(kv) => out.push(kv),
                Err(Fault::TooDeep) => return Ok(Err(i)),
                Err(Fault::Malformed(e)) => return Err(e),
            }
        }
        Ok(Ok(out))
    }

    /// A key-value pair at nesting level `depth`, its value at the same level.
    fn key_value(&self, v: &Json, path: &str, depth: usize) -> Result<KeyValue, Fault> {
        if depth > MAX_ANY_VALUE_DEPTH {
            return Err(Fault::TooDeep);
        }
        let obj = self.object(v, path)?;
        let value = match field(obj, "value") {
            None => None,
            Some(v) => Some(self.any_value(v, &join(path, "value"), depth)?),
        };
        Ok(KeyValue {
            key: self.string(obj, "key", path)?,
            value,
        })
    }

    /// A value at nesting level `depth` (an attribute's own value is at level 1).
    fn any_value(&self, v: &Json, path: &str, depth: usize) -> Result<AnyValue, Fault> {
        if depth > MAX_ANY_VALUE_DEPTH {
            return Err(Fault::TooDeep);
        }
        let obj = self.object(v, path)?;
        let kinds = [
            "stringValue",
            "boolValue",
            "intValue",
            "doubleValue",
            "arrayValue",
            "kvlistValue",
            "bytesValue",
        ];
        let Some((key, inner)) = kinds
            .iter()
            .find_map(|k| field(obj, k).map(|inner| (*k, inner)))
        else {
            return Ok(AnyValue { value: None });
        };
        let vpath = join(path, key);
        let value = match key {
            "stringValue" => Value::StringValue(
                inner
                    .as_str()
                    .ok_or_else(|| {
                        err(
                            &vpath,
                            format!("expected a string, found {}", kind_of(inner)),
                        )
                    })?
                    .to_owned(),
            ),
            "boolValue" => Value::BoolValue(inner.as_bool().ok_or_else(|| {
                err(
                    &vpath,
                    format!("expected a boolean, found {}", kind_of(inner)),
                )
            })?),
            "intValue" => Value::IntValue(
                parse_i64(inner)
                    .ok_or_else(|| err(&vpath, format!("expected an integer, found {inner}")))?,
            ),
            "doubleValue" => Value::DoubleValue(
                parse_f64(inner)
                    .ok_or_else(|| err(&vpath, format!("expected a number, found {inner}")))?,
            ),
            "arrayValue" => {
                let aobj = self.object(inner, &vpath)?;
                let mut values = Vec::new();
                for (i, item) in self.array(aobj, "values", &vpath)?.iter().enumerate() {
                    values.push(self.any_value(
                        item,
                        &format!("{vpath}.values[{i}]"),
                        depth + 1,
                    )?);
                }
                Value::ArrayValue(ArrayValue { values })
            }
            "kvlistValue" => {
                let kobj = self.object(inner, &vpath)?;
                let mut values = Vec::new();
                for (i, item) in self.array(kobj, "values", &vpath)?.iter().enumerate() {
                    // An entry is a level of its own, with or without a value.
                    values.push(self.key_value(
                        item,
                        &format!("{vpath}.values[{i}]"),
                        depth + 1,
                    )?);
                }
                Value::KvlistValue(KeyValueList { values })
            }
            _ => {
                let s = inner.as_str().ok_or_else(|| {
                    err(&vpath, format!("expected base64, found {}", kind_of(inner)))
                })?;
                Value::BytesValue(decode_base64(s).ok_or_else(|| err(&vpath, "invalid base64"))?)
            }
        };
        Ok(AnyValue { value: Some(value) })
    }
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn parse_u64(v: &Json) -> Option<u64> {
    match v {
        Json::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.9e19)
                .map(|f| f as u64)
        }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_i64(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                .map(|f| f as i64)
        }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_f64(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.trim().parse().ok(),
        },
        _ => None,
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(s).ok())
}

/// Decodes an ID given as hex (OTLP/JSON) or base64 (protobuf's JSON mapping).
fn decode_id(s: &str, len: usize) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    if s.len() == len * 2 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(s).map_err(|e| e.to_string());
    }
    match decode_base64(s) {
        Some(bytes) if bytes.len() == len => Ok(bytes),
        _ if s.bytes().all(|b| b.is_ascii_hexdigit()) => Err(format!(
            "{s:?} has {} hex digits, expected {}",
            s.len(),
            len * 2
        )),
        _ => Err(format!(
            "{s:?} is neither {} hex digits nor base64 of {len} bytes",
            len * 2
        )),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn ids_in_hex_and_base64() {
        assert_eq!(
            decode_id("0102030405060708", 8).unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(
            decode_id("AQIDBAUGBwg=", 8).unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(
            decode_id("AQIDBAUGBwg", 8).unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert!(
            decode_id("01020304", 8)
                .unwrap_err()
                .contains("8 hex digits, expected 16")
        );
        assert!(decode_id("zz", 8).is_err());
    }

    #[test]
    fn snake_case_and_enum_names() {
        let body = br#"{"resource_spans":[{"scope_spans":[{"spans":[{
            "trace_id":"5b8efff798038103d269b633813fc60c","span_id":"eee19b7ec3c1b174",
            "kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR"},
            "start_time_unix_nano":1544712660000000000,"attributes":[
              {"key":"n","value":{"intValue":"42"}},
              {"key":"d","value":{"doubleValue":"NaN"}},
              {"key":"a","value":{"arrayValue":{"values":[{"boolValue":true}]}}},
              {"key":"e","value":null}
            ]}]}]}]}"#;
        let decoded = decode_traces_json(body).unwrap();
        let span = &decoded.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.attributes.len(), 4);
        assert_eq!(span.attributes[3].value, None);
    }

    #[test]
    fn structural_errors_name_the_path() {
        let e = decode_traces_json(br#"{"resourceSpans":[{"scopeSpans":{}}]}"#).unwrap_err();
        assert_eq!(e.path, "resourceSpans[0].scopeSpans");
        let e = decode_traces_json(
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SERVER"}]}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "resourceSpans[0].scopeSpans[0].spans[0].kind");
        assert!(decode_traces_json(b"{").is_err());
        assert!(decode_traces_json(b"[]").is_err());
    }

    #[test]
    fn undecodable_ids_drop_the_span() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"traceId":"not an id","spanId":"eee19b7ec3c1b174"},
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#;
        let decoded = decode_traces_json(body).unwrap();
        assert_eq!(decoded.resource_spans[0].scope_spans[0].spans.len(), 1);
        assert_eq!(decoded.rejected.len(), 1);
        assert!(
            decoded.rejected[0].contains("spans[0]: traceId"),
            "{:?}",
            decoded.rejected
        );
    }

    /// An OTLP/JSON value nested `depth` levels deep: key-value lists or arrays around a string.
    fn nested(depth: usize, kvlist: bool) -> String {
        let mut value = r#"{"stringValue":"leaf"}"#.to_owned();
        for _ in 1..depth {
            value = if kvlist {
                format!(r#"{{"kvlistValue":{{"values":[{{"key":"k","value":{value}}}]}}}}"#)
            } else {
                format!(r#"{{"arrayValue":{{"values":[{value}]}}}}"#)
            };
        }
        value
    }

    fn span_json(n: u8, event_value: Option<&str>) -> String {
        let events = match event_value {
            None => String::new(),
            Some(v) => format!(
                r#","events":[{{"name":"e","attributes":[{{"key":"ok","value":{{"intValue":1}}}},{{"key":"deep","value":{v}}}]}}]"#
            ),
        };
        format!(
            r#"{{"traceId":"{t}","spanId":"{s}","name":"op"{events}}}"#,
            t = format!("{n:02x}").repeat(16),
            s = format!("{n:02x}").repeat(8),
        )
    }

    fn body(resource: &str, scope: &str, spans: &[String]) -> String {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{resource}]}},"scopeSpans":[{{"scope":{{"name":"s","attributes":[{scope}]}},"spans":[{}]}}]}},{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
            spans.join(","),
            span_json(9, None),
        )
    }

    fn attribute(value: &str) -> String {
        format!(r#"{{"key":"deep","value":{value}}}"#)
    }

    #[test]
    fn a_span_nested_too_deep_is_dropped_alone() {
        for kvlist in [true, false] {
            let ok = nested(MAX_ANY_VALUE_DEPTH, kvlist);
            let deep = nested(MAX_ANY_VALUE_DEPTH + 1, kvlist);
            let spans = [
                span_json(1, Some(&ok)),
                span_json(2, Some(&deep)),
                span_json(3, None),
            ];
            let decoded = decode_traces_json(body("", "", &spans).as_bytes()).unwrap();
            let kept = &decoded.resource_spans[0].scope_spans[0].spans;
            assert_eq!(kept.len(), 2);
            assert_eq!(
                kept[0].events[0].attributes[1].value.as_ref().map(|_| ()),
                Some(())
            );
            assert_eq!(decoded.resource_spans[1].scope_spans[0].spans.len(), 1);
            assert_eq!(
                decoded.rejected,
                vec![format!(
                    "resourceSpans[0].scopeSpans[0].spans[1]: events[0].attributes[1]: value \
                     nested more than {MAX_ANY_VALUE_DEPTH} levels deep"
                )]
            );
            // What is kept is what protobuf keeps: it validates as it is, in one pass.
            let batch = tempo_core::Batch::new(decoded.resource_spans);
            assert_eq!((batch.span_count(), batch.rejected_spans()), (3, 0));
        }
    }

    #[test]
    fn an_entry_one_level_past_the_limit_is_too_deep_even_without_a_value() {
        let mut value = r#"{"kvlistValue":{"values":[{"key":"no value"}]}}"#.to_owned();
        for _ in 1..MAX_ANY_VALUE_DEPTH {
            value = format!(r#"{{"kvlistValue":{{"values":[{{"key":"k","value":{value}}}]}}}}"#);
        }
        let decoded =
            decode_traces_json(body("", "", &[span_json(1, Some(&value))]).as_bytes()).unwrap();
        assert_eq!(decoded.rejected.len(), 1, "{:?}", decoded.rejected);
    }

    #[test]
    fn a_resource_or_scope_nested_too_deep_takes_its_spans() {
        let deep = attribute(&nested(MAX_ANY_VALUE_DEPTH + 30, true));
        let spans = [span_json(1, None), span_json(0, None), span_json(3, None)];
        for (resource, scope, what) in [
            (deep.as_str(), "", "resource.attributes[0]"),
            ("", deep.as_str(), "scope.attributes[0]"),
        ] {
            let decoded = decode_traces_json(body(resource, scope, &spans).as_bytes()).unwrap();
            // The other resource spans are kept; nothing of the rejected one is.
            assert_eq!(decoded.resource_spans.len(), 1 + usize::from(scope == deep));
            let kept: usize = decoded
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            assert_eq!(kept, 1);
            assert_eq!(decoded.rejected.len(), 3);
            assert_eq!(
                decoded.rejected[1],
                format!(
                    "resourceSpans[0].scopeSpans[0].spans[1]: {what}: value nested more than \
                     {MAX_ANY_VALUE_DEPTH} levels deep"
                )
            );
        }
    }

    #[test]
    fn nothing_but_deep_nesting_is_refused_on_a_small_stack() {
        let run = || {
            let megabyte = 1 << 20;
            let arrays = format!("{}{}", "[".repeat(megabyte / 2), "]".repeat(megabyte / 2));
            let e = decode_traces_json(arrays.as_bytes()).unwrap_err();
            assert_eq!(
                (e.path.as_str(), e.message.as_str()),
                ("$", "expected an object, found an array")
            );
            let unclosed = "[".repeat(megabyte);
            assert!(decode_traces_json(unclosed.as_bytes()).is_err());
            let inside = format!(
                r#"{{"resourceSpans":[{}{}]}}"#,
                "[".repeat(megabyte / 2),
                "]".repeat(megabyte / 2)
            );
            let e = decode_traces_json(inside.as_bytes()).unwrap_err();
            assert_eq!(e.path, "resourceSpans[0]");
            // A megabyte-deep value in one span among good ones: that span alone is dropped.
            let mut value = r#"{"stringValue":"x"}"#.to_owned();
            let levels = megabyte / 24;
            value = format!(
                "{}{value}{}",
                r#"{"arrayValue":{"values":["#.repeat(levels),
                "]}}".repeat(levels)
            );
            let spans = [
                span_json(1, None),
                span_json(2, Some(&value)),
                span_json(3, None),
            ];
            let decoded = decode_traces_json(body("", "", &spans).as_bytes()).unwrap();
            assert_eq!(decoded.rejected.len(), 1);
            assert_eq!(decoded.resource_spans[0].scope_spans[0].spans.len(), 2);
            // The deepest document the decoder builds.
            let ok = nested(MAX_ANY_VALUE_DEPTH, true);
            let decoded =
                decode_traces_json(body("", "", &[span_json(1, Some(&ok))]).as_bytes()).unwrap();
            assert!(decoded.rejected.is_empty());
        };
        // Well below the 2 MiB of a runtime's worker threads, in a debug build.
        std::thread::Builder::new()
            .stack_size(STACK_BYTES)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
    }

    const STACK_BYTES: usize = 512 << 10;
}
