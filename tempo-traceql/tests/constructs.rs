//! One test per construct of the language, per error kind, and for
//! operator precedence.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure is a panic"
)]

use tempo_traceql::*;

fn q(s: &str) -> Query {
    parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> Error {
    parse(s).expect_err(s)
}

/// The condition of a query that is a single spanset filter.
fn cond(s: &str) -> FieldExpr {
    cond_of(&q(s))
}

fn cond_of(query: &Query) -> FieldExpr {
    match &query.expr.kind {
        ExprKind::Filter(SpansetFilter { expr: Some(e), .. }) => e.clone(),
        other => panic!("not a filter: {other:?}"),
    }
}

fn bin(e: &FieldExpr) -> (BinaryOp, &FieldExpr, &FieldExpr) {
    match &e.kind {
        FieldExprKind::Binary { op, lhs, rhs } => (*op, lhs, rhs),
        other => panic!("not binary: {other:?}"),
    }
}

fn stat(e: &FieldExpr) -> &Static {
    match &e.kind {
        FieldExprKind::Static(s) => s,
        other => panic!("not static: {other:?}"),
    }
}

fn attr(e: &FieldExpr) -> &Attribute {
    match &e.kind {
        FieldExprKind::Attribute(a) => a,
        other => panic!("not an attribute: {other:?}"),
    }
}

fn rhs_static(s: &str) -> Static {
    let c = cond(s);
    stat(bin(&c).2).clone()
}

fn pipeline(query: &Query) -> &Pipeline {
    pipeline_of(&query.expr)
}

fn pipeline_of(e: &Expr) -> &Pipeline {
    match &e.kind {
        ExprKind::Pipeline(p) => p,
        other => panic!("not a pipeline: {other:?}"),
    }
}

// ---- precedence ----

#[test]
fn and_binds_tighter_than_or_in_conditions() {
    let c = cond("{ .a = 1 || .b = 2 && .c = 3 }");
    let (op, l, r) = bin(&c);
    assert_eq!(op, BinaryOp::Or);
    assert_eq!(bin(l).0, BinaryOp::Eq);
    let (op, rl, rr) = bin(r);
    assert_eq!(op, BinaryOp::And);
    assert_eq!(attr(bin(rl).1).name, "b");
    assert_eq!(attr(bin(rr).1).name, "c");
}

#[test]
fn multiplication_binds_tighter_than_addition_and_comparison() {
    let c = cond("{ 1 + 2 * 3 = 7 }");
    let (op, l, r) = bin(&c);
    assert_eq!(op, BinaryOp::Eq);
    assert_eq!(stat(r), &Static::Int(7));
    let (op, one, mul) = bin(l);
    assert_eq!(op, BinaryOp::Add);
    assert_eq!(stat(one), &Static::Int(1));
    let (op, two, three) = bin(mul);
    assert_eq!(op, BinaryOp::Mul);
    assert_eq!((stat(two), stat(three)), (&Static::Int(2), &Static::Int(3)));
}

#[test]
fn arithmetic_on_a_metrics_query_then_a_series_filter() {
    // Arithmetic is a tree of wrapped pipelines and literals; the filter and `topk` after
    // it are stages of a pipeline whose head is that tree.
    let query = q("({} | rate()) * 100 > 5 | topk(2)");
    assert!(query.is_metrics());
    let p = pipeline(&query);
    let ExprKind::Binary { op, lhs, rhs } = &p.head.kind else {
        panic!("{query:?}")
    };
    assert_eq!(*op, BinaryOp::Mul);
    assert_eq!(rhs.kind, ExprKind::Static(Static::Int(100)));
    assert!(lhs.is_metrics());
    assert!(matches!(lhs.kind, ExprKind::Pipeline(_)));
    assert_eq!(
        p.stages[0].kind,
        StageKind::MetricsFilter {
            op: BinaryOp::Gt,
            value: Static::Int(5)
        }
    );
    assert_eq!(
        p.stages[1].kind,
        StageKind::SecondStage {
            func: SecondStageFn::TopK,
            limit: 2
        }
    );
}

#[test]
fn literals_on_either_side_of_metrics_arithmetic() {
    // `1 + 2 + x` groups to the left; literals are not folded.
    let query = q("1 + 2 + ({} | rate())");
    let ExprKind::Binary { op, lhs, rhs } = &query.expr.kind else {
        panic!("{query:?}")
    };
    assert_eq!(*op, BinaryOp::Add);
    assert!(matches!(rhs.kind, ExprKind::Pipeline(_)));
    let ExprKind::Binary {
        lhs: one, rhs: two, ..
    } = &lhs.kind
    else {
        panic!("{query:?}")
    };
    assert_eq!(one.kind, ExprKind::Static(Static::Int(1)));
    assert_eq!(two.kind, ExprKind::Static(Static::Int(2)));
    assert!(query.is_metrics());
    // Multiplication binds tighter, and each pipeline keeps its own stages.
    let query = q("({} | rate() | topk(3)) + ({} | rate()) * 2");
    let ExprKind::Binary { op, lhs, rhs } = &query.expr.kind else {
        panic!("{query:?}")
    };
    assert_eq!(*op, BinaryOp::Add);
    assert_eq!(pipeline_of(lhs).stages.len(), 2);
    assert!(matches!(
        rhs.kind,
        ExprKind::Binary {
            op: BinaryOp::Mul,
            ..
        }
    ));
}

#[test]
fn a_bracketed_metrics_query_then_a_filter_is_one_pipeline() {
    assert_eq!(q("({} | rate()) > 5"), q("{} | rate() > 5"));
    assert_eq!(q("(({} | rate())) | topk(3)"), q("{ } | rate() | topk(3)"));
    assert_eq!(q("({} | rate()) > 5").to_string(), "{} | rate() > 5");
}

#[test]
fn a_pipeline_may_start_with_a_scalar_filter_by_or_select() {
    for (text, canonical) in [
        ("count() = 1 | { true }", "{} | count() = 1 | { true }"),
        ("avg(.field) > 1", "{} | avg(.field) > 1"),
        ("by(.a) | { true }", "{} | by(.a) | { true }"),
        ("select(.a)", "{} | select(.a)"),
        ("1 < count()", "{} | 1 < count()"),
    ] {
        let query = q(text);
        let head = &pipeline(&query).head;
        // The head is an implicit `{}`: an empty span where the pipeline starts.
        assert_eq!(
            head.kind,
            ExprKind::Filter(SpansetFilter {
                expr: None,
                span: Span::default()
            })
        );
        assert_eq!((head.span.start, head.span.end), (0, 0), "{text}");
        assert_eq!(query.to_string(), canonical);
        assert_eq!(q(canonical), query);
    }
    // Inside brackets too, where it is a spanset operand.
    let query = q("{ .a } && (count() > 1 | { .b })");
    let ExprKind::Spanset { rhs, .. } = &query.expr.kind else {
        panic!()
    };
    let head = &pipeline_of(rhs).head;
    assert_eq!((head.span.start, head.span.end), (11, 11));
}

#[test]
fn power_is_right_associative_and_unary_binds_tightest() {
    let c = cond("{ 2 ^ 3 ^ 2 = 512 }");
    let (_, pow, _) = bin(&c);
    let (op, two, rest) = bin(pow);
    assert_eq!(op, BinaryOp::Pow);
    assert_eq!(stat(two), &Static::Int(2));
    assert_eq!(bin(rest).0, BinaryOp::Pow);

    let c = cond("{ -.a ^ 2 > 1 }");
    let (_, pow, _) = bin(&c);
    let (op, neg, _) = bin(pow);
    assert_eq!(op, BinaryOp::Pow);
    assert!(matches!(
        neg.kind,
        FieldExprKind::Unary {
            op: UnaryOp::Neg,
            ..
        }
    ));
}

#[test]
fn subtraction_is_left_associative() {
    let c = cond("{ 10 - 3 - 2 = 5 }");
    let (_, sub, _) = bin(&c);
    let (op, inner, two) = bin(sub);
    assert_eq!(op, BinaryOp::Sub);
    assert_eq!(stat(two), &Static::Int(2));
    assert_eq!(bin(inner).0, BinaryOp::Sub);
}

#[test]
fn spanset_operator_precedence() {
    // `&&` binds tighter than `||`; structural operators tighter than both.
    let query = q("{ .a = 1 } && { .b = 2 } || { .c = 3 }");
    let ExprKind::Spanset { op, lhs, .. } = &query.expr.kind else {
        panic!()
    };
    assert_eq!(*op, SpansetOp::Or);
    assert!(matches!(
        lhs.kind,
        ExprKind::Spanset {
            op: SpansetOp::And,
            ..
        }
    ));

    let query = q("{ .a = 1 } >> { .b = 2 } && { .c = 3 }");
    let ExprKind::Spanset { op, lhs, .. } = &query.expr.kind else {
        panic!()
    };
    assert_eq!(*op, SpansetOp::And);
    assert!(matches!(
        lhs.kind,
        ExprKind::Spanset {
            op: SpansetOp::Descendant,
            ..
        }
    ));

    // Structural operators group to the left.
    let query = q("{ .a = 1 } >> { .b = 2 } > { .c = 3 }");
    let ExprKind::Spanset { op, lhs, .. } = &query.expr.kind else {
        panic!()
    };
    assert_eq!(*op, SpansetOp::Child);
    assert!(matches!(
        lhs.kind,
        ExprKind::Spanset {
            op: SpansetOp::Descendant,
            ..
        }
    ));
}

#[test]
fn the_pipe_binds_loosest() {
    let query = q("{ .a = 1 } && { .b = 2 } | count() > 1");
    let p = pipeline(&query);
    assert!(matches!(
        p.head.kind,
        ExprKind::Spanset {
            op: SpansetOp::And,
            ..
        }
    ));
    assert_eq!(p.stages.len(), 1);
}

// ---- spanset filters and attributes ----

#[test]
fn empty_filters() {
    for s in ["{}", "{ }", "  {\n}  "] {
        assert_eq!(
            q(s).expr.kind,
            ExprKind::Filter(SpansetFilter {
                expr: None,
                span: Span::default()
            })
        );
    }
}

#[test]
fn scopes() {
    let cases = [
        ("span.http.status_code", Scope::Span, "http.status_code"),
        ("resource.service.name", Scope::Resource, "service.name"),
        ("event.exception.message", Scope::Event, "exception.message"),
        (
            "link.opentracing.ref_type",
            Scope::Link,
            "opentracing.ref_type",
        ),
        ("instrumentation.library", Scope::Instrumentation, "library"),
        (".foo", Scope::None, "foo"),
        (".http.method", Scope::None, "http.method"),
        ("span.x-request-id", Scope::Span, "x-request-id"),
        (r#"span."a b""#, Scope::Span, "a b"),
        (
            r#"span."with \"quotes\" and \\""#,
            Scope::Span,
            r#"with "quotes" and \"#,
        ),
        (r#"."unscoped name""#, Scope::None, "unscoped name"),
        ("resource.k8s.pod.name", Scope::Resource, "k8s.pod.name"),
    ];
    for (text, scope, name) in cases {
        let c = cond(&format!("{{ {text} != nil }}"));
        assert_eq!(attr(bin(&c).1), &Attribute::new(scope, name), "{text}");
    }
}

#[test]
fn attribute_spans_are_byte_ranges() {
    let text = r#"{ span.é = "x" }"#;
    let c = cond(text);
    let a = bin(&c).1;
    assert_eq!(&text[a.span.start..a.span.end], "span.é");
    assert_eq!(c.span.start, 2);
    assert_eq!(c.span.end, text.len() - 2);
}

#[test]
fn every_intrinsic_in_both_forms() {
    for i in Intrinsic::ALL {
        let query = parse_unchecked(&format!("{{ {} = 1 }}", i.as_str())).unwrap();
        assert_eq!(
            bin(&cond_of(&query)).1.kind,
            FieldExprKind::Intrinsic(i),
            "{}",
            i.as_str()
        );
        if let Some(legacy) = i.legacy_name() {
            let query = parse_unchecked(&format!("{{ {legacy} = 1 }}")).unwrap();
            assert_eq!(
                bin(&cond_of(&query)).1.kind,
                FieldExprKind::Intrinsic(i),
                "{legacy}"
            );
        }
    }
    let expected = [
        ("name", Intrinsic::SpanName),
        ("status", Intrinsic::SpanStatus),
        ("statusMessage", Intrinsic::SpanStatusMessage),
        ("kind", Intrinsic::SpanKind),
        ("duration", Intrinsic::SpanDuration),
        ("traceDuration", Intrinsic::TraceDuration),
        ("rootName", Intrinsic::TraceRootName),
        ("rootServiceName", Intrinsic::TraceRootService),
        ("span:childCount", Intrinsic::SpanChildCount),
        ("span:parentID", Intrinsic::SpanParentId),
        ("trace:id", Intrinsic::TraceId),
        ("event:timeSinceStart", Intrinsic::EventTimeSinceStart),
        ("link:traceID", Intrinsic::LinkTraceId),
        ("instrumentation:version", Intrinsic::InstrumentationVersion),
        ("nestedSetParent", Intrinsic::NestedSetParent),
    ];
    for (text, i) in expected {
        let query = parse_unchecked(&format!("{{ {text} = 1 }}")).unwrap();
        assert_eq!(
            bin(&cond_of(&query)).1.kind,
            FieldExprKind::Intrinsic(i),
            "{text}"
        );
    }
}

// ---- literals ----

#[test]
fn strings() {
    assert_eq!(
        rhs_static(r#"{ .a = "x y" }"#),
        Static::String("x y".into())
    );
    assert_eq!(
        rhs_static(r#"{ .a = "q\"b\\n\n\t" }"#),
        Static::String("q\"b\\n\n\t".into())
    );
    assert_eq!(
        rhs_static(r#"{ .a = "\u00e9" }"#),
        Static::String("é".into())
    );
    assert_eq!(
        rhs_static(r#"{ .a = `raw \d "quotes"` }"#),
        Static::String(r#"raw \d "quotes""#.into())
    );
    assert_eq!(rhs_static(r#"{ .a = "" }"#), Static::String(String::new()));
}

#[test]
fn numbers() {
    assert_eq!(rhs_static("{ .a = 42 }"), Static::Int(42));
    assert_eq!(rhs_static("{ .a = -42 }"), Static::Int(-42));
    assert_eq!(
        rhs_static("{ .a = 9223372036854775807 }"),
        Static::Int(i64::MAX)
    );
    assert_eq!(
        rhs_static("{ .a = -9223372036854775808 }"),
        Static::Int(i64::MIN)
    );
    assert_eq!(rhs_static("{ .a = 1.5 }"), Static::Float(1.5));
    assert_eq!(rhs_static("{ .a = .5 }"), Static::Float(0.5));
    assert_eq!(rhs_static("{ .a = 1e3 }"), Static::Float(1000.0));
    assert_eq!(rhs_static("{ .a = 2.5E-3 }"), Static::Float(0.0025));
    assert_eq!(rhs_static("{ .a = -0.25 }"), Static::Float(-0.25));
    assert_eq!(err("{ .a = 9223372036854775808 }").kind(), ErrorKind::Parse);
    assert_eq!(err("{ .a = 1e400 }").kind(), ErrorKind::Parse);
}

#[test]
fn durations() {
    let ns = |s: &str| match rhs_static(&format!("{{ duration > {s} }}")) {
        Static::Duration(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(ns("1ns"), 1);
    assert_eq!(ns("1us"), 1_000);
    assert_eq!(ns("1µs"), 1_000);
    assert_eq!(ns("1μs"), 1_000);
    assert_eq!(ns("1ms"), 1_000_000);
    assert_eq!(ns("1s"), 1_000_000_000);
    assert_eq!(ns("1m"), 60_000_000_000);
    assert_eq!(ns("1h"), 3_600_000_000_000);
    assert_eq!(ns("1.5s"), 1_500_000_000);
    assert_eq!(ns("0.1ms"), 100_000);
    assert_eq!(ns("1h30m"), 5_400_000_000_000);
    assert_eq!(ns("2h45m30s"), 9_930_000_000_000);
    assert_eq!(ns("1s500ms"), 1_500_000_000);
    assert_eq!(ns("-10ms"), -10_000_000);
    assert_eq!(ns("1d"), 86_400_000_000_000);
    assert_eq!(ns("2w"), 14 * 86_400_000_000_000);
    assert_eq!(ns("1y"), 365 * 86_400_000_000_000);
    for bad in ["5mo", "1.5.5s", "3000000h"] {
        let e = err(&format!("{{ duration > {bad} }}"));
        assert_eq!(e.kind(), ErrorKind::Parse, "{bad}");
    }
}

#[test]
fn keywords() {
    assert_eq!(rhs_static("{ .a = true }"), Static::Bool(true));
    assert_eq!(rhs_static("{ .a = false }"), Static::Bool(false));
    assert_eq!(rhs_static("{ .a = nil }"), Static::Nil);
    assert_eq!(
        rhs_static("{ status = error }"),
        Static::Status(Status::Error)
    );
    assert_eq!(rhs_static("{ status = ok }"), Static::Status(Status::Ok));
    assert_eq!(
        rhs_static("{ status = unset }"),
        Static::Status(Status::Unset)
    );
    for (w, k) in [
        ("unspecified", Kind::Unspecified),
        ("internal", Kind::Internal),
        ("server", Kind::Server),
        ("client", Kind::Client),
        ("producer", Kind::Producer),
        ("consumer", Kind::Consumer),
    ] {
        assert_eq!(rhs_static(&format!("{{ kind = {w} }}")), Static::Kind(k));
    }
}

#[test]
fn every_operator() {
    let ops = [
        ("=", BinaryOp::Eq),
        ("!=", BinaryOp::Neq),
        (">", BinaryOp::Gt),
        (">=", BinaryOp::Gte),
        ("<", BinaryOp::Lt),
        ("<=", BinaryOp::Lte),
    ];
    for (text, op) in ops {
        assert_eq!(bin(&cond(&format!("{{ .a {text} 1 }}"))).0, op);
    }
    assert_eq!(bin(&cond(r#"{ .a =~ "x.*" }"#)).0, BinaryOp::Regex);
    assert_eq!(bin(&cond(r#"{ .a !~ "x.*" }"#)).0, BinaryOp::NotRegex);
    for (text, op) in [
        ("+", BinaryOp::Add),
        ("-", BinaryOp::Sub),
        ("*", BinaryOp::Mul),
        ("/", BinaryOp::Div),
        ("%", BinaryOp::Mod),
        ("^", BinaryOp::Pow),
    ] {
        let c = cond(&format!("{{ .a {text} 2 > 1 }}"));
        assert_eq!(bin(bin(&c).1).0, op);
    }
    let c = cond("{ !(.a = 1) }");
    assert!(matches!(
        c.kind,
        FieldExprKind::Unary {
            op: UnaryOp::Not,
            ..
        }
    ));
    let c = cond("{ -.a = 1 }");
    assert!(matches!(
        bin(&c).1.kind,
        FieldExprKind::Unary {
            op: UnaryOp::Neg,
            ..
        }
    ));
}

#[test]
fn every_spanset_operator() {
    let ops = [
        ("&&", SpansetOp::And),
        ("||", SpansetOp::Or),
        (">", SpansetOp::Child),
        (">>", SpansetOp::Descendant),
        ("<", SpansetOp::Parent),
        ("<<", SpansetOp::Ancestor),
        ("~", SpansetOp::Sibling),
        ("!>", SpansetOp::NotChild),
        ("!>>", SpansetOp::NotDescendant),
        ("!<", SpansetOp::NotParent),
        ("!<<", SpansetOp::NotAncestor),
        ("!~", SpansetOp::NotSibling),
        ("&>", SpansetOp::UnionChild),
        ("&>>", SpansetOp::UnionDescendant),
        ("&<", SpansetOp::UnionParent),
        ("&<<", SpansetOp::UnionAncestor),
        ("&~", SpansetOp::UnionSibling),
    ];
    for (text, op) in ops {
        let query = q(&format!("{{ .a = 1 }} {text} {{ .b = 2 }}"));
        let ExprKind::Spanset { op: got, .. } = query.expr.kind else {
            panic!("{text}")
        };
        assert_eq!(got, op, "{text}");
        assert_eq!(op.as_str(), text);
    }
}

// ---- pipelines ----

#[test]
fn scalar_filters_and_aggregates() {
    for (text, func) in [
        ("count() > 2", AggregateFn::Count),
        ("avg(duration) > 1s", AggregateFn::Avg),
        ("min(span.a) < 1", AggregateFn::Min),
        ("max(span.a) >= 1", AggregateFn::Max),
        ("sum(span.bytes) != 0", AggregateFn::Sum),
    ] {
        let query = q(&format!("{{ }} | {text}"));
        let StageKind::ScalarFilter { lhs, .. } = &pipeline(&query).stages[0].kind else {
            panic!()
        };
        let ScalarExprKind::Aggregate { func: got, field } = &lhs.kind else {
            panic!()
        };
        assert_eq!(*got, func);
        assert_eq!(field.is_none(), func == AggregateFn::Count);
    }
}

#[test]
fn by_coalesce_select() {
    let query = q("{ } | by(resource.service.name) | coalesce() | select(span.a, duration)");
    let stages = &pipeline(&query).stages;
    assert!(matches!(&stages[0].kind, StageKind::By(f) if attr(f).name == "service.name"));
    assert_eq!(stages[1].kind, StageKind::Coalesce);
    let StageKind::Select(fields) = &stages[2].kind else {
        panic!()
    };
    assert_eq!(fields.len(), 2);
    assert_eq!(
        fields[1].kind,
        FieldExprKind::Intrinsic(Intrinsic::SpanDuration)
    );
}

#[test]
fn wrapped_pipelines() {
    let query = q("({ .a = 1 } | count() > 1) && ({ .b = 2 } | avg(duration) > 1s)");
    let ExprKind::Spanset { op, lhs, rhs } = &query.expr.kind else {
        panic!()
    };
    assert_eq!(*op, SpansetOp::And);
    assert!(matches!(lhs.kind, ExprKind::Pipeline(_)));
    assert!(matches!(rhs.kind, ExprKind::Pipeline(_)));

    let query = q("({ .a = 1 } | by(span.x)) >> { .b = 2 }");
    assert!(matches!(
        query.expr.kind,
        ExprKind::Spanset {
            op: SpansetOp::Descendant,
            ..
        }
    ));

    // A parenthesised pipeline followed by more stages is one pipeline.
    let query = q("({ .a = 1 } | by(span.x)) | count() > 1");
    assert_eq!(pipeline(&query).stages.len(), 2);
}

#[test]
fn metrics_functions() {
    let cases: [(&str, &str); 9] = [
        ("rate()", "rate"),
        ("count_over_time()", "count_over_time"),
        ("sum_over_time(span.bytes)", "sum_over_time"),
        ("min_over_time(duration)", "min_over_time"),
        ("max_over_time(duration)", "max_over_time"),
        ("avg_over_time(duration)", "avg_over_time"),
        (
            "quantile_over_time(duration, .99, .5)",
            "quantile_over_time",
        ),
        ("histogram_over_time(duration)", "histogram_over_time"),
        ("compare({ status = error }, 10)", "compare"),
    ];
    for (text, name) in cases {
        let query = q(
            &format!("{{ }} | {text} by (resource.service.name)").replace(
                "compare({ status = error }, 10) by (resource.service.name)",
                "compare({ status = error }, 10)",
            ),
        );
        assert!(query.is_metrics());
        let StageKind::Metrics(m) = &pipeline(&query).stages[0].kind else {
            panic!()
        };
        assert_eq!(m.func.name(), name);
        if name != "compare" {
            assert_eq!(m.by.len(), 1);
        }
    }
    let query = q("{ } | quantile_over_time(duration, .99, .9, .5)");
    let StageKind::Metrics(MetricsAggregate {
        func: MetricsFn::QuantileOverTime { quantiles, .. },
        ..
    }) = &pipeline(&query).stages[0].kind
    else {
        panic!()
    };
    assert_eq!(quantiles, &[0.99, 0.9, 0.5]);

    let query = q("{ } | compare({ status = error }, 10, 1000, 2000)");
    let StageKind::Metrics(MetricsAggregate {
        func: MetricsFn::Compare { top_n, range, .. },
        ..
    }) = &pipeline(&query).stages[0].kind
    else {
        panic!()
    };
    assert_eq!((*top_n, *range), (Some(10), Some((1000, 2000))));
}

#[test]
fn second_stage_and_metrics_filters() {
    let query = q("{ } | rate() by (resource.service.name) | topk(10) > 5");
    let stages = &pipeline(&query).stages;
    assert_eq!(
        stages[1].kind,
        StageKind::SecondStage {
            func: SecondStageFn::TopK,
            limit: 10
        }
    );
    assert_eq!(
        stages[2].kind,
        StageKind::MetricsFilter {
            op: BinaryOp::Gt,
            value: Static::Int(5)
        }
    );
    let query = q("{ } | count_over_time() | bottomk(3)");
    assert!(matches!(
        pipeline(&query).stages[1].kind,
        StageKind::SecondStage {
            func: SecondStageFn::BottomK,
            limit: 3
        }
    ));
}

#[test]
fn hints() {
    let query = q(r#"{ } | rate() with(sample=true, exemplars=5, mode="fast")"#);
    assert_eq!(query.hints.len(), 3);
    assert_eq!(query.hint("sample"), Some(&Static::Bool(true)));
    assert_eq!(query.hint("exemplars"), Some(&Static::Int(5)));
    assert_eq!(query.hint("mode"), Some(&Static::String("fast".into())));
    assert_eq!(query.hint("absent"), None);
}

// ---- errors ----

#[test]
fn parse_errors_say_where_and_what_was_expected() {
    let e = err("{ .a = }");
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert_eq!(e.span().start, 7);
    assert!(e.expected().iter().any(|x| x.contains("value")));
    let shown = e.to_string();
    assert!(shown.contains("parse error at line 1, column 8"), "{shown}");
    assert!(shown.contains("  { .a = }\n         ^"), "{shown}");

    let e = err("{ .a = 1 ");
    assert!(e.expected().iter().any(|x| x == "`}`"), "{e}");
    assert!(e.message().contains("end of query"));
}

#[test]
fn parse_error_hints() {
    let e = err("{ http.status_code = 200 }");
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert!(e.hint().unwrap().contains("`span.http.status_code`"), "{e}");
    assert!(
        err("{ durration > 1s }")
            .hint()
            .unwrap()
            .contains("`duration`")
    );
    assert!(
        err("{ span:nmae = 1 }")
            .hint()
            .unwrap()
            .contains("`span:name`")
    );
    assert!(err("{ .a = 1 and .b = 2 }").hint().is_some());
    assert!(err("{ .a == 1 }").hint().unwrap().contains('='));
    assert!(err("{ } | cuont() > 1").hint().unwrap().contains("`count`"));
}

#[test]
fn validation_errors() {
    for s in [
        r#"{ .a + "x" = 1 }"#,
        "{ status = 1.5 }",
        r#"{ duration = "x" }"#,
        r#"{ .a =~ "(" }"#,
        "{ .a =~ 1 }",
        "{ 1 = nil }",
        "{ .a > nil }",
        "{ 1 }",
        "{ } | quantile_over_time(duration, 2)",
        "{ true } | by(1)",
        r#"{ true } | by("foo")"#,
        "{ } | sum(3) = 2",
        "{ } | compare({ status = error }) | topk(10)",
        "{ } | compare({ status = error }) | bottomk(3)",
        "{ } | compare({ status = error }) > 5",
        "({ } | compare({ status = error })) * 2",
    ] {
        assert_eq!(err(s).kind(), ErrorKind::Validation, "{s}");
    }
    assert!(parse("{ duration > 1s }").is_ok());
    assert!(parse("{ span.foo = nil }").is_ok());
    // Tempo tests existence this way, for intrinsics too; `nil = nil` is a condition.
    assert!(parse("{ name != nil }").is_ok());
    assert!(parse("{ name = nil }").is_ok());
    assert!(parse("{ nil = nil }").is_ok());
    // `by()` takes any expression that reads the span.
    assert!(parse("{ } | by(1 + .a)").is_ok());
    let e = err("{ true } | by(1)");
    assert_eq!(&"{ true } | by(1)"[e.span().start..e.span().end], "1");
    let e = err(r#"{ status = "error" }"#);
    assert!(e.hint().unwrap().contains("no quotes"), "{e}");
    let e = err(r#"{ .a =~ "a(" }"#);
    assert!(e.message().contains("regular expression"), "{e}");
    assert_eq!(
        &r#"{ .a =~ "a(" }"#[e.span().start..e.span().end],
        r#""a(""#
    );
}

#[test]
fn grammar_errors_are_parse_errors() {
    // What Tempo's grammar does not accept: arguments an aggregate or a function does not
    // take, stages in an order it does not allow, arithmetic or comparisons with
    // spansets, numbers alone.
    for (s, at) in [
        ("{ } | avg() > 1", "avg()"),
        ("{ } | count(.a) > 1", "count(.a)"),
        ("{ } | rate() | { .a = 1 }", "{ .a = 1 }"),
        ("{ } | topk(10)", "topk(10)"),
        ("{ } | count()", "count()"),
        ("{ } | select(1)", "1"),
        ("{ } | rate() by (1)", "1"),
        ("{ } | compare({ status = error }) by (span.a)", "by"),
        ("{ true } + { true }", "+"),
        ("{ } > 10", "10"),
        ("{ } = 10", "="),
        ("2 + 3", "2 + 3"),
        ("({} | rate()) % 2", "%"),
        ("({} | rate()) && { }", "&&"),
        ("coalesce() | { true }", "coalesce"),
    ] {
        let e = err(s);
        assert_eq!(e.kind(), ErrorKind::Parse, "{s}: {e}");
        assert_eq!(&s[e.span().start..e.span().end], at, "{s}: {e}");
    }
}

#[test]
fn unsupported_errors() {
    for s in [
        "({ } | count()) > ({ .a = 1 } | count())",
        "({ } | count()) > 3",
        "{ parent.foo = 1 }",
    ] {
        let e = err(s);
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{s}: {e}");
    }
    // A validation error wins over an unsupported construct.
    assert_eq!(
        err(r#"({ .a = "x" + 1 } | count()) > 2"#).kind(),
        ErrorKind::Validation
    );
}

#[test]
fn errors_on_later_lines_point_at_the_right_line() {
    let text = "{ .a = 1 &&\n  .b = }";
    let e = err(text);
    assert_eq!(e.line_col(text), (2, 8));
    assert!(
        e.render(text).contains("  .b = }\n         ^"),
        "{}",
        e.render(text)
    );
}

// ---- regular expressions ----

#[test]
fn regexes_are_anchored() {
    assert_eq!(anchored_regex("a.*"), "^(?:a.*)$");
    let re = compile_regex("foo|bar").unwrap();
    assert!(re.is_match("foo"));
    assert!(re.is_match("bar"));
    assert!(!re.is_match("foobar"));
    assert!(!re.is_match("xfoo"));
}

// Limits on nesting and length: see `deep_queries_are_refused_not_overflowed.rs`.

// ---- formatter ----

#[test]
fn canonical_forms() {
    let cases = [
        ("{ }", "{}"),
        ("{duration>1s}", "{ span:duration > 1s }"),
        (
            "{ (.a = 1 || .b = 2) && .c = 3 }",
            "{ (.a = 1 || .b = 2) && .c = 3 }",
        ),
        ("{ ((.a = 1)) }", "{ .a = 1 }"),
        (
            "{ .a = 1 } >> ({ .b = 2 } >> { .c = 3 })",
            "{ .a = 1 } >> ({ .b = 2 } >> { .c = 3 })",
        ),
        (
            "({ .a = 1 } >> { .b = 2 }) >> { .c = 3 }",
            "{ .a = 1 } >> { .b = 2 } >> { .c = 3 }",
        ),
        ("{ span.\"a b\" = `x` }", "{ span.\"a b\" = \"x\" }"),
        ("{ .\"5xx\" = 1 }", "{ .\"5xx\" = 1 }"),
        ("{ duration > 90m }", "{ span:duration > 1h30m }"),
        ("{ duration > 1500ms }", "{ span:duration > 1s500ms }"),
        ("{ -(1) = .a }", "{ -(1) = .a }"),
        (
            "{}|rate()by(resource.service.name)|topk(5)",
            "{} | rate() by (resource.service.name) | topk(5)",
        ),
        (
            "{ } | count() > 1 with ( sample = true )",
            "{} | count() > 1 with(sample=true)",
        ),
    ];
    for (input, want) in cases {
        let query = parse(input).unwrap();
        assert_eq!(format(&query), want, "{input}");
        assert_eq!(query.to_string(), want);
        assert_eq!(parse(want).unwrap(), query);
    }
}

#[test]
fn explain_prints_a_tree() {
    let t = explain(&q("{ .a = 1 } | count() > 2"));
    assert_eq!(
        t,
        "Query\n  Pipeline\n    SpansetFilter\n      Binary =\n        Attribute .a (scope None, name \"a\")\n        Static 1 (integer)\n    ScalarFilter >\n      Aggregate count\n      Static 2\n"
    );
}

// ---- lenient ----

#[test]
fn lenient_keeps_complete_conditions() {
    let c = parse_lenient(r#"{ resource.cluster = "x" && span.foo = }"#);
    assert_eq!(c.len(), 1);
    assert_eq!(
        c[0].field,
        FieldRef::Attribute(Attribute::new(Scope::Resource, "cluster"))
    );
    assert_eq!(c[0].op, BinaryOp::Eq);
    assert_eq!(c[0].value, Static::String("x".into()));

    assert!(parse_lenient("{ resource.cluster = }").is_empty());
    assert!(parse_lenient("").is_empty());
    assert!(parse_lenient("{").is_empty());

    let c = parse_lenient(r#"{ span:status = error && duration > 1s && .a =~ "x.*" && .b"#);
    assert_eq!(c.len(), 3);
    assert_eq!(c[0].field, FieldRef::Intrinsic(Intrinsic::SpanStatus));
    assert_eq!(c[1].value, Static::Duration(1_000_000_000));
    assert_eq!(c[2].op, BinaryOp::Regex);

    // Conditions under `||` narrow nothing.
    assert!(parse_lenient(r#"{ .a = 1 || .b = 2 }"#).is_empty());
    // Badly typed conditions are dropped.
    assert_eq!(parse_lenient(r#"{ status = "x" && .a = 1 }"#).len(), 1);
    // Complete queries work too, and nested `&&` in brackets.
    assert_eq!(
        parse_lenient(r#"{ (.a = 1 && .b = 2) && .c = 3 } | count() > 1"#).len(),
        3
    );
    // Literal first: the condition is turned around.
    let c = parse_lenient("{ 500 <= span.http.status_code && ");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].op, BinaryOp::Gte);
    assert_eq!(c[0].value, Static::Int(500));
    // A lexing error later on does not lose what came before.
    assert_eq!(parse_lenient(r#"{ .a = 1 && .b = "unterminated"#).len(), 1);
}

#[test]
fn referenced_fields_lists_each_field_once() {
    let query = q(
        r#"{ span.a = 1 && duration > 1s } >> { resource.service.name = "x" } | select(span.a, span:id) | avg(span.b) > 1"#,
    );
    assert_eq!(
        query.referenced_fields(),
        vec![
            FieldRef::Attribute(Attribute::new(Scope::Span, "a")),
            FieldRef::Intrinsic(Intrinsic::SpanDuration),
            FieldRef::Attribute(Attribute::new(Scope::Resource, "service.name")),
            FieldRef::Intrinsic(Intrinsic::SpanId),
            FieldRef::Attribute(Attribute::new(Scope::Span, "b")),
        ]
    );
    let query = q("{ } | quantile_over_time(duration, .9) by (resource.service.name)");
    assert_eq!(query.referenced_fields().len(), 2);
    assert!(q("{}").referenced_fields().is_empty());
}
