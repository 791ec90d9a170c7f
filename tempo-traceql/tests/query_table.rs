//! Every query of `queries.txt` is accepted or refused with the expected
//! error kind; every accepted query round-trips through the formatter.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use tempo_traceql::{ErrorKind, format, parse, parse_unchecked};

const TABLE: &str = include_str!("queries.txt");

struct Row<'a> {
    line: usize,
    kind: &'a str,
    query: &'a str,
    canonical: Option<&'a str>,
}

fn rows() -> Vec<Row<'static>> {
    TABLE
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| {
            let (kind, rest) = l.split_once('\t').unwrap();
            let (query, canonical) = match (kind, rest.split_once('\t')) {
                ("ok", Some((q, c))) if !q.trim().is_empty() && c.starts_with(['{', '(']) => {
                    (q, Some(c))
                }
                _ => (rest, None),
            };
            Row {
                line: i + 1,
                kind,
                query,
                canonical,
            }
        })
        .collect()
}

#[test]
fn the_table_is_large_enough() {
    let rows = rows();
    assert!(rows.len() >= 250, "{} rows", rows.len());
    for kind in ["ok", "parse", "validation", "unsupported"] {
        assert!(rows.iter().any(|r| r.kind == kind), "no {kind} rows");
    }
}

/// Checks one row; returns what is wrong, if anything.
fn check(row: &Row<'_>) -> Option<String> {
    let got = parse(row.query);
    let expected = match row.kind {
        "ok" => None,
        "parse" => Some(ErrorKind::Parse),
        "validation" => Some(ErrorKind::Validation),
        "unsupported" => Some(ErrorKind::Unsupported),
        other => panic!("line {}: unknown kind {other}", row.line),
    };
    match (&got, expected) {
        (Ok(q), None) => {
            let text = format(q);
            if let Some(c) = row.canonical
                && text != c
            {
                return Some(format!(
                    "line {}: formatted as {text:?}, expected {c:?}",
                    row.line
                ));
            }
            match parse(&text) {
                Ok(back) if back == *q => None,
                other => Some(format!(
                    "line {}: {:?} formats as {text:?}, which parses as {other:?}",
                    row.line, row.query
                )),
            }
        }
        (Err(e), Some(k)) if e.kind() == k => {
            // Every error renders with a caret and points inside the query.
            let rendered = e.to_string();
            assert!(rendered.contains('^'), "{rendered}");
            assert!(
                e.span().start <= row.query.len(),
                "line {}: {e:?}",
                row.line
            );
            assert!(!e.message().is_empty());
            None
        }
        (Ok(_), Some(k)) => Some(format!(
            "line {}: {:?} was accepted, expected a {k} error",
            row.line, row.query
        )),
        (Err(e), _) => Some(format!(
            "line {}: {:?} expected {}, got:\n{e}",
            row.line, row.query, row.kind
        )),
    }
}

#[test]
fn every_query_gets_the_expected_outcome() {
    let failures: Vec<String> = rows().iter().filter_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Rows too large for `queries.txt`: deep and long queries, generated. Nesting past
/// `MAX_DEPTH` and text past `MAX_QUERY_BYTES` are parse errors; long runs of `&&` and `||`
/// and long pipelines are fine.
fn generated_rows() -> Vec<(&'static str, String)> {
    let conditions =
        |op: &str, n: usize| format!("{{ .a = 1{} }}", format!(" {op} .a = 1").repeat(n - 1));
    vec![
        (
            "parse",
            format!("{{ {}.a = 1{} }}", "(".repeat(100_000), ")".repeat(100_000)),
        ),
        (
            "parse",
            format!("{}{{}}{}", "(".repeat(100_000), ")".repeat(100_000)),
        ),
        ("parse", format!("{{ {}.a }}", "!".repeat(100_000))),
        ("parse", format!("{{ {}.a > 1 }}", "- ".repeat(20_000))),
        ("parse", format!("{{ {}.a > 1 }}", "- ".repeat(100_000))),
        ("parse", format!("{{ .a{} > 1 }}", " + .a".repeat(10_000))),
        ("parse", vec!["{}"; 10_000].join(" >> ")),
        ("parse", vec!["{}"; 100_000].join(" >> ")),
        (
            "parse",
            format!("{}{{}}{}", "({} | ".repeat(1_000), ")".repeat(1_000)),
        ),
        (
            "parse",
            format!("{{}} | count(){} > 1", " + count()".repeat(1_000)),
        ),
        ("parse", conditions("&&", 100_000)),
        ("parse", conditions("||", 100_000)),
        ("parse", format!("{{ .a = \"{}\" }}", "x".repeat(200_000))),
        ("ok", conditions("&&", 10_000)),
        ("ok", conditions("||", 10_000)),
        ("ok", vec!["{ .a = 1 }"; 5_000].join(" && ")),
        ("ok", vec!["{ .a = 1 }"; 5_000].join(" || ")),
        ("ok", vec!["{ .a = 1 }"; 5_000].join(" | ")),
        (
            "ok",
            format!("{{ {}.a = 1{} }}", "(".repeat(100), ")".repeat(100)),
        ),
        ("ok", format!("{{ {}.a }}", "!".repeat(100))),
        ("ok", vec!["{}"; 100].join(" >> ")),
        ("ok", format!("{{ .a = \"{}\" }}", "x".repeat(100_000))),
    ]
}

#[test]
fn generated_deep_and_long_queries_get_the_expected_outcome() {
    let rows = generated_rows();
    let failures: Vec<String> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, (kind, query))| {
            check(&Row {
                line: i + 1,
                kind,
                query,
                canonical: None,
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|f| f.chars().take(300).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn mutated_queries_never_panic_and_accepted_ones_round_trip() {
    // A cheap, deterministic fuzzer: truncate, delete and insert characters
    // in every query of the table.
    let inserts = [
        "{", "}", "(", ")", "\"", "`", "\\", ".", ":", "|", "&", "!", "-", "µ", "é", "1", "s", " ",
        "&&", ">>", "!~", "=~", "nil", "span.", "with(", "by(",
    ];
    for row in rows() {
        let q = row.query;
        let mut cases = Vec::new();
        for (i, _) in q.char_indices() {
            cases.push(q[..i].to_string());
            let mut deleted = String::from(&q[..i]);
            deleted.push_str(q[i..].chars().skip(1).collect::<String>().as_str());
            cases.push(deleted);
            for ins in inserts {
                cases.push(format!("{}{ins}{}", &q[..i], &q[i..]));
            }
        }
        for case in cases {
            let _ = tempo_traceql::parse_lenient(&case);
            match parse_unchecked(&case) {
                Ok(parsed) => {
                    let _ = tempo_traceql::validate(&parsed);
                    let text = format(&parsed);
                    let back = parse_unchecked(&text);
                    assert_eq!(
                        back.as_ref().ok(),
                        Some(&parsed),
                        "{case:?} -> {text:?}: {back:?}"
                    );
                }
                Err(e) => {
                    let _ = e.render(&case);
                }
            }
        }
    }
}
