//! Every AST survives formatting and parsing: `parse(format(q)) == q`.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use proptest::prelude::*;
use tempo_traceql::*;

fn sp() -> Span {
    Span::default()
}

fn any_static() -> impl Strategy<Value = Static> {
    prop_oneof![
        any::<String>().prop_map(Static::String),
        "[a-z \"\\\\\n\t`]{0,8}".prop_map(Static::String),
        any::<i64>().prop_map(Static::Int),
        (-1e12f64..1e12).prop_map(Static::Float),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Static::Float),
        any::<bool>().prop_map(Static::Bool),
        Just(Static::Nil),
        any::<i64>().prop_map(Static::Duration),
        (0i64..10_000_000_000_000).prop_map(Static::Duration),
        prop_oneof![Just(Status::Error), Just(Status::Ok), Just(Status::Unset)]
            .prop_map(Static::Status),
        prop_oneof![
            Just(Kind::Unspecified),
            Just(Kind::Internal),
            Just(Kind::Server),
            Just(Kind::Client),
            Just(Kind::Producer),
            Just(Kind::Consumer)
        ]
        .prop_map(Static::Kind),
    ]
}

fn numeric_static() -> impl Strategy<Value = Static> {
    prop_oneof![
        any::<i64>().prop_map(Static::Int),
        (-1e6f64..1e6).prop_map(Static::Float),
        any::<i64>().prop_map(Static::Duration),
    ]
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::None),
        Just(Scope::Span),
        Just(Scope::Resource),
        Just(Scope::Event),
        Just(Scope::Link),
        Just(Scope::Instrumentation),
    ]
}

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_.:-]{0,12}",
        "[0-9a-z \"\\\\.{}()=<>!&|~^,+*/%'`-]{1,10}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

fn binary_op() -> impl Strategy<Value = BinaryOp> {
    prop_oneof![
        Just(BinaryOp::And),
        Just(BinaryOp::Or),
        Just(BinaryOp::Eq),
        Just(BinaryOp::Neq),
        Just(BinaryOp::Lt),
        Just(BinaryOp::Lte),
        Just(BinaryOp::Gt),
        Just(BinaryOp::Gte),
        Just(BinaryOp::Regex),
        Just(BinaryOp::NotRegex),
        Just(BinaryOp::Add),
        Just(BinaryOp::Sub),
        Just(BinaryOp::Mul),
        Just(BinaryOp::Div),
        Just(BinaryOp::Mod),
        Just(BinaryOp::Pow),
    ]
}

fn arith_op() -> impl Strategy<Value = BinaryOp> {
    prop_oneof![
        Just(BinaryOp::Add),
        Just(BinaryOp::Sub),
        Just(BinaryOp::Mul),
        Just(BinaryOp::Div),
        Just(BinaryOp::Mod),
        Just(BinaryOp::Pow),
    ]
}

fn cmp_op() -> impl Strategy<Value = BinaryOp> {
    prop_oneof![
        Just(BinaryOp::Eq),
        Just(BinaryOp::Neq),
        Just(BinaryOp::Lt),
        Just(BinaryOp::Lte),
        Just(BinaryOp::Gt),
        Just(BinaryOp::Gte),
    ]
}

fn field_expr() -> impl Strategy<Value = FieldExpr> {
    let leaf = prop_oneof![
        any_static().prop_map(FieldExprKind::Static),
        (scope(), attr_name()).prop_map(|(s, n)| FieldExprKind::Attribute(Attribute::new(s, n))),
        proptest::sample::select(Intrinsic::ALL.to_vec()).prop_map(FieldExprKind::Intrinsic),
    ]
    .prop_map(|kind| FieldExpr { kind, span: sp() });
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (binary_op(), inner.clone(), inner.clone()).prop_map(|(op, l, r)| FieldExpr {
                kind: FieldExprKind::Binary {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r)
                },
                span: sp()
            }),
            (prop_oneof![Just(UnaryOp::Not), Just(UnaryOp::Neg)], inner).prop_map(|(op, e)| {
                FieldExpr {
                    kind: FieldExprKind::Unary {
                        op,
                        expr: Box::new(e),
                    },
                    span: sp(),
                }
            }),
        ]
    })
}

/// An attribute or an intrinsic: the arguments of `select()`, of metrics functions and of
/// their `by (...)`.
fn field_ref() -> impl Strategy<Value = FieldExpr> {
    prop_oneof![
        (scope(), attr_name()).prop_map(|(s, n)| FieldExprKind::Attribute(Attribute::new(s, n))),
        proptest::sample::select(Intrinsic::ALL.to_vec()).prop_map(FieldExprKind::Intrinsic),
    ]
    .prop_map(|kind| FieldExpr { kind, span: sp() })
}

fn filter() -> impl Strategy<Value = SpansetFilter> {
    proptest::option::weighted(0.8, field_expr())
        .prop_map(|expr| SpansetFilter { expr, span: sp() })
}

fn scalar_expr() -> impl Strategy<Value = ScalarExpr> {
    let agg = prop_oneof![
        Just(AggregateFn::Avg),
        Just(AggregateFn::Min),
        Just(AggregateFn::Max),
        Just(AggregateFn::Sum)
    ];
    let leaf = prop_oneof![
        Just(ScalarExprKind::Aggregate {
            func: AggregateFn::Count,
            field: None
        }),
        (agg, field_expr()).prop_map(|(func, f)| ScalarExprKind::Aggregate {
            func,
            field: Some(Box::new(f))
        }),
        numeric_static().prop_map(ScalarExprKind::Static),
    ]
    .prop_map(|kind| ScalarExpr { kind, span: sp() });
    leaf.prop_recursive(3, 8, 2, |inner| {
        (arith_op(), inner.clone(), inner).prop_map(|(op, l, r)| ScalarExpr {
            kind: ScalarExprKind::Binary {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r),
            },
            span: sp(),
        })
    })
}

fn metrics_fn() -> impl Strategy<Value = MetricsFn> {
    prop_oneof![
        Just(MetricsFn::Rate),
        Just(MetricsFn::CountOverTime),
        field_ref().prop_map(MetricsFn::SumOverTime),
        field_ref().prop_map(MetricsFn::MinOverTime),
        field_ref().prop_map(MetricsFn::MaxOverTime),
        field_ref().prop_map(MetricsFn::AvgOverTime),
        field_ref().prop_map(MetricsFn::HistogramOverTime),
        (field_ref(), prop::collection::vec(0.0f64..2.0, 1..4))
            .prop_map(|(field, quantiles)| MetricsFn::QuantileOverTime { field, quantiles }),
        (
            filter(),
            proptest::option::of(0..=i64::MAX),
            proptest::option::of((0..=i64::MAX, 0..=i64::MAX))
        )
            .prop_map(|(selection, top_n, range)| {
                MetricsFn::Compare {
                    selection,
                    range: if top_n.is_some() { range } else { None },
                    top_n,
                }
            }),
    ]
}

fn stage(kind: StageKind) -> Stage {
    Stage { kind, span: sp() }
}

fn expr(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

/// Spanset-valued expressions (filters, spanset operators, pipelines).
fn spanset_expr() -> BoxedStrategy<Expr> {
    let leaf = filter().prop_map(|f| expr(ExprKind::Filter(f)));
    leaf.prop_recursive(4, 16, 3, |inner| {
        let op = proptest::sample::select(vec![
            SpansetOp::And,
            SpansetOp::Or,
            SpansetOp::Child,
            SpansetOp::Descendant,
            SpansetOp::Parent,
            SpansetOp::Ancestor,
            SpansetOp::Sibling,
            SpansetOp::NotChild,
            SpansetOp::NotDescendant,
            SpansetOp::NotParent,
            SpansetOp::NotAncestor,
            SpansetOp::NotSibling,
            SpansetOp::UnionChild,
            SpansetOp::UnionDescendant,
            SpansetOp::UnionParent,
            SpansetOp::UnionAncestor,
            SpansetOp::UnionSibling,
        ]);
        let spanset_stage = prop_oneof![
            inner.clone().prop_map(StageKind::Spanset),
            (cmp_op(), scalar_expr(), scalar_expr())
                .prop_map(|(op, lhs, rhs)| StageKind::ScalarFilter { op, lhs, rhs }),
            field_expr().prop_map(StageKind::By),
            Just(StageKind::Coalesce),
            prop::collection::vec(field_ref(), 1..3).prop_map(StageKind::Select),
        ]
        .prop_map(stage);
        prop_oneof![
            (op, inner.clone(), inner.clone()).prop_map(|(op, l, r)| expr(ExprKind::Spanset {
                op,
                lhs: Box::new(l),
                rhs: Box::new(r)
            })),
            (head(inner), prop::collection::vec(spanset_stage, 1..3)).prop_map(|(h, stages)| {
                expr(ExprKind::Pipeline(Pipeline {
                    head: Box::new(h),
                    stages,
                }))
            }),
        ]
    })
    .boxed()
}

/// A pipeline head: anything spanset-valued but a pipeline.
fn head(inner: impl Strategy<Value = Expr>) -> impl Strategy<Value = Expr> {
    inner.prop_map(|e| match e.kind {
        ExprKind::Pipeline(p) => *p.head,
        _ => e,
    })
}

fn metrics_pipeline() -> BoxedStrategy<Expr> {
    let second = (
        prop_oneof![Just(SecondStageFn::TopK), Just(SecondStageFn::BottomK)],
        0i64..1000,
    )
        .prop_map(|(func, limit)| StageKind::SecondStage { func, limit });
    let filt = || {
        (cmp_op(), numeric_static()).prop_map(|(op, value)| StageKind::MetricsFilter { op, value })
    };
    (
        head(spanset_expr()),
        metrics_fn(),
        prop::collection::vec(field_ref(), 0..3),
        proptest::option::of(filt()),
        proptest::option::of((second, proptest::option::of(filt()))),
    )
        .prop_map(|(h, func, mut by, f1, second)| {
            // `compare()` takes no `by`.
            if matches!(func, MetricsFn::Compare { .. }) {
                by.clear();
            }
            let mut stages = vec![stage(StageKind::Metrics(MetricsAggregate { func, by }))];
            if let Some(f) = f1 {
                stages.push(stage(f));
            }
            if let Some((s, f2)) = second {
                stages.push(stage(s));
                if let Some(f) = f2 {
                    stages.push(stage(f));
                }
            }
            expr(ExprKind::Pipeline(Pipeline {
                head: Box::new(h),
                stages,
            }))
        })
        .boxed()
}

fn scalar_pipeline() -> BoxedStrategy<Expr> {
    (head(spanset_expr()), scalar_expr())
        .prop_map(|(h, s)| {
            expr(ExprKind::Pipeline(Pipeline {
                head: Box::new(h),
                stages: vec![stage(StageKind::Scalar(s))],
            }))
        })
        .boxed()
}

fn binary(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    expr(ExprKind::Binary {
        op,
        lhs: Box::new(l),
        rhs: Box::new(r),
    })
}

/// Arithmetic between wrapped scalar pipelines, compared with another or with a number
/// on the right.
fn scalar_comparison() -> BoxedStrategy<Expr> {
    let arith = scalar_pipeline().prop_recursive(3, 8, 2, |inner| {
        (arith_op(), inner.clone(), inner).prop_map(|(op, l, r)| binary(op, l, r))
    });
    let rhs = prop_oneof![
        arith.clone(),
        numeric_static().prop_map(|v| expr(ExprKind::Static(v))),
    ];
    (arith, cmp_op(), rhs)
        .prop_map(|(l, op, r)| binary(op, l, r))
        .boxed()
}

fn metrics_op() -> impl Strategy<Value = BinaryOp> {
    prop_oneof![
        Just(BinaryOp::Add),
        Just(BinaryOp::Sub),
        Just(BinaryOp::Mul),
        Just(BinaryOp::Div),
    ]
}

/// Metrics arithmetic: `+ - * /` between wrapped metrics pipelines and numbers, with at
/// least one pipeline, optionally followed by series filters and `topk`/`bottomk`.
fn metrics_arithmetic() -> BoxedStrategy<Expr> {
    let leaf = prop_oneof![
        metrics_pipeline(),
        numeric_static().prop_map(|v| expr(ExprKind::Static(v))),
    ];
    let arith = leaf.prop_recursive(3, 8, 2, |inner| {
        (metrics_op(), inner.clone(), inner).prop_map(|(op, l, r)| binary(op, l, r))
    });
    let tree = (
        metrics_op(),
        arith.clone(),
        metrics_pipeline(),
        arith,
        any::<bool>(),
    )
        .prop_map(|(op, a, p, b, left)| {
            // A pipeline on one side makes it metrics arithmetic.
            let with = binary(op, p, b);
            if left {
                binary(op, a, with)
            } else {
                binary(op, with, a)
            }
        });
    let tail = prop::collection::vec(
        prop_oneof![
            (cmp_op(), numeric_static())
                .prop_map(|(op, value)| StageKind::MetricsFilter { op, value }),
            (
                prop_oneof![Just(SecondStageFn::TopK), Just(SecondStageFn::BottomK)],
                0i64..1000,
            )
                .prop_map(|(func, limit)| StageKind::SecondStage { func, limit }),
        ],
        0..3,
    );
    (tree, tail)
        .prop_map(|(head, tail)| {
            if tail.is_empty() {
                head
            } else {
                expr(ExprKind::Pipeline(Pipeline {
                    head: Box::new(head),
                    stages: tail.into_iter().map(stage).collect(),
                }))
            }
        })
        .boxed()
}

fn query() -> impl Strategy<Value = Query> {
    let value = any_static().prop_filter("`nil` is not a hint value", |v| *v != Static::Nil);
    let hint = ("[a-z_][a-z0-9_]{0,8}", value).prop_map(|(key, value)| Hint {
        key,
        value,
        span: sp(),
    });
    (
        prop_oneof![
            spanset_expr(),
            metrics_pipeline(),
            scalar_comparison(),
            metrics_arithmetic()
        ],
        prop::collection::vec(hint, 0..2),
    )
        .prop_map(|(expr, hints)| Query {
            expr,
            hints,
            span: sp(),
        })
}

// ---- the parser's grouping of `&&` and `||` runs, written independently ----

/// Runs of `&&` (`||`) up to this many operands are grouped left to right.
const LEFT_DEEP_RUN: usize = 8;

fn group<T>(mut operands: Vec<T>, join: &impl Fn(T, T) -> T) -> T {
    if operands.len() > LEFT_DEEP_RUN {
        let rhs = operands.split_off(operands.len().div_ceil(2));
        let lhs = group(operands, join);
        return join(lhs, group(rhs, join));
    }
    let mut it = operands.into_iter();
    let first = it.next().unwrap();
    it.fold(first, join)
}

fn field_operands(e: FieldExpr, op: BinaryOp, out: &mut Vec<FieldExpr>) {
    match e.kind {
        FieldExprKind::Binary { op: o, lhs, rhs } if o == op => {
            field_operands(*lhs, op, out);
            field_operands(*rhs, op, out);
        }
        kind => out.push(normal_field(FieldExpr { kind, span: e.span })),
    }
}

/// A field expression with its `&&` and `||` runs grouped as the parser groups them.
fn normal_field(e: FieldExpr) -> FieldExpr {
    let span = e.span;
    let kind = match e.kind {
        FieldExprKind::Binary { op, lhs, rhs } if op.is_logical() => {
            let mut operands = Vec::new();
            field_operands(*lhs, op, &mut operands);
            field_operands(*rhs, op, &mut operands);
            return group(operands, &|l: FieldExpr, r: FieldExpr| FieldExpr {
                kind: FieldExprKind::Binary {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                },
                span,
            });
        }
        FieldExprKind::Binary { op, lhs, rhs } => FieldExprKind::Binary {
            op,
            lhs: Box::new(normal_field(*lhs)),
            rhs: Box::new(normal_field(*rhs)),
        },
        FieldExprKind::Unary { op, expr } => FieldExprKind::Unary {
            op,
            expr: Box::new(normal_field(*expr)),
        },
        kind => kind,
    };
    FieldExpr { kind, span }
}

fn normal_filter(f: SpansetFilter) -> SpansetFilter {
    SpansetFilter {
        expr: f.expr.map(normal_field),
        span: f.span,
    }
}

fn normal_scalar(e: ScalarExpr) -> ScalarExpr {
    let kind = match e.kind {
        ScalarExprKind::Binary { op, lhs, rhs } => ScalarExprKind::Binary {
            op,
            lhs: Box::new(normal_scalar(*lhs)),
            rhs: Box::new(normal_scalar(*rhs)),
        },
        ScalarExprKind::Aggregate { func, field } => ScalarExprKind::Aggregate {
            func,
            field: field.map(|f| Box::new(normal_field(*f))),
        },
        kind => kind,
    };
    ScalarExpr { kind, span: e.span }
}

fn normal_stage(s: Stage) -> Stage {
    let kind = match s.kind {
        StageKind::Spanset(e) => StageKind::Spanset(normal_expr(e)),
        StageKind::ScalarFilter { op, lhs, rhs } => StageKind::ScalarFilter {
            op,
            lhs: normal_scalar(lhs),
            rhs: normal_scalar(rhs),
        },
        StageKind::Scalar(e) => StageKind::Scalar(normal_scalar(e)),
        StageKind::By(f) => StageKind::By(normal_field(f)),
        StageKind::Select(fs) => StageKind::Select(fs.into_iter().map(normal_field).collect()),
        StageKind::Metrics(m) => {
            let func = match m.func {
                MetricsFn::SumOverTime(f) => MetricsFn::SumOverTime(normal_field(f)),
                MetricsFn::MinOverTime(f) => MetricsFn::MinOverTime(normal_field(f)),
                MetricsFn::MaxOverTime(f) => MetricsFn::MaxOverTime(normal_field(f)),
                MetricsFn::AvgOverTime(f) => MetricsFn::AvgOverTime(normal_field(f)),
                MetricsFn::HistogramOverTime(f) => MetricsFn::HistogramOverTime(normal_field(f)),
                MetricsFn::QuantileOverTime { field, quantiles } => MetricsFn::QuantileOverTime {
                    field: normal_field(field),
                    quantiles,
                },
                MetricsFn::Compare {
                    selection,
                    top_n,
                    range,
                } => MetricsFn::Compare {
                    selection: normal_filter(selection),
                    top_n,
                    range,
                },
                f => f,
            };
            StageKind::Metrics(MetricsAggregate {
                func,
                by: m.by.into_iter().map(normal_field).collect(),
            })
        }
        kind => kind,
    };
    Stage { kind, span: s.span }
}

fn expr_operands(e: Expr, op: SpansetOp, out: &mut Vec<Expr>) {
    match e.kind {
        ExprKind::Spanset { op: o, lhs, rhs } if o == op => {
            expr_operands(*lhs, op, out);
            expr_operands(*rhs, op, out);
        }
        kind => out.push(normal_expr(Expr { kind, span: e.span })),
    }
}

/// An expression with its `&&` and `||` runs grouped as the parser groups them.
fn normal_expr(e: Expr) -> Expr {
    let span = e.span;
    let kind = match e.kind {
        ExprKind::Spanset { op, lhs, rhs } if matches!(op, SpansetOp::And | SpansetOp::Or) => {
            let mut operands = Vec::new();
            expr_operands(*lhs, op, &mut operands);
            expr_operands(*rhs, op, &mut operands);
            return group(operands, &|l: Expr, r: Expr| Expr {
                kind: ExprKind::Spanset {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                },
                span,
            });
        }
        ExprKind::Spanset { op, lhs, rhs } => ExprKind::Spanset {
            op,
            lhs: Box::new(normal_expr(*lhs)),
            rhs: Box::new(normal_expr(*rhs)),
        },
        ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary {
            op,
            lhs: Box::new(normal_expr(*lhs)),
            rhs: Box::new(normal_expr(*rhs)),
        },
        ExprKind::Filter(f) => ExprKind::Filter(normal_filter(f)),
        ExprKind::Pipeline(p) => ExprKind::Pipeline(Pipeline {
            head: Box::new(normal_expr(*p.head)),
            stages: p.stages.into_iter().map(normal_stage).collect(),
        }),
        kind => kind,
    };
    Expr { kind, span }
}

/// The query in the parser's normal form.
fn normal(q: Query) -> Query {
    Query {
        expr: normal_expr(q.expr),
        hints: q.hints,
        span: q.span,
    }
}

#[test]
fn runs_are_grouped_left_to_right_then_in_balanced_halves() {
    let text = (1..=20)
        .map(|i| format!(".a = {i}"))
        .collect::<Vec<_>>()
        .join(" || ");
    let q = parse(&format!("{{ {text} }}")).unwrap();
    assert_eq!(normal(q.clone()), q);
    // The same run, bracketed otherwise, is the same tree.
    let bracketed = parse(&format!(
        "{{ (.a = 1 || .a = 2) || (.a = 3 || ({})) }}",
        (4..=20)
            .map(|i| format!(".a = {i}"))
            .collect::<Vec<_>>()
            .join(" || ")
    ))
    .unwrap();
    assert_eq!(bracketed, q);
    assert_eq!(format(&bracketed), format!("{{ {text} }}"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn format_then_parse_gives_the_same_tree(q in query()) {
        let text = format(&q);
        let back = parse_unchecked(&text);
        prop_assert!(back.is_ok(), "{text}\n{}", back.unwrap_err());
        let back = back.unwrap();
        // Runs of `&&` and `||` are written flat: they come back grouped as the parser
        // groups them.
        prop_assert_eq!(&back, &normal(q), "{}", text);
        // Canonical text is a fixed point.
        prop_assert_eq!(format(&back), text);
    }

    #[test]
    fn parsing_never_panics(s in "[ -~µ]{0,60}") {
        if let Ok(q) = parse_unchecked(&s) {
            let text = format(&q);
            prop_assert_eq!(parse_unchecked(&text).ok(), Some(q), "{}", text);
        }
    }
}

/// Fragments of TraceQL, for random but plausible token sequences.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    ",",
    "|",
    "&&",
    "||",
    "!",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=~",
    "!~",
    ">>",
    "<<",
    "~",
    "!>",
    "!>>",
    "!<",
    "!<<",
    "&>",
    "&>>",
    "&<",
    "&<<",
    "&~",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    ".a",
    "span.http.status_code",
    "resource.service.name",
    "span.\"a b\"",
    "event.x",
    "link.y",
    "instrumentation.z",
    "name",
    "status",
    "kind",
    "duration",
    "span:duration",
    "trace:rootService",
    "span:id",
    "nestedSetLeft",
    "1",
    "-2",
    "1.5",
    ".99",
    "1e3",
    "100ms",
    "1h30m",
    "\"x\"",
    "`y`",
    "true",
    "false",
    "nil",
    "error",
    "ok",
    "server",
    "client",
    "count()",
    "avg(duration)",
    "max",
    "min",
    "sum",
    "count",
    "avg",
    "by",
    "by(.a)",
    "coalesce()",
    "select",
    "rate()",
    "count_over_time()",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
    "sum_over_time",
    "topk(3)",
    "bottomk",
    "with",
    "with(sample=true)",
    "sample",
    "{}",
    "{ .a = 1 }",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20000))]

    #[test]
    fn token_soup_never_panics_and_round_trips(
        parts in prop::collection::vec((proptest::sample::select(FRAGMENTS), any::<bool>()), 0..24)
    ) {
        let mut s = String::new();
        for (p, space) in parts {
            s.push_str(p);
            if space {
                s.push(' ');
            }
        }
        let _ = parse_lenient(&s);
        match parse_unchecked(&s) {
            Ok(q) => {
                let _ = validate(&q);
                let _ = explain(&q);
                let text = format(&q);
                let back = parse_unchecked(&text);
                prop_assert_eq!(back.as_ref().ok(), Some(&q), "{} -> {} -> {:?}", s, text, back);
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}
