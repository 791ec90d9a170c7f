//! Every query of `queries.txt` is accepted or refused with the expected
//! error kind; every accepted query round-trips through the formatter.
#![allow(clippy::unwrap_used)]

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
                ("ok", Some((q, c))) if !q.trim().is_empty() && c.starts_with('{') => (q, Some(c)),
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

#[test]
fn every_query_gets_the_expected_outcome() {
    let mut failures = Vec::new();
    for row in rows() {
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
                    failures.push(format!(
                        "line {}: formatted as {text:?}, expected {c:?}",
                        row.line
                    ));
                }
                match parse(&text) {
                    Ok(back) if back == *q => {}
                    other => failures.push(format!(
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
            }
            (Ok(_), Some(k)) => failures.push(format!(
                "line {}: {:?} was accepted, expected a {k} error",
                row.line, row.query
            )),
            (Err(e), _) => failures.push(format!(
                "line {}: {:?} expected {}, got:\n{e}",
                row.line, row.query, row.kind
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
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
