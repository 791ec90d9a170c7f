//! No query takes the process down: nesting past [`MAX_DEPTH`] and text past
//! [`MAX_QUERY_BYTES`] are parse errors with a position and a short message, and every tree
//! the parser accepts can be validated, formatted, explained, compared, cloned and dropped
//! on a small stack. Long runs of `&&` and `||` are not nesting: they are accepted.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use tempo_traceql::*;

/// Runs `f` on a thread with a small stack (a quarter of the 2 MiB threads get by default),
/// so that a recursion that grows with the query shows up here first.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(
            std::env::var("STK")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(512)
                * 1024,
        )
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// A query of some shape, `n` levels deep.
type Shape = fn(usize) -> String;

/// The shapes of deep queries, by name.
fn shapes() -> Vec<(&'static str, Shape)> {
    vec![
        ("brackets in a filter", |n| {
            format!("{{ {}.a = 1{} }}", "(".repeat(n), ")".repeat(n))
        }),
        ("brackets around spansets", |n| {
            format!("{}{{ .a = 1 }}{}", "(".repeat(n), ")".repeat(n))
        }),
        ("negations", |n| format!("{{ {}.a }}", "!".repeat(n))),
        ("minus signs", |n| format!("{{ {}.a > 1 }}", "- ".repeat(n))),
        ("arithmetic", |n| {
            format!("{{ .a{} > 1 }}", " + .a".repeat(n))
        }),
        ("comparisons", |n| format!("{{ .a{} }}", " = .a".repeat(n))),
        ("structural operators", |n| {
            vec!["{ .a = 1 }"; n + 1].join(" >> ")
        }),
        ("nested pipelines", |n| {
            format!("{}{{ }}{}", "({ } | ".repeat(n), ")".repeat(n))
        }),
        ("aggregate arithmetic", |n| {
            format!("{{ }} | count(){} > 1", " + count()".repeat(n))
        }),
        ("metrics arithmetic", |n| {
            format!("{}({{ }} | rate()){}", "1 + (".repeat(n), ")".repeat(n))
        }),
        ("structural operators in brackets", |n| {
            format!("{}{{ }}{}", "{ } >> (".repeat(n), ")".repeat(n))
        }),
    ]
}

/// The largest `n` for which `make(n)` parses.
fn deepest(make: Shape) -> usize {
    let (mut ok, mut bad) = (0, 100_000);
    assert!(parse_unchecked(&make(ok)).is_ok(), "{}", make(ok));
    while bad - ok > 1 {
        let mid = (ok + bad) / 2;
        if parse_unchecked(&make(mid)).is_ok() {
            ok = mid;
        } else {
            bad = mid;
        }
    }
    ok
}

#[test]
fn nesting_past_the_limit_is_a_parse_error_at_the_deepest_point() {
    for (name, make) in shapes() {
        let n = deepest(make);
        // Some shapes take two levels a step (a nested pipeline is a bracket and a stage).
        assert!(
            (MAX_DEPTH / 2 - 2..=MAX_DEPTH).contains(&n),
            "{name}: nests {n} deep"
        );
        let text = make(n + 1);
        let e = parse(&text).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Parse, "{name}");
        assert!(
            e.message().starts_with("the query is nested too deeply"),
            "{name}: {}",
            e.message()
        );
        // The position is the token where the limit is crossed: deep in the query, not
        // at its start (but for a stage too deep for its pipeline: at the `|`).
        if name != "aggregate arithmetic" {
            assert!(e.span().start > text.len() / 3, "{name}: at {:?}", e.span());
        }
        let rendered = e.to_string();
        assert!(rendered.contains('^'), "{name}: {rendered}");
    }
}

#[test]
fn the_positions_of_the_limit_are_exact() {
    // The spanset filter is the first level: the 128th bracket, the 128th `!`, the
    // 128th `>>` cross the limit.
    let text = format!("{{ {}.a = 1{} }}", "(".repeat(200), ")".repeat(200));
    let e = parse(&text).unwrap_err();
    assert_eq!(e.span().start, 2 + MAX_DEPTH - 1);
    assert_eq!(e.line_col(&text), (1, 2 + MAX_DEPTH));
    let text = format!("{{ {}.a }}", "!".repeat(200));
    assert_eq!(parse(&text).unwrap_err().span().start, 2 + MAX_DEPTH - 1);
    let text = vec!["{}"; 200].join(" >> ");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.span().start, 6 * (MAX_DEPTH - 1) + 3);
    assert_eq!(&text[e.span().start..e.span().end], ">>");
    assert_eq!(e.line_col(&text), (1, 6 * (MAX_DEPTH - 1) + 4));
}

#[test]
fn a_hundred_thousand_levels_are_refused_in_a_short_message() {
    for (name, make) in shapes() {
        let text = make(100_000);
        let e = on_small_stack(move || parse(&text).unwrap_err());
        assert_eq!(e.kind(), ErrorKind::Parse, "{name}");
        let rendered = e.to_string();
        assert!(rendered.contains('^'), "{name}: {rendered}");
        assert!(
            rendered.len() < 600,
            "{name}: {} bytes: {rendered}",
            rendered.len()
        );
    }
    // Each of these is either too deep or too long; none overflows.
    for text in [
        format!("{{ {}.a }}", "!".repeat(100_000)),
        format!("{{ {}1 }}", "- ".repeat(100_000)),
        format!("{{ {}.a = 1{} }}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{{ {}", "(".repeat(100_000)),
        vec!["{}"; 100_000].join(" >> "),
        vec!["{}"; 100_000].join(" | "),
        format!("{{ .a = 1{} }}", " && .a = 1".repeat(100_000)),
        format!("{{ .a = 1{} }}", " || .a = 1".repeat(100_000)),
    ] {
        let e = on_small_stack(move || parse(&text).unwrap_err());
        assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
        let _ = parse_lenient(&"{ .a = 1 && ".repeat(20_000));
    }
}

#[test]
fn queries_longer_than_the_limit_are_refused_with_their_length() {
    let text = format!("{{ .a = \"{}\" }}", "x".repeat(MAX_QUERY_BYTES));
    let e = parse(&text).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert_eq!(
        e.message(),
        format!(
            "the query is too long: {} bytes, more than the limit of {MAX_QUERY_BYTES}",
            text.len()
        )
    );
    assert_eq!(e.span().start, MAX_QUERY_BYTES);
    assert!(check_length(&text).is_err());
    // The message shows the part of the line around the position, not the whole line.
    let rendered = e.to_string();
    assert!(rendered.len() < 500, "{rendered}");
    assert!(rendered.contains("…xxxx"), "{rendered}");
    assert!(parse_lenient(&text).is_empty());

    // At the limit, fine.
    let text = format!("{{ .a = \"{}\" }}", "x".repeat(MAX_QUERY_BYTES - 11));
    assert_eq!(text.len(), MAX_QUERY_BYTES);
    assert!(parse(&text).is_ok());
    assert!(check_length(&text).is_ok());
}

#[test]
fn long_runs_of_and_and_or_are_accepted_and_stay_shallow() {
    for op in ["&&", "||"] {
        // As many conditions as fit in the limit.
        let n = MAX_QUERY_BYTES / format!(" {op} .a = 1").len() - 1;
        let text = format!("{{ .a = 1{} }}", format!(" {op} .a = 1").repeat(n));
        let q = on_small_stack({
            let text = text.clone();
            move || parse(&text).unwrap()
        });
        assert_eq!(format(&q), text, "a run is written flat");
        let ExprKind::Filter(SpansetFilter { expr: Some(e), .. }) = &q.expr.kind else {
            panic!("not a filter");
        };
        assert!(height(e) <= 8 + 16, "{op}: {} deep", height(e));
        assert_eq!(
            parse_lenient(&text).len(),
            if op == "&&" { n + 1 } else { 0 }
        );
    }
    // Between spansets too.
    let text = vec!["{ .a = 1 }"; 5_000].join(" || ");
    let q = parse(&text).unwrap();
    assert_eq!(format(&q), text);
    // Brackets inside a run do not change it.
    assert_eq!(
        parse("{ .a = 1 || (.b = 2 || .c = 3) }").unwrap(),
        parse("{ .a = 1 || .b = 2 || .c = 3 }").unwrap()
    );
    assert_eq!(
        format(&parse("{ .a = 1 } && ({ .b = 2 } && { .c = 3 })").unwrap()),
        "{ .a = 1 } && { .b = 2 } && { .c = 3 }"
    );
    // A run still nests in what it is inside of.
    assert_eq!(
        format(&parse("{ (.a = 1 || .b = 2) && .c = 3 }").unwrap()),
        "{ (.a = 1 || .b = 2) && .c = 3 }"
    );
    // Long pipelines are flat too.
    let text = vec!["{ .a = 1 }"; 5_000].join(" | ");
    assert_eq!(format(&parse(&text).unwrap()), text);
}

fn height(e: &FieldExpr) -> usize {
    match &e.kind {
        FieldExprKind::Binary { lhs, rhs, .. } => 1 + height(lhs).max(height(rhs)),
        FieldExprKind::Unary { expr, .. } => 1 + height(expr),
        _ => 1,
    }
}

#[test]
fn the_deepest_accepted_queries_are_safe_to_walk_on_a_small_stack() {
    for (name, make) in shapes() {
        let text = make(deepest(make));
        on_small_stack(move || {
            let q = parse_unchecked(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let _ = validate(&q);
            let _ = parse(&text);
            let formatted = format(&q);
            assert_eq!(parse_unchecked(&formatted).unwrap(), q, "{name}");
            let _ = explain(&q);
            let _ = q.to_string();
            let _ = format!("{q:?}");
            let _ = q.referenced_fields();
            let copy = q.clone();
            assert_eq!(copy, q);
            drop(copy);
            let _ = parse_lenient(&text);
        });
    }
}

#[test]
fn pipelines_starting_with_a_stage_nest_within_the_limit() {
    // A pipeline without a head, as a spanset operand, inside another: three levels a step.
    let make = |n: usize| {
        format!(
            "{}{{ }}{}",
            "{ } && (count() > 1 | ".repeat(n),
            ")".repeat(n)
        )
    };
    let n = deepest(make);
    assert!(
        (MAX_DEPTH / 3 - 2..=MAX_DEPTH / 3).contains(&n),
        "nests {n} deep"
    );
    let e = parse(&make(n + 1)).unwrap_err();
    assert!(
        e.message().starts_with("the query is nested too deeply"),
        "{e}"
    );
    // Its frames are bigger than the other shapes': a larger small stack.
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let q = parse(&make(n)).unwrap();
            assert_eq!(parse(&format(&q)).unwrap(), q);
            assert_eq!(parse(&make(100_000)).unwrap_err().kind(), ErrorKind::Parse);
        })
        .unwrap()
        .join()
        .unwrap();
}
