//! tree: what does this trace look like, as indented text?
//!
//! Builds the parent/child tree of a stored trace, renders it for failure messages (one span a
//! line: name, service, kind, status and attributes), and parses and compares the indented
//! "expected tree" notation of [`Harness::assert_tree`](super::Harness::assert_tree).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use tempo_core::model::{KeyValue, SpanKind, StatusCode, TraceId, TracesData, Value};

/// Attributes of a span shown on its line, at most.
const MAX_ATTRIBUTES: usize = 8;
/// Characters of an attribute value shown, at most.
const MAX_VALUE_CHARS: usize = 60;

/// Attributes left out of rendered lines: `tracing-opentelemetry`'s source location, thread
/// and timing attributes, which change from run to run or from edit to edit.
fn is_noise(key: &str) -> bool {
    key.starts_with("code.")
        || key.starts_with("thread.")
        || matches!(key, "busy_ns" | "idle_ns" | "target")
}

/// One span of a trace, with what a line shows.
#[derive(Debug)]
struct Node {
    span_id: Vec<u8>,
    name: String,
    service: Option<String>,
    kind: i32,
    status: i32,
    status_message: String,
    attributes: Vec<KeyValue>,
    start: u64,
    /// The span names a parent that is not in the trace.
    orphan: bool,
    children: Vec<usize>,
}

/// A stored trace as a forest: roots (and orphans) with their children, by start time.
#[derive(Debug)]
pub(crate) struct TraceTree {
    pub(crate) trace_id: TraceId,
    nodes: Vec<Node>,
    roots: Vec<usize>,
}

impl TraceTree {
    /// The tree of `data`, the spans of trace `trace_id`.
    pub(crate) fn new(trace_id: TraceId, data: &TracesData) -> TraceTree {
        let mut nodes = Vec::new();
        let mut parents = Vec::new();
        for resource_spans in &data.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| string_attribute(&r.attributes, "service.name"));
            for scope_spans in &resource_spans.scope_spans {
                for span in &scope_spans.spans {
                    let status = span.status.as_ref();
                    nodes.push(Node {
                        span_id: span.span_id.clone(),
                        name: span.name.clone(),
                        service: service.clone(),
                        kind: span.kind,
                        status: status.map_or(0, |s| s.code),
                        status_message: status.map(|s| s.message.clone()).unwrap_or_default(),
                        attributes: span.attributes.clone(),
                        start: span.start_time_unix_nano,
                        orphan: false,
                        children: Vec::new(),
                    });
                    parents.push(span.parent_span_id.clone());
                }
            }
        }
        let index: HashMap<Vec<u8>, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.span_id.clone(), i))
            .collect();
        let mut roots = Vec::new();
        for (i, parent) in parents.iter().enumerate() {
            match index.get(parent) {
                Some(&p) if !parent.is_empty() && p != i => nodes[p].children.push(i),
                _ => {
                    nodes[i].orphan = !parent.is_empty();
                    roots.push(i);
                }
            }
        }
        let order = |nodes: &[Node], list: &mut Vec<usize>| {
            list.sort_by(|&a, &b| {
                (nodes[a].start, &nodes[a].span_id).cmp(&(nodes[b].start, &nodes[b].span_id))
            });
        };
        for i in 0..nodes.len() {
            let mut children = std::mem::take(&mut nodes[i].children);
            order(&nodes, &mut children);
            nodes[i].children = children;
        }
        order(&nodes, &mut roots);
        TraceTree {
            trace_id,
            nodes,
            roots,
        }
    }

    /// The earliest span start.
    pub(crate) fn start(&self) -> u64 {
        self.nodes.iter().map(|n| n.start).min().unwrap_or(0)
    }

    /// Number of spans.
    pub(crate) fn span_count(&self) -> usize {
        self.nodes.len()
    }

    /// Appends the tree, one span a line, each line starting with `indent`, then a two-column
    /// marker (`* ` for spans in `marked`), then two spaces per level.
    pub(crate) fn render(&self, out: &mut String, indent: &str, marked: &HashSet<Vec<u8>>) {
        // A parent cycle (only possible with malformed data) cannot reach a root: show
        // unreachable spans as roots so that nothing is hidden.
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<(usize, usize)> = self.roots.iter().rev().map(|&r| (r, 0)).collect();
        let mut next_unseen = 0;
        loop {
            let Some((i, depth)) = stack.pop() else {
                match (next_unseen..self.nodes.len()).find(|&i| !seen[i]) {
                    Some(i) => {
                        next_unseen = i + 1;
                        stack.push((i, 0));
                        continue;
                    }
                    None => break,
                }
            };
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let node = &self.nodes[i];
            let marker = if marked.contains(&node.span_id) {
                "* "
            } else {
                "  "
            };
            let _ = writeln!(
                out,
                "{indent}{marker}{}{}",
                "  ".repeat(depth),
                describe(node)
            );
            stack.extend(node.children.iter().rev().map(|&c| (c, depth + 1)));
        }
    }

    /// The names, as a forest, for comparison with an expected tree.
    pub(crate) fn shape(&self) -> Vec<Shape> {
        fn build(tree: &TraceTree, i: usize, depth: usize) -> Shape {
            let node = &tree.nodes[i];
            // A cycle cannot be deeper than the trace has spans.
            let children = if depth > tree.nodes.len() {
                Vec::new()
            } else {
                node.children
                    .iter()
                    .map(|&c| build(tree, c, depth + 1))
                    .collect()
            };
            Shape {
                name: node.name.clone(),
                children,
            }
        }
        self.roots.iter().map(|&r| build(self, r, 0)).collect()
    }
}

/// One span line: `name  service=.. kind=.. status=.. attributes`.
fn describe(node: &Node) -> String {
    let mut line = node.name.clone();
    line.push(' ');
    if let Some(service) = &node.service {
        let _ = write!(line, " service={service}");
    }
    let kind = SpanKind::try_from(node.kind).unwrap_or(SpanKind::Unspecified);
    if !matches!(kind, SpanKind::Internal | SpanKind::Unspecified) {
        let _ = write!(line, " kind={}", kind_name(kind));
    }
    match StatusCode::try_from(node.status) {
        Ok(StatusCode::Error) => line.push_str(" status=error"),
        Ok(StatusCode::Ok) => line.push_str(" status=ok"),
        _ => {}
    }
    if !node.status_message.is_empty() {
        let _ = write!(line, " statusMessage={}", quoted(&node.status_message));
    }
    let shown: Vec<&KeyValue> = node
        .attributes
        .iter()
        .filter(|kv| !is_noise(&kv.key))
        .collect();
    for kv in shown.iter().take(MAX_ATTRIBUTES) {
        let value = kv
            .value
            .as_ref()
            .and_then(|v| v.value.as_ref())
            .map_or_else(|| "nil".to_owned(), format_value);
        let _ = write!(line, " {}={value}", kv.key);
    }
    if shown.len() > MAX_ATTRIBUTES {
        let _ = write!(line, " (+{} more)", shown.len() - MAX_ATTRIBUTES);
    }
    if node.orphan {
        line.push_str(" (parent not in trace)");
    }
    line
}

/// TraceQL's name for a kind.
fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

fn format_value(value: &Value) -> String {
    match value {
        Value::StringValue(s) => quoted(s),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(f) => format!("{f:?}"),
        Value::BytesValue(b) => format!("0x{}", hex::encode(b)),
        Value::ArrayValue(array) => {
            let items: Vec<String> = array
                .values
                .iter()
                .map(|v| v.value.as_ref().map_or_else(|| "nil".into(), format_value))
                .collect();
            format!("[{}]", items.join(", "))
        }
        Value::KvlistValue(list) => {
            let items: Vec<String> = list
                .values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                    format!(
                        "{}={}",
                        kv.key,
                        v.map_or_else(|| "nil".into(), format_value)
                    )
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// A string value in double quotes, shortened past [`MAX_VALUE_CHARS`].
fn quoted(s: &str) -> String {
    let mut text: String = s.chars().take(MAX_VALUE_CHARS).collect();
    if text.len() < s.len() {
        text.push('…');
    }
    format!("{text:?}")
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        }
    })
}

/// A tree of span names: what [`Harness::assert_tree`](super::Harness::assert_tree) compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    name: String,
    children: Vec<Shape>,
}

/// Parses the indented notation: one span name a line, children indented deeper than their
/// parent (by any number of spaces, consistently within a level). Blank lines are ignored, and
/// so is the indentation common to every line.
pub(crate) fn parse_expected(text: &str) -> Result<Vec<Shape>, String> {
    let mut lines = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        let name = line.trim_start();
        let lead = &line[..line.len() - name.len()];
        if lead.contains('\t') {
            return Err(format!(
                "line {}: indent with spaces, not tabs: {raw:?}",
                n + 1
            ));
        }
        lines.push((n + 1, lead.len(), name.to_owned()));
    }
    // (indent, shape) of the open ancestors; the bottom entry is a virtual root.
    let mut stack: Vec<(Option<usize>, Shape)> = vec![(
        None,
        Shape {
            name: String::new(),
            children: Vec::new(),
        },
    )];
    let base = lines.iter().map(|l| l.1).min().unwrap_or(0);
    for (n, indent, name) in lines {
        let indent = indent - base;
        // Close every ancestor at this indent or deeper.
        while stack.len() > 1 && stack.last().is_some_and(|(i, _)| i.unwrap_or(0) >= indent) {
            let closed_indent = stack.last().and_then(|(i, _)| *i).unwrap_or(0);
            close(&mut stack);
            let parent_indent = stack.last().and_then(|(i, _)| *i);
            if closed_indent > indent && parent_indent.is_some_and(|p| p < indent) {
                return Err(format!(
                    "line {n}: {name:?} is indented by {indent}, which matches no enclosing level"
                ));
            }
        }
        stack.push((
            Some(indent),
            Shape {
                name,
                children: Vec::new(),
            },
        ));
    }
    while stack.len() > 1 {
        close(&mut stack);
    }
    let root = stack.pop().map(|(_, s)| s.children).unwrap_or_default();
    if root.is_empty() {
        return Err("the expected tree is empty".to_owned());
    }
    Ok(root)
}

fn close(stack: &mut Vec<(Option<usize>, Shape)>) {
    if let Some((_, shape)) = stack.pop()
        && let Some((_, parent)) = stack.last_mut()
    {
        parent.children.push(shape);
    }
}

/// Whether two forests are equal, siblings compared as multisets.
pub(crate) fn same_shape(a: &[Shape], b: &[Shape]) -> bool {
    canonical(a) == canonical(b)
}

/// The forest as text with siblings sorted, so that equal multisets give equal text.
fn canonical(forest: &[Shape]) -> String {
    let mut parts: Vec<String> = forest
        .iter()
        .map(|s| {
            let children = canonical(&s.children);
            format!("{}({children})", escape(&s.name))
        })
        .collect();
    parts.sort();
    parts.join(",")
}

fn escape(name: &str) -> String {
    name.replace('\\', "\\\\")
        .replace('(', "\\(")
        .replace(')', "\\)")
        .replace(',', "\\,")
}

/// Appends the forest, one name a line, indented like [`TraceTree::render`].
pub(crate) fn render_shape(out: &mut String, indent: &str, forest: &[Shape]) {
    fn walk(out: &mut String, indent: &str, shape: &Shape, depth: usize) {
        let _ = writeln!(out, "{indent}  {}{}", "  ".repeat(depth), shape.name);
        for child in &shape.children {
            walk(out, indent, child, depth + 1);
        }
    }
    for shape in forest {
        walk(out, indent, shape, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(name: &str) -> Shape {
        Shape {
            name: name.into(),
            children: vec![],
        }
    }

    fn node(name: &str, children: Vec<Shape>) -> Shape {
        Shape {
            name: name.into(),
            children,
        }
    }

    #[test]
    fn parses_indented_names() {
        let parsed = parse_expected(
            "
            GET /
              db.query
                pool.acquire
              cache.get
            background
            ",
        );
        assert_eq!(
            parsed,
            Ok(vec![
                node(
                    "GET /",
                    vec![
                        node("db.query", vec![leaf("pool.acquire")]),
                        leaf("cache.get")
                    ]
                ),
                leaf("background"),
            ])
        );
    }

    #[test]
    fn rejects_tabs_and_stray_indents() {
        assert!(parse_expected("a\n\tb").is_err());
        let err = parse_expected("a\n    b\n  c").err().unwrap_or_default();
        assert!(err.contains("line 3"), "{err}");
        assert!(parse_expected("  \n").is_err());
    }

    #[test]
    fn sibling_order_does_not_matter() {
        let a = vec![node("r", vec![leaf("x"), leaf("y")])];
        let b = vec![node("r", vec![leaf("y"), leaf("x")])];
        let c = vec![node("r", vec![leaf("y"), node("x", vec![leaf("z")])])];
        assert!(same_shape(&a, &b));
        assert!(!same_shape(&a, &c));
        // Names with the separators cannot make two different trees look alike.
        let d = vec![leaf("a(b)")];
        let e = vec![node("a", vec![leaf("b")])];
        assert!(!same_shape(&d, &e));
    }
}
