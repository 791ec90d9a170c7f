//! filter: which spans a processor counts (Tempo's `filter_policies`).
//!
//! A policy has an `include` part (every attribute must match), an `include_any` part (one
//! must) and an `exclude` part (a span meeting it is left out); a span is counted when it
//! passes every policy. Keys are `resource.<name>`, `span.<name>`, or the intrinsics `name`,
//! `kind` (`SPAN_KIND_SERVER`, ...) and `status` (`STATUS_CODE_ERROR`, ...).

use regex::Regex;

use crate::model::{AnyValue, KeyValue, Span, Value};

/// How values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchType {
    /// Equal values (`strict`, the default).
    #[default]
    Strict,
    /// The value's text matches a regular expression, anywhere in it (`regex`).
    Regex,
}

/// One attribute a policy part looks at.
#[derive(Debug, Clone)]
pub struct AttributeMatch {
    /// `resource.<name>`, `span.<name>`, `name`, `kind` or `status`.
    pub key: String,
    /// The value, as text (numbers and booleans compare by their text).
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for AttributeMatch {
    fn eq(&self, other: &AttributeMatch) -> bool {
        self.key == other.key && self.value == other.value
    }
}

impl AttributeMatch {
    /// A match of `key` against `value`; with [`MatchType::Regex`], `value` must be a valid
    /// regular expression (the error names it).
    pub fn new(key: &str, value: &str, match_type: MatchType) -> Result<AttributeMatch, String> {
        let key = key.trim();
        let scoped = key.starts_with("resource.") || key.starts_with("span.");
        if !scoped && !matches!(key, "name" | "kind" | "status") {
            return Err(format!(
                "filter policy key {key:?} is neither resource.<name>, span.<name>, name, kind nor status"
            ));
        }
        let regex = match match_type {
            MatchType::Strict => None,
            MatchType::Regex => Some(
                Regex::new(value)
                    .map_err(|e| format!("filter policy value {value:?} of {key:?}: {e}"))?,
            ),
        };
        Ok(AttributeMatch {
            key: key.to_owned(),
            value: value.to_owned(),
            regex,
        })
    }

    fn matches(&self, resource: &[KeyValue], span: &Span) -> bool {
        let text: Option<std::borrow::Cow<'_, str>> = match self.key.as_str() {
            "name" => Some(span.name.as_str().into()),
            "kind" => Some(super::spanmetrics::kind_label(span.kind).into()),
            "status" => Some(
                super::spanmetrics::status_label(span.status.as_ref().map_or(0, |s| s.code)).into(),
            ),
            key => {
                let (attrs, name) = match key.strip_prefix("resource.") {
                    Some(name) => (resource, name),
                    None => (&span.attributes[..], &key["span.".len()..]),
                };
                attrs
                    .iter()
                    .find(|kv| kv.key == name)
                    .and_then(|kv| kv.value.as_ref())
                    .and_then(value_text)
            }
        };
        let Some(text) = text else {
            return false;
        };
        match &self.regex {
            Some(re) => re.is_match(&text),
            None => text == self.value,
        }
    }
}

fn value_text(v: &AnyValue) -> Option<std::borrow::Cow<'_, str>> {
    Some(match v.value.as_ref()? {
        Value::StringValue(s) => s.as_str().into(),
        Value::IntValue(i) => i.to_string().into(),
        Value::DoubleValue(f) => f.to_string().into(),
        Value::BoolValue(b) => b.to_string().into(),
        _ => return None,
    })
}

/// One part of a policy: its attributes, compared one way.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyMatch {
    /// How values are compared.
    pub match_type: MatchType,
    /// The attributes.
    pub attributes: Vec<AttributeMatch>,
}

/// One filter policy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilterPolicy {
    /// A span must match every attribute.
    pub include: Option<PolicyMatch>,
    /// A span must match at least one attribute.
    pub include_any: Option<PolicyMatch>,
    /// A span matching every attribute is left out.
    pub exclude: Option<PolicyMatch>,
}

impl FilterPolicy {
    fn keeps(&self, resource: &[KeyValue], span: &Span) -> bool {
        let matches = |a: &AttributeMatch| a.matches(resource, span);
        let include = self
            .include
            .as_ref()
            .is_none_or(|p| p.attributes.iter().all(matches));
        let include_any = self
            .include_any
            .as_ref()
            .is_none_or(|p| p.attributes.iter().any(matches));
        let exclude = self
            .exclude
            .as_ref()
            .is_some_and(|p| !p.attributes.is_empty() && p.attributes.iter().all(matches));
        include && include_any && !exclude
    }
}

/// Whether a span passes every policy.
pub(crate) fn keeps(policies: &[FilterPolicy], resource: &[KeyValue], span: &Span) -> bool {
    policies.iter().all(|p| p.keeps(resource, span))
}
