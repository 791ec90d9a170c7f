//! tags: what bytes does Tempo send back for tag names and values?
//!
//! The bodies of `/api/search/tags`, `/api/search/tag/{tag}/values` and their v2 forms, JSON
//! only, with the rules of [`jsonpb`](super::jsonpb).

use tempo_core::{TagScope, TagValue};

use super::jsonpb::JsonWriter;

/// The body of `GET /api/search/tags`: `{"tagNames":[...]}`; `{}` when there are none, as
/// jsonpb leaves an empty list out.
pub(crate) fn tag_names_json(names: &[String]) -> Vec<u8> {
    let mut w = JsonWriter::with_capacity(64 + names.len() * 24);
    let mut obj = w.begin_object();
    if !names.is_empty() {
        obj.key(&mut w, "tagNames");
        w.array(names, |w, s| w.string(s));
    }
    obj.end(&mut w);
    w.finish()
}

/// The body of `GET /api/v2/search/tags`:
/// `{"scopes":[{"name":"resource","tags":[...]},...]}`, in the order given. Scopes without
/// tags are left out, as Tempo only lists scopes it found tags in; `{}` when none has any.
pub(crate) fn tag_scopes_json(scopes: &[(TagScope, Vec<String>)]) -> Vec<u8> {
    let scopes: Vec<&(TagScope, Vec<String>)> =
        scopes.iter().filter(|(_, tags)| !tags.is_empty()).collect();
    let count: usize = scopes.iter().map(|(_, tags)| tags.len()).sum();
    let mut w = JsonWriter::with_capacity(64 + count * 24);
    let mut obj = w.begin_object();
    if !scopes.is_empty() {
        obj.key(&mut w, "scopes");
        w.array(&scopes, |w, (scope, tags)| {
            let mut s = w.begin_object();
            s.key(w, "name");
            w.raw_string(scope.as_str());
            s.key(w, "tags");
            w.array(tags, |w, t| w.string(t));
            s.end(w);
        });
    }
    obj.end(&mut w);
    w.finish()
}

/// The body of `GET /api/search/tag/{tag}/values`: `{"tagValues":["..."]}`, the values as
/// plain strings; `{}` when there are none.
pub(crate) fn tag_values_json(values: &[TagValue]) -> Vec<u8> {
    let mut w = JsonWriter::with_capacity(64 + values.len() * 24);
    let mut obj = w.begin_object();
    if !values.is_empty() {
        obj.key(&mut w, "tagValues");
        w.array(values, |w, v| w.string(&v.value));
    }
    obj.end(&mut w);
    w.finish()
}

/// The body of `GET /api/v2/search/tag/{tag}/values`:
/// `{"tagValues":[{"type":"string","value":"..."}]}`; `{}` when there are none. An empty
/// value is left out of its object, as jsonpb does with empty strings.
pub(crate) fn tag_values_v2_json(values: &[TagValue]) -> Vec<u8> {
    let mut w = JsonWriter::with_capacity(64 + values.len() * 40);
    let mut obj = w.begin_object();
    if !values.is_empty() {
        obj.key(&mut w, "tagValues");
        w.array(values, |w, v| {
            let mut o = w.begin_object();
            o.key(w, "type");
            w.raw_string(v.kind.as_str());
            w.string_field(&mut o, "value", &v.value);
            o.end(w);
        });
    }
    obj.end(&mut w);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::render::json_text as text;

    #[test]
    fn tag_bodies() {
        let names = vec!["a".to_owned(), "b&c".to_owned()];
        assert_eq!(
            text(tag_names_json(&names)),
            r#"{"tagNames":["a","b\u0026c"]}"#
        );
        assert_eq!(text(tag_names_json(&[])), "{}");
        let scopes = vec![
            (TagScope::Resource, vec!["service.name".to_owned()]),
            (TagScope::Span, Vec::new()),
            (
                TagScope::Intrinsic,
                vec!["name".to_owned(), "status".to_owned()],
            ),
        ];
        assert_eq!(
            text(tag_scopes_json(&scopes)),
            r#"{"scopes":[{"name":"resource","tags":["service.name"]},{"name":"intrinsic","tags":["name","status"]}]}"#
        );
        assert_eq!(text(tag_scopes_json(&scopes[1..2])), "{}");
        let values = vec![
            TagValue {
                kind: tempo_core::TagValueType::Int,
                value: "500".into(),
            },
            TagValue {
                kind: tempo_core::TagValueType::String,
                value: String::new(),
            },
            TagValue {
                kind: tempo_core::TagValueType::Keyword,
                value: "error".into(),
            },
        ];
        assert_eq!(
            text(tag_values_json(&values)),
            r#"{"tagValues":["500","","error"]}"#
        );
        assert_eq!(
            text(tag_values_v2_json(&values)),
            r#"{"tagValues":[{"type":"int","value":"500"},{"type":"string"},{"type":"keyword","value":"error"}]}"#
        );
        assert_eq!(text(tag_values_v2_json(&[])), "{}");
    }
}
