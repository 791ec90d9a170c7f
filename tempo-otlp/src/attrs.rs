//! attrs: which attributes does a mapped span end up with?
//!
//! An attribute map with the OpenTelemetry Collector's `pcommon.Map` semantics, which the
//! Jaeger and Zipkin mappings rely on: putting a key that exists replaces its value in place,
//! removing a key forgets it, and the order is that of first insertion. Lookups are hashed,
//! so a span with many tags maps in linear time.

use std::collections::HashMap;

use tempo_core::model::{AnyValue, KeyValue, Value};

/// Attributes being built.
#[derive(Debug, Default)]
pub(crate) struct Attrs {
    entries: Vec<Option<KeyValue>>,
    index: HashMap<String, usize>,
}

impl Attrs {
    /// Sets `key` to `value`, replacing any value it had.
    pub(crate) fn put(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        let value = Some(AnyValue { value: Some(value) });
        match self.index.get(&key) {
            Some(&i) => {
                if let Some(Some(kv)) = self.entries.get_mut(i) {
                    kv.value = value;
                }
            }
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push(Some(KeyValue { key, value }));
            }
        }
    }

    /// Sets `key` to `value` unless it is set already.
    pub(crate) fn insert(&mut self, key: &str, value: Value) {
        if !self.index.contains_key(key) {
            self.put(key, value);
        }
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        let i = *self.index.get(key)?;
        self.entries
            .get(i)?
            .as_ref()?
            .value
            .as_ref()?
            .value
            .as_ref()
    }

    /// The value of `key` when it is a string; `""` for another type, as `pcommon`'s `Str()`.
    pub(crate) fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).map(|v| match v {
            Value::StringValue(s) => s.as_str(),
            _ => "",
        })
    }

    /// Removes `key`, returning its value.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.index.remove(key)?;
        self.entries.get_mut(i)?.take()?.value?.value
    }

    /// The attributes, in the order they were first set.
    pub(crate) fn into_vec(self) -> Vec<KeyValue> {
        self.entries.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_replaces_in_place_and_remove_forgets() {
        let mut a = Attrs::default();
        a.put("a", Value::IntValue(1));
        a.put("b", Value::StringValue("x".into()));
        a.put("a", Value::IntValue(2));
        a.insert("b", Value::IntValue(9));
        assert_eq!(a.get_str("b"), Some("x"));
        assert_eq!(a.get_str("a"), Some(""));
        assert_eq!(a.remove("b"), Some(Value::StringValue("x".into())));
        assert_eq!(a.remove("b"), None);
        a.put("b", Value::BoolValue(true));
        let keys: Vec<_> = a.into_vec().into_iter().map(|kv| kv.key).collect();
        assert_eq!(keys, ["a", "b"]);
    }
}
