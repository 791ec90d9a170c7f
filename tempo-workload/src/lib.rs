//! The standard workload of the tempo trace store: what does a realistic stream of traces look
//! like?
//!
//! The synthetic workload that the benchmarks, the load generator, the examples and the tests
//! share. It is deterministic: a seed and a base time fix every byte. Each trace is a call tree
//! through a shop of ten microservices (frontend, checkout, cart, payment, shipping, email,
//! currency, recommendation, ad, product-catalog): server, client and internal spans with
//! parent links forming one tree, resource attributes the way OpenTelemetry SDKs on Kubernetes
//! send them, HTTP, gRPC and database span attributes following the semantic conventions, about
//! 2% error spans (status error with a message and an `exception` event), long-tailed
//! (log-normal) durations, a few events and links.
//!
//! Traces have 5 to 60 spans (mean about 20) by default, or exactly N spans each, the shape of
//! the ingest figures (batches of 100 traces of 10 spans). A [`BatchTemplate`] re-sends one
//! encoded batch with fresh trace IDs and shifted timestamps, for load generators that must not
//! spend their time encoding.
//!
//! This crate is not published and has no stable API: it is a development dependency of the
//! workspace's benches, examples and tests. It builds batches of `tempo-core`'s public
//! [`model`](tempo_core::model) types and nothing else of it; it stores nothing itself.
//!
//! ```
//! use tempo_workload::{Workload, encode_batch};
//!
//! let mut workload = Workload::new(42).base_time_unix_nanos(1_700_000_000_000_000_000);
//! let bytes = encode_batch(&workload.batch(100, Some(10)));
//!
//! // The same seed and base time give the same bytes.
//! let mut again = Workload::new(42).base_time_unix_nanos(1_700_000_000_000_000_000);
//! assert_eq!(encode_batch(&again.batch(100, Some(10))), bytes);
//!
//! // Every span is valid for the store.
//! let batch = tempo_core::Batch::decode(bytes.into())?;
//! assert_eq!(batch.span_count(), 1000);
//! assert_eq!(batch.rejected_spans(), 0);
//! # Ok::<(), tempo_core::DecodeError>(())
//! ```
//!
//! It has no cargo features.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use tempo_core::model::{
    AnyValue, Event, InstrumentationScope, KeyValue, Link, Resource, ResourceSpans, ScopeSpans,
    Span, SpanKind, Status, StatusCode, TracesData, Value,
};

/// A small, fast, seeded pseudo-random generator (xoshiro256**, seeded through splitmix64).
///
/// Not for cryptography: it makes the workload reproducible.
#[derive(Debug, Clone)]
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix64(sm)
        };
        Rng {
            state: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// An index into a collection of `len` items (0 when `len` is 0).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A float uniformly in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal deviate (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal deviate with the given median and shape `sigma`.
    pub fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// A non-zero 64-bit value.
    pub fn non_zero(&mut self) -> u64 {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return v;
            }
        }
    }
}

/// splitmix64's finalizer: a bijection of `u64` that scatters its bits, so distinct inputs give
/// distinct, random-looking outputs.
pub fn mix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How many spans each generated trace has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpansPerTrace {
    /// The standard distribution: 5 to 60 spans, mean about 20, long-tailed.
    #[default]
    Standard,
    /// Exactly this many spans (at least 1).
    Exactly(usize),
}

/// The protocol a service serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http,
    Grpc,
}

/// A database a service queries.
struct Database {
    system: &'static str,
    name: &'static str,
    host: &'static str,
    port: i64,
    /// Operation, collection, statement.
    statements: &'static [(&'static str, &'static str, &'static str)],
}

/// One service of the simulated shop.
struct ServiceDef {
    name: &'static str,
    language: &'static str,
    sdk_version: &'static str,
    scope: &'static str,
    scope_version: &'static str,
    version: &'static str,
    protocol: Protocol,
    /// The gRPC service name, or the HTTP host name.
    rpc_service: &'static str,
    port: i64,
    /// gRPC methods, or HTTP `METHOD /route`.
    endpoints: &'static [&'static str],
    /// Indices of services it calls.
    calls: &'static [usize],
    database: Option<Database>,
    internals: &'static [&'static str],
}

const FRONTEND: usize = 0;

/// The shop, indexed as in `calls`.
const SERVICES: [ServiceDef; 10] = [
    ServiceDef {
        name: "frontend",
        language: "nodejs",
        sdk_version: "1.30.1",
        scope: "@opentelemetry/instrumentation-http",
        scope_version: "0.57.2",
        version: "2.0.2",
        protocol: Protocol::Http,
        rpc_service: "frontend",
        port: 8080,
        endpoints: &[
            "GET /",
            "GET /api/products/{productId}",
            "GET /api/cart",
            "POST /api/cart",
            "POST /api/checkout",
            "GET /api/recommendations",
            "GET /api/data",
            "GET /api/currency",
        ],
        calls: &[9, 2, 1, 7, 8, 6, 4],
        database: None,
        internals: &["getServerSideProps", "validateSession", "render"],
    },
    ServiceDef {
        name: "checkout",
        language: "go",
        sdk_version: "1.35.0",
        scope: "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
        scope_version: "0.60.0",
        version: "2.0.2",
        protocol: Protocol::Grpc,
        rpc_service: "oteldemo.CheckoutService",
        port: 5050,
        endpoints: &["PlaceOrder"],
        calls: &[2, 9, 6, 4, 3, 5],
        database: None,
        internals: &[
            "prepareOrderItemsAndShippingQuoteFromCart",
            "convertCurrency",
            "sendOrderConfirmation",
        ],
    },
    ServiceDef {
        name: "cart",
        language: "dotnet",
        sdk_version: "1.11.2",
        scope: "OpenTelemetry.Instrumentation.AspNetCore",
        scope_version: "1.11.1",
        version: "2.0.2",
        protocol: Protocol::Grpc,
        rpc_service: "oteldemo.CartService",
        port: 7070,
        endpoints: &["GetCart", "AddItem", "EmptyCart"],
        calls: &[],
        database: Some(Database {
            system: "redis",
            name: "0",
            host: "valkey-cart",
            port: 6379,
            statements: &[
                ("HGET", "cart", "HGET cart:? items"),
                ("HSET", "cart", "HSET cart:? items ?"),
                ("EXPIRE", "cart", "EXPIRE cart:? 3600"),
                ("DEL", "cart", "DEL cart:?"),
            ],
        }),
        internals: &["CartStore.GetCartAsync", "CartStore.AddItemAsync"],
    },
    ServiceDef {
        name: "payment",
        language: "nodejs",
        sdk_version: "1.30.1",
        scope: "@opentelemetry/instrumentation-grpc",
        scope_version: "0.57.2",
        version: "2.0.2",
        protocol: Protocol::Grpc,
        rpc_service: "oteldemo.PaymentService",
        port: 50051,
        endpoints: &["Charge"],
        calls: &[],
        database: None,
        internals: &["charge", "validateCard"],
    },
    ServiceDef {
        name: "shipping",
        language: "rust",
        sdk_version: "0.28.0",
        scope: "opentelemetry-http",
        scope_version: "0.28.0",
        version: "2.0.2",
        protocol: Protocol::Http,
        rpc_service: "shipping",
        port: 50050,
        endpoints: &["POST /get-quote", "POST /ship-order"],
        calls: &[],
        database: None,
        internals: &["calculate-quote", "create-tracking-id"],
    },
    ServiceDef {
        name: "email",
        language: "ruby",
        sdk_version: "1.8.0",
        scope: "OpenTelemetry::Instrumentation::Sinatra",
        scope_version: "0.25.0",
        version: "2.0.2",
        protocol: Protocol::Http,
        rpc_service: "email",
        port: 6060,
        endpoints: &["POST /send_order_confirmation"],
        calls: &[],
        database: None,
        internals: &["render-template", "deliver"],
    },
    ServiceDef {
        name: "currency",
        language: "cpp",
        sdk_version: "1.19.0",
        scope: "currency",
        scope_version: "1.0.0",
        version: "2.0.2",
        protocol: Protocol::Grpc,
        rpc_service: "oteldemo.CurrencyService",
        port: 7001,
        endpoints: &["Convert", "GetSupportedCurrencies"],
        calls: &[],
        database: None,
        internals: &["Convert/lookup-rate"],
    },
    ServiceDef {
        name: "recommendation",
        language: "python",
        sdk_version: "1.32.1",
        scope: "opentelemetry.instrumentation.grpc",
        scope_version: "0.53b1",
        version: "2.0.2",
        protocol: Protocol::Grpc,
        rpc_service: "oteldemo.RecommendationService",
        port: 9001,
        endpoints: &["ListRecommendations"],
        calls: &[9],
        database: None,
        internals: &["get_product_list", "filter_products"],
    },
    ServiceDef {
        name: "ad",
        language: "java",
        sdk_version: "1.49.0",
        scope: "io.opentelemetry.grpc-1.6",
        scope_version: "2.15.0-alpha",
        version: "2.0.2",
        protocol: Protocol::Grpc,
        rpc_service: "oteldemo.AdService",
        port: 9555,
        endpoints: &["GetAds"],
        calls: &[],
        database: None,
        internals: &["getAdsByCategory", "getRandomAds"],
    },
    ServiceDef {
        name: "product-catalog",
        language: "go",
        sdk_version: "1.35.0",
        scope: "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc",
        scope_version: "0.60.0",
        version: "2.0.2",
        protocol: Protocol::Grpc,
        rpc_service: "oteldemo.ProductCatalogService",
        port: 3550,
        endpoints: &["GetProduct", "ListProducts", "SearchProducts"],
        calls: &[],
        database: Some(Database {
            system: "postgresql",
            name: "catalog",
            host: "postgresql",
            port: 5432,
            statements: &[
                (
                    "SELECT",
                    "products",
                    "SELECT id, name, description, picture, price_units, price_nanos FROM products WHERE id = $1",
                ),
                (
                    "SELECT",
                    "products",
                    "SELECT id, name, price_units, price_nanos FROM products ORDER BY name LIMIT $1",
                ),
                (
                    "SELECT",
                    "categories",
                    "SELECT c.name FROM categories c JOIN product_categories pc ON pc.category_id = c.id WHERE pc.product_id = $1",
                ),
            ],
        }),
        internals: &["decodeProduct", "searchIndex"],
    },
];

/// Pods per service.
const INSTANCES: usize = 3;

const PRODUCTS: [&str; 10] = [
    "OLJCESPC7Z",
    "66VCHSJNUP",
    "1YMWWN1N4O",
    "L9ECAV7KIM",
    "2ZYFJ3GM2N",
    "0PUK6V6EV0",
    "LS4PSXUNUM",
    "9SIQT8TOJO",
    "6E92ZMYYFZ",
    "HQTGWGPNH4",
];

const USER_AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "python-requests/2.32.3",
];

/// Error causes: exception type, message.
const FAILURES: [(&str, &str); 6] = [
    ("ConnectionRefusedError", "connection refused"),
    ("TimeoutError", "context deadline exceeded"),
    ("PaymentDeclined", "payment declined: card expired"),
    (
        "RedisTimeoutException",
        "timeout performing HGET, inactive 5000ms",
    ),
    ("ProductNotFound", "no product with that ID"),
    ("InternalError", "unexpected end of JSON input"),
];

const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.26.0";

/// What a span does.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Serves the endpoint of its service.
    Server { endpoint: usize },
    /// Calls an endpoint of another service.
    Client { target: usize, endpoint: usize },
    /// Queries its service's database.
    Db { statement: usize },
    /// In-process work.
    Internal { name: usize },
}

/// A span of the call tree while it is built.
#[derive(Debug, Clone)]
struct Node {
    parent: Option<usize>,
    service: usize,
    instance: usize,
    op: Op,
    self_nanos: u64,
    duration: u64,
    start: u64,
    parallel: bool,
    error: Option<usize>,
    span_id: [u8; 8],
}

/// The standard workload: a seeded generator of traces.
///
/// Two workloads with the same seed, base time and span-count setting produce the same bytes.
#[derive(Debug, Clone)]
pub struct Workload {
    rng: Rng,
    spans_per_trace: SpansPerTrace,
    base_time: u64,
    clock: u64,
    error_rate: f64,
    resources: Vec<Resource>,
    previous_root: Option<([u8; 16], [u8; 8])>,
    traces: u64,
}

impl Workload {
    /// A workload seeded with `seed`, starting now, with the standard span-count distribution.
    pub fn new(seed: u64) -> Workload {
        let mut rng = Rng::new(seed);
        let resources = build_resources(&mut rng);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Workload {
            rng,
            spans_per_trace: SpansPerTrace::Standard,
            base_time: now,
            clock: 0,
            error_rate: 0.015,
            resources,
            previous_root: None,
            traces: 0,
        }
    }

    /// Starts the first trace at `nanos` since the Unix epoch; later traces start about a
    /// millisecond apart on average.
    pub fn base_time_unix_nanos(mut self, nanos: u64) -> Workload {
        self.base_time = nanos;
        self
    }

    /// Sets how many spans each trace has.
    pub fn spans_per_trace(mut self, spans: SpansPerTrace) -> Workload {
        self.spans_per_trace = spans;
        self
    }

    /// Number of traces generated so far.
    pub fn traces_generated(&self) -> u64 {
        self.traces
    }

    /// The next trace: its spans grouped by resource (one per service instance), as the
    /// instrumented services would send them.
    pub fn next_trace(&mut self) -> Vec<ResourceSpans> {
        let mut grouper = Grouper::new();
        let n = self.span_count(None);
        self.emit_trace(n, &mut grouper);
        grouper.out
    }

    /// The next `traces` traces in one message, each resource appearing once. With
    /// `spans_per_trace`, every trace has exactly that many spans; with `None`, the workload's
    /// own setting applies.
    pub fn batch(&mut self, traces: usize, spans_per_trace: Option<usize>) -> TracesData {
        let mut grouper = Grouper::new();
        for _ in 0..traces {
            let n = self.span_count(spans_per_trace);
            self.emit_trace(n, &mut grouper);
        }
        TracesData {
            resource_spans: grouper.out,
        }
    }

    fn span_count(&mut self, exact: Option<usize>) -> usize {
        let setting = exact.map_or(self.spans_per_trace, SpansPerTrace::Exactly);
        match setting {
            SpansPerTrace::Exactly(n) => n.max(1),
            SpansPerTrace::Standard => {
                let n = self.rng.log_normal(17.5, 0.5).round();
                n.clamp(5.0, 60.0) as usize
            }
        }
    }

    fn emit_trace(&mut self, n: usize, grouper: &mut Grouper) {
        self.traces += 1;
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&self.rng.non_zero().to_le_bytes());
        trace_id[8..].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        self.clock += self.rng.below(2_000_000);
        let start = self.base_time.saturating_add(self.clock);

        let mut nodes = self.build_tree(n);
        self.assign_errors(&mut nodes);
        self.assign_times(&mut nodes, start);
        self.assign_ids(&mut nodes);
        let user = self.rng.below(1000);

        for i in 0..nodes.len() {
            let span = self.render(&nodes, i, trace_id, user);
            let node = &nodes[i];
            grouper.push(
                node.service * INSTANCES + node.instance,
                &self.resources,
                span,
            );
        }
        if let Some(root) = nodes.first() {
            self.previous_root = Some((trace_id, root.span_id));
        }
    }

    fn build_tree(&mut self, n: usize) -> Vec<Node> {
        let rng = &mut self.rng;
        let mut nodes = Vec::with_capacity(n);
        let root_endpoint = rng.index(SERVICES[FRONTEND].endpoints.len());
        nodes.push(Node::new(
            None,
            FRONTEND,
            rng.index(INSTANCES),
            Op::Server {
                endpoint: root_endpoint,
            },
        ));
        // Spans that may get children: server spans, and internal spans of services that call
        // out or query a database.
        let mut expandable = vec![0usize];
        while nodes.len() < n {
            let remaining = n - nodes.len();
            // Half the time extend the newest expandable span, for depth; otherwise any.
            let pick = if rng.chance(0.5) {
                expandable.len() - 1
            } else {
                rng.index(expandable.len())
            };
            let parent = expandable[pick];
            let service = nodes[parent].service;
            let instance = nodes[parent].instance;
            let def = &SERVICES[service];
            let call_weight = if !def.calls.is_empty() && remaining >= 2 {
                6
            } else {
                0
            };
            let db_weight = if def.database.is_some() { 4 } else { 0 };
            let internal_weight = 1;
            let roll = rng.below(call_weight + db_weight + internal_weight);
            if roll < call_weight {
                let target = def.calls[rng.index(def.calls.len())];
                let endpoint = rng.index(SERVICES[target].endpoints.len());
                let client = nodes.len();
                nodes.push(Node::new(
                    Some(parent),
                    service,
                    instance,
                    Op::Client { target, endpoint },
                ));
                expandable.push(nodes.len());
                nodes.push(Node::new(
                    Some(client),
                    target,
                    rng.index(INSTANCES),
                    Op::Server { endpoint },
                ));
            } else if roll < call_weight + db_weight {
                let statements = def.database.as_ref().map_or(1, |d| d.statements.len());
                nodes.push(Node::new(
                    Some(parent),
                    service,
                    instance,
                    Op::Db {
                        statement: rng.index(statements),
                    },
                ));
            } else {
                if !def.calls.is_empty() || def.database.is_some() {
                    expandable.push(nodes.len());
                }
                nodes.push(Node::new(
                    Some(parent),
                    service,
                    instance,
                    Op::Internal {
                        name: rng.index(def.internals.len()),
                    },
                ));
            }
        }
        nodes
    }

    /// Marks about 2% of spans as failed: an origin (a server, database or internal span)
    /// fails, the client span calling a failed server fails too, and a failed call or query
    /// fails the span that made it with probability one half.
    fn assign_errors(&mut self, nodes: &mut [Node]) {
        for i in 0..nodes.len() {
            if matches!(nodes[i].op, Op::Client { .. }) || !self.rng.chance(self.error_rate) {
                continue;
            }
            let failure = self.rng.index(FAILURES.len());
            nodes[i].error = Some(failure);
            let mut current = i;
            while let Some(parent) = nodes[current].parent {
                let climbs = match nodes[parent].op {
                    Op::Client { .. } => true,
                    _ => {
                        matches!(nodes[current].op, Op::Client { .. } | Op::Db { .. })
                            && self.rng.chance(0.5)
                    }
                };
                if !climbs {
                    break;
                }
                if nodes[parent].error.is_none() {
                    nodes[parent].error = Some(failure);
                }
                current = parent;
            }
        }
    }

    fn assign_times(&mut self, nodes: &mut [Node], start: u64) {
        let rng = &mut self.rng;
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            if let Some(p) = node.parent {
                children[p].push(i);
            }
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            let (median, sigma) = match node.op {
                Op::Server { .. } => (300_000.0, 0.9),
                Op::Client { .. } => (250_000.0, 0.6),
                Op::Internal { .. } => (150_000.0, 1.1),
                Op::Db { .. } => match SERVICES[node.service].database {
                    Some(Database {
                        system: "redis", ..
                    }) => (400_000.0, 0.8),
                    _ => (1_800_000.0, 1.0),
                },
            };
            let mut nanos = rng.log_normal(median, sigma);
            // Rare stalls: garbage collection, lock contention, a cold cache.
            if rng.chance(0.005) {
                nanos *= 20.0;
            }
            node.self_nanos = (nanos as u64).clamp(1_000, 30_000_000_000);
            node.parallel = children[i].len() >= 2 && rng.chance(0.25);
        }
        // Durations bottom-up: children always come after their parent.
        for i in (0..nodes.len()).rev() {
            let own = nodes[i].self_nanos;
            let kids = &children[i];
            let duration = if kids.is_empty() {
                own
            } else if nodes[i].parallel {
                let slowest = kids
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| k as u64 * 20_000 + nodes[c].duration)
                    .max()
                    .unwrap_or(0);
                own + slowest
            } else {
                own + kids.iter().map(|&c| nodes[c].duration).sum::<u64>()
            };
            nodes[i].duration = duration;
        }
        // Start times top-down.
        if let Some(root) = nodes.first_mut() {
            root.start = start;
        }
        for i in 0..nodes.len() {
            let kids = &children[i];
            if kids.is_empty() {
                continue;
            }
            let own = nodes[i].self_nanos;
            let parent_start = nodes[i].start;
            if nodes[i].parallel {
                for (k, &c) in kids.iter().enumerate() {
                    nodes[c].start = parent_start + own / 2 + k as u64 * 20_000;
                }
            } else {
                let gap = own / (kids.len() as u64 + 1);
                let mut cursor = parent_start + gap;
                for &c in kids {
                    nodes[c].start = cursor;
                    cursor += nodes[c].duration + gap;
                }
            }
        }
    }

    fn assign_ids(&mut self, nodes: &mut [Node]) {
        for i in 0..nodes.len() {
            let id = loop {
                let candidate = self.rng.non_zero().to_le_bytes();
                if nodes[..i].iter().all(|n| n.span_id != candidate) {
                    break candidate;
                }
            };
            nodes[i].span_id = id;
        }
    }

    fn render(&mut self, nodes: &[Node], i: usize, trace_id: [u8; 16], user: u64) -> Span {
        let rng = &mut self.rng;
        let node = &nodes[i];
        let def = &SERVICES[node.service];
        let parent = node.parent.map(|p| &nodes[p]);
        let failure = node.error.map(|f| FAILURES[f]);
        let mut attributes = Vec::with_capacity(10);
        let mut events = Vec::new();
        let kind;
        let name;
        match node.op {
            Op::Server { endpoint } => {
                kind = SpanKind::Server;
                let endpoint = def.endpoints[endpoint];
                match def.protocol {
                    Protocol::Http => {
                        let (method, route) = endpoint.split_once(' ').unwrap_or(("GET", "/"));
                        name = endpoint.to_owned();
                        let status = match failure {
                            Some(_) if rng.chance(0.3) => 503,
                            Some(_) => 500,
                            None if rng.chance(0.01) => 404,
                            None => 200,
                        };
                        let product = PRODUCTS[rng.index(PRODUCTS.len())];
                        attributes.push(KeyValue::string("http.request.method", method));
                        attributes.push(KeyValue::string("http.route", route));
                        attributes.push(KeyValue::string(
                            "url.path",
                            route.replace("{productId}", product),
                        ));
                        attributes.push(KeyValue::string("url.scheme", "http"));
                        attributes.push(KeyValue::string("server.address", def.rpc_service));
                        attributes.push(KeyValue::int("server.port", def.port));
                        attributes.push(KeyValue::string("network.protocol.version", "1.1"));
                        attributes.push(KeyValue::int("http.response.status_code", status));
                        if node.service == FRONTEND {
                            attributes.push(KeyValue::string(
                                "user_agent.original",
                                USER_AGENTS[rng.index(USER_AGENTS.len())],
                            ));
                            attributes.push(KeyValue::string(
                                "client.address",
                                format!("10.42.{}.{}", rng.below(8), 2 + rng.below(250)),
                            ));
                        }
                    }
                    Protocol::Grpc => {
                        name = format!("{}/{}", def.rpc_service, endpoint);
                        rpc_attributes(&mut attributes, def, endpoint, failure.is_some());
                    }
                }
                if node.parent.is_none() {
                    attributes.push(KeyValue::string("app.user.id", format!("user-{user:04}")));
                    attributes.push(KeyValue::string(
                        "session.id",
                        hex::encode(mix64(user ^ 0x5e55_1011).to_le_bytes()),
                    ));
                }
                match node.service {
                    9 => attributes.push(KeyValue::string(
                        "app.product.id",
                        PRODUCTS[rng.index(PRODUCTS.len())],
                    )),
                    2 => {
                        attributes.push(KeyValue::int("app.cart.items.count", rng.below(8) as i64))
                    }
                    3 => attributes.push(kv(
                        "app.payment.amount",
                        Value::DoubleValue((rng.below(50_000) as f64) / 100.0),
                    )),
                    _ => {}
                }
            }
            Op::Client { target, endpoint } => {
                kind = SpanKind::Client;
                let target_def = &SERVICES[target];
                let endpoint = target_def.endpoints[endpoint];
                match target_def.protocol {
                    Protocol::Http => {
                        let (method, route) = endpoint.split_once(' ').unwrap_or(("GET", "/"));
                        name = method.to_owned();
                        attributes.push(KeyValue::string("http.request.method", method));
                        attributes.push(KeyValue::string(
                            "url.full",
                            format!(
                                "http://{}:{}{}",
                                target_def.rpc_service, target_def.port, route
                            ),
                        ));
                        attributes.push(KeyValue::string("server.address", target_def.rpc_service));
                        attributes.push(KeyValue::int("server.port", target_def.port));
                        attributes.push(KeyValue::int(
                            "http.response.status_code",
                            if failure.is_some() { 500 } else { 200 },
                        ));
                    }
                    Protocol::Grpc => {
                        name = format!("{}/{}", target_def.rpc_service, endpoint);
                        rpc_attributes(&mut attributes, target_def, endpoint, failure.is_some());
                        attributes.push(KeyValue::string("server.address", target_def.name));
                        attributes.push(KeyValue::int("server.port", target_def.port));
                        if rng.chance(0.2) {
                            let at = node.start + node.self_nanos / 4;
                            events.push(message_event(at, "SENT", rng.below(4096) as i64));
                            let back =
                                node.start + node.duration.saturating_sub(node.self_nanos / 4);
                            events.push(message_event(back, "RECEIVED", rng.below(65536) as i64));
                        }
                    }
                }
            }
            Op::Db { statement } => {
                kind = SpanKind::Client;
                match &def.database {
                    Some(db) => {
                        let (operation, collection, text) =
                            db.statements[statement % db.statements.len()];
                        name = if db.system == "redis" {
                            operation.to_owned()
                        } else {
                            format!("{operation} {}.{collection}", db.name)
                        };
                        attributes.push(KeyValue::string("db.system", db.system));
                        attributes.push(KeyValue::string("db.name", db.name));
                        attributes.push(KeyValue::string("db.operation", operation));
                        if db.system == "redis" {
                            attributes.push(KeyValue::int("db.redis.database_index", 0));
                        } else {
                            attributes.push(KeyValue::string("db.sql.table", collection));
                        }
                        attributes.push(KeyValue::string("db.statement", text));
                        attributes.push(KeyValue::string("server.address", db.host));
                        attributes.push(KeyValue::int("server.port", db.port));
                    }
                    None => name = "query".to_owned(),
                }
            }
            Op::Internal { name: which } => {
                kind = SpanKind::Internal;
                name = def.internals[which % def.internals.len()].to_owned();
                attributes.push(KeyValue::string("code.function", name.clone()));
                attributes.push(KeyValue::int("thread.id", 1 + rng.below(64) as i64));
                if rng.chance(0.05) {
                    events.push(Event {
                        time_unix_nano: node.start + node.duration / 2,
                        name: "cache miss".into(),
                        attributes: vec![KeyValue::string("cache.key", name.clone())],
                        dropped_attributes_count: 0,
                    });
                }
            }
        }

        let status = match failure {
            Some((exception, message)) => {
                events.push(Event {
                    time_unix_nano: node.start + node.duration.saturating_sub(node.self_nanos / 8),
                    name: "exception".into(),
                    attributes: vec![
                        KeyValue::string("exception.type", exception),
                        KeyValue::string("exception.message", message),
                        KeyValue::string(
                            "exception.stacktrace",
                            format!(
                                "{exception}: {message}\n    at {name} ({}/src/handler:{})",
                                def.name,
                                40 + rng.below(400)
                            ),
                        ),
                    ],
                    dropped_attributes_count: 0,
                });
                Some(Status {
                    message: message.to_owned(),
                    code: StatusCode::Error as i32,
                })
            }
            None => None,
        };

        let mut links = Vec::new();
        if node.parent.is_none()
            && rng.chance(0.03)
            && let Some((trace, span)) = self.previous_root
        {
            links.push(Link {
                trace_id: trace.to_vec(),
                span_id: span.to_vec(),
                trace_state: String::new(),
                attributes: vec![KeyValue::string("opentracing.ref_type", "follows_from")],
                dropped_attributes_count: 0,
                flags: 0x101,
            });
        }

        // Trace flags: sampled; bits 8 and 9 say whether the parent is remote.
        let remote_parent = matches!(node.op, Op::Server { .. }) && parent.is_some();
        Span {
            trace_id: trace_id.to_vec(),
            span_id: node.span_id.to_vec(),
            trace_state: String::new(),
            parent_span_id: parent.map_or_else(Vec::new, |p| p.span_id.to_vec()),
            name,
            kind: kind as i32,
            start_time_unix_nano: node.start,
            end_time_unix_nano: node.start + node.duration,
            attributes,
            dropped_attributes_count: 0,
            events,
            dropped_events_count: 0,
            links,
            dropped_links_count: 0,
            status,
            flags: if remote_parent { 0x301 } else { 0x101 },
        }
    }
}

impl Node {
    fn new(parent: Option<usize>, service: usize, instance: usize, op: Op) -> Node {
        Node {
            parent,
            service,
            instance,
            op,
            self_nanos: 0,
            duration: 0,
            start: 0,
            parallel: false,
            error: None,
            span_id: [0; 8],
        }
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn rpc_attributes(attributes: &mut Vec<KeyValue>, def: &ServiceDef, method: &str, failed: bool) {
    attributes.push(KeyValue::string("rpc.system", "grpc"));
    attributes.push(KeyValue::string("rpc.service", def.rpc_service));
    attributes.push(KeyValue::string("rpc.method", method));
    attributes.push(KeyValue::int(
        "rpc.grpc.status_code",
        if failed { 13 } else { 0 },
    ));
}

fn message_event(at: u64, direction: &str, size: i64) -> Event {
    Event {
        time_unix_nano: at,
        name: "message".into(),
        attributes: vec![
            KeyValue::string("message.type", direction),
            KeyValue::int("message.id", 1),
            KeyValue::int("message.uncompressed_size", size),
        ],
        dropped_attributes_count: 0,
    }
}

/// The resource of every service instance, indexed by `service * INSTANCES + instance`.
fn build_resources(rng: &mut Rng) -> Vec<Resource> {
    let mut resources = Vec::with_capacity(SERVICES.len() * INSTANCES);
    for def in &SERVICES {
        let replica_set = format!("{:010x}", rng.next_u64() & 0xff_ffff_ffff);
        for _ in 0..INSTANCES {
            let pod = format!(
                "{}-{replica_set}-{}",
                def.name,
                &hex::encode(rng.next_u64().to_le_bytes())[..5]
            );
            let node = format!("ip-10-0-{}-{}.ec2.internal", rng.below(4), rng.below(256));
            let instance_id = hex::encode(rng.next_u64().to_le_bytes());
            resources.push(Resource {
                attributes: vec![
                    KeyValue::string("service.name", def.name),
                    KeyValue::string("service.namespace", "opentelemetry-demo"),
                    KeyValue::string("service.version", def.version),
                    KeyValue::string("service.instance.id", instance_id),
                    KeyValue::string("host.name", pod.clone()),
                    KeyValue::string("k8s.namespace.name", "shop"),
                    KeyValue::string("k8s.pod.name", pod),
                    KeyValue::string("k8s.node.name", node),
                    KeyValue::string("deployment.environment", "production"),
                    KeyValue::string("telemetry.sdk.language", def.language),
                    KeyValue::string("telemetry.sdk.name", "opentelemetry"),
                    KeyValue::string("telemetry.sdk.version", def.sdk_version),
                ],
                dropped_attributes_count: 0,
            });
        }
    }
    resources
}

/// Groups spans by resource, in order of first appearance.
struct Grouper {
    slots: Vec<Option<usize>>,
    out: Vec<ResourceSpans>,
}

impl Grouper {
    fn new() -> Grouper {
        Grouper {
            slots: vec![None; SERVICES.len() * INSTANCES],
            out: Vec::new(),
        }
    }

    fn push(&mut self, resource: usize, resources: &[Resource], span: Span) {
        let slot = match self.slots.get(resource).copied().flatten() {
            Some(slot) => slot,
            None => {
                let def = &SERVICES[(resource / INSTANCES) % SERVICES.len()];
                self.out.push(ResourceSpans {
                    resource: resources.get(resource).cloned(),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: def.scope.to_owned(),
                            version: def.scope_version.to_owned(),
                            attributes: Vec::new(),
                            dropped_attributes_count: 0,
                        }),
                        spans: Vec::new(),
                        schema_url: String::new(),
                    }],
                    schema_url: SCHEMA_URL.to_owned(),
                });
                let slot = self.out.len() - 1;
                if let Some(entry) = self.slots.get_mut(resource) {
                    *entry = Some(slot);
                }
                slot
            }
        };
        if let Some(scope) = self
            .out
            .get_mut(slot)
            .and_then(|r| r.scope_spans.first_mut())
        {
            scope.spans.push(span);
        }
    }
}

/// The protobuf encoding of a batch: an OTLP `ExportTraceServiceRequest` body.
pub fn encode_batch(data: &TracesData) -> Vec<u8> {
    data.encode_to_vec()
}

/// Added before mixing, so that sequence 0, trace 0 does not map to zero.
const ID_OFFSET: u64 = 0x9e37_79b9_7f4a_7c15;

/// An encoded batch that can be sent many times with fresh trace IDs and shifted timestamps,
/// without encoding it again: it knows where every trace ID and timestamp sits in its bytes.
///
/// Rendering copies the bytes and patches them in place (IDs and `fixed64` times keep their
/// length), which is much cheaper than generating and encoding a new batch.
#[derive(Debug, Clone)]
pub struct BatchTemplate {
    bytes: Vec<u8>,
    /// Offset of each 16-byte trace ID field (spans and links), and the trace it belongs to.
    trace_id_at: Vec<(usize, u32)>,
    /// Offset of each `fixed64` timestamp (span start and end, event time).
    time_at: Vec<usize>,
    trace_ids: Vec<[u8; 16]>,
    spans: usize,
}

impl BatchTemplate {
    /// Indexes an encoded batch. `None` if the bytes are not a well-formed `TracesData` or hold
    /// more than 65,536 traces.
    pub fn new(bytes: Vec<u8>) -> Option<BatchTemplate> {
        let mut fields = Fields::default();
        walk(&bytes, 0, Level::TracesData, &mut fields)?;
        let mut index: HashMap<[u8; 16], u32> = HashMap::new();
        let mut trace_ids = Vec::new();
        let mut trace_id_at = Vec::with_capacity(fields.span_trace_ids.len());
        for &offset in &fields.span_trace_ids {
            let id: [u8; 16] = bytes.get(offset..offset + 16)?.try_into().ok()?;
            let next = u32::try_from(trace_ids.len()).ok()?;
            let t = *index.entry(id).or_insert_with(|| {
                trace_ids.push(id);
                next
            });
            trace_id_at.push((offset, t));
        }
        if trace_ids.len() > 1 << 16 {
            return None;
        }
        // Links are patched only when they point into this batch.
        for &offset in &fields.link_trace_ids {
            let id: [u8; 16] = bytes.get(offset..offset + 16)?.try_into().ok()?;
            if let Some(&t) = index.get(&id) {
                trace_id_at.push((offset, t));
            }
        }
        Some(BatchTemplate {
            bytes,
            trace_id_at,
            time_at: fields.times,
            trace_ids,
            spans: fields.spans,
        })
    }

    /// Number of traces.
    pub fn trace_count(&self) -> usize {
        self.trace_ids.len()
    }

    /// Number of spans.
    pub fn span_count(&self) -> usize {
        self.spans
    }

    /// Size of an encoded copy, in bytes.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// The ID that trace `index` gets in the copy rendered for `sequence`.
    ///
    /// The first 8 bytes are the template's own (never all zero); the last 8 are a bijective
    /// mix of `sequence << 16 | index`, so for sequences below 2^48 no two (sequence, index)
    /// pairs share an ID, whichever templates they come from.
    #[expect(
        clippy::big_endian_bytes,
        reason = "the rendered IDs are pinned (load generator runs verify them later): the mix \
                  stays in its big-endian layout"
    )]
    pub fn trace_id(&self, index: usize, sequence: u64) -> [u8; 16] {
        let mut id = self.trace_ids.get(index).copied().unwrap_or([1; 16]);
        let low = mix64(((sequence << 16) | (index as u64 & 0xffff)).wrapping_add(ID_OFFSET));
        id[8..].copy_from_slice(&low.to_be_bytes());
        id
    }

    /// Writes into `out` a copy whose trace IDs are those of `sequence` (see
    /// [`BatchTemplate::trace_id`]) and whose timestamps are moved `shift_nanos` later.
    pub fn render_into(&self, sequence: u64, shift_nanos: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.bytes);
        let ids: Vec<[u8; 16]> = (0..self.trace_ids.len())
            .map(|i| self.trace_id(i, sequence))
            .collect();
        for &(offset, t) in &self.trace_id_at {
            if let (Some(field), Some(id)) = (out.get_mut(offset..offset + 16), ids.get(t as usize))
            {
                field.copy_from_slice(id);
            }
        }
        if shift_nanos != 0 {
            for &offset in &self.time_at {
                if let Some(field) = out.get_mut(offset..offset + 8) {
                    let mut raw = [0u8; 8];
                    raw.copy_from_slice(field);
                    let shifted = u64::from_le_bytes(raw).saturating_add(shift_nanos);
                    field.copy_from_slice(&shifted.to_le_bytes());
                }
            }
        }
    }
}

#[derive(Default)]
struct Fields {
    span_trace_ids: Vec<usize>,
    link_trace_ids: Vec<usize>,
    times: Vec<usize>,
    spans: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    TracesData,
    ResourceSpans,
    ScopeSpans,
    Span,
    Event,
    Link,
}

/// Walks protobuf fields of `buf` (at absolute offset `base`) as a message of `level`,
/// recording where trace IDs and timestamps are.
fn walk(buf: &[u8], base: usize, level: Level, fields: &mut Fields) -> Option<()> {
    let mut pos = 0;
    while pos < buf.len() {
        let key = read_varint(buf, &mut pos)?;
        let tag = key >> 3;
        match key & 7 {
            0 => {
                read_varint(buf, &mut pos)?;
            }
            1 => {
                if matches!((level, tag), (Level::Span, 7 | 8) | (Level::Event, 1)) {
                    fields.times.push(base + pos);
                }
                pos = pos.checked_add(8).filter(|&p| p <= buf.len())?;
            }
            2 => {
                let len = usize::try_from(read_varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len).filter(|&e| e <= buf.len())?;
                let body = buf.get(pos..end)?;
                let child = match (level, tag) {
                    (Level::TracesData, 1) => Some(Level::ResourceSpans),
                    (Level::ResourceSpans, 2) => Some(Level::ScopeSpans),
                    (Level::ScopeSpans, 2) => Some(Level::Span),
                    (Level::Span, 11) => Some(Level::Event),
                    (Level::Span, 13) => Some(Level::Link),
                    _ => None,
                };
                match (child, level, tag) {
                    (Some(child), _, _) => {
                        if child == Level::Span {
                            fields.spans += 1;
                        }
                        walk(body, base + pos, child, fields)?;
                    }
                    (None, Level::Span, 1) if len == 16 => fields.span_trace_ids.push(base + pos),
                    (None, Level::Link, 1) if len == 16 => fields.link_trace_ids.push(base + pos),
                    _ => {}
                }
                pos = end;
            }
            5 => pos = pos.checked_add(4).filter(|&p| p <= buf.len())?,
            _ => return None,
        }
    }
    Some(())
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use tempo_core::Batch;

    use super::*;

    const BASE: u64 = 1_700_000_000_000_000_000;

    fn spans_of(resource_spans: &[ResourceSpans]) -> Vec<&Span> {
        resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect()
    }

    #[test]
    fn same_seed_gives_same_bytes() {
        let a = Workload::new(7).base_time_unix_nanos(BASE).batch(50, None);
        let b = Workload::new(7).base_time_unix_nanos(BASE).batch(50, None);
        let c = Workload::new(8).base_time_unix_nanos(BASE).batch(50, None);
        assert_eq!(encode_batch(&a), encode_batch(&b));
        assert_ne!(encode_batch(&a), encode_batch(&c));
    }

    /// The workload's output is pinned: the same seed and base time give the same bytes in every
    /// version, so figures measured on it stay comparable. A change here must be deliberate.
    #[test]
    fn output_is_pinned() {
        let hash = |bytes: &[u8]| xxhash_rust::xxh3::xxh3_64(bytes);
        let standard = Workload::new(42)
            .base_time_unix_nanos(BASE)
            .batch(100, None);
        let exact = Workload::new(0x1D6E57)
            .base_time_unix_nanos(BASE)
            .batch(100, Some(10));
        let mut trace = Workload::new(7).base_time_unix_nanos(BASE);
        trace.next_trace();
        let second = TracesData {
            resource_spans: trace.next_trace(),
        };
        let template = BatchTemplate::new(encode_batch(&exact));
        let Some(template) = template else {
            panic!("template does not index");
        };
        let mut rendered = Vec::new();
        template.render_into(12_345, 1_000_000, &mut rendered);
        let got = [
            hash(&encode_batch(&standard)),
            hash(&encode_batch(&exact)),
            hash(&encode_batch(&second)),
            hash(&rendered),
            mix64(0) ^ mix64(u64::MAX),
            Rng::new(1).next_u64(),
        ];
        assert_eq!(
            got,
            [
                0xf287_f920_b9d2_284b,
                0x439c_91b3_1ca2_3f1c,
                0xace9_fae6_9cf7_7ce3,
                0xde0e_8bfb_9e9a_3405,
                0xb4d0_55fc_f2cb_bd7b,
                0xb3f2_af6d_0fc7_10c5,
            ],
            "{got:#018x?}"
        );
    }

    #[test]
    fn standard_traces_have_5_to_60_spans_mean_about_20() {
        let mut workload = Workload::new(1).base_time_unix_nanos(BASE);
        let counts: Vec<usize> = (0..3000)
            .map(|_| spans_of(&workload.next_trace()).len())
            .collect();
        let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
        assert!((18.0..=22.0).contains(&mean), "mean {mean}");
        assert!(counts.iter().all(|&n| (5..=60).contains(&n)));
        assert!(counts.iter().any(|&n| n >= 40), "no long traces");
    }

    #[test]
    fn exact_mode_gives_exactly_n_spans() {
        let mut workload = Workload::new(2).base_time_unix_nanos(BASE);
        let data = workload.batch(100, Some(10));
        assert_eq!(spans_of(&data.resource_spans).len(), 1000);
        let mut per_trace: HashMap<&[u8], usize> = HashMap::new();
        for span in spans_of(&data.resource_spans) {
            *per_trace.entry(&span.trace_id).or_default() += 1;
        }
        assert_eq!(per_trace.len(), 100);
        assert!(per_trace.values().all(|&n| n == 10));
        // Each service instance appears once in a batch.
        let mut names = HashSet::new();
        for r in &data.resource_spans {
            let attrs = r.resource.as_ref().map(|r| &r.attributes);
            let pod = attrs
                .and_then(|a| a.iter().find(|kv| kv.key == "k8s.pod.name"))
                .and_then(|kv| kv.value.clone());
            assert!(names.insert(format!("{pod:?}")), "resource repeated");
        }
        let single = Workload::new(3)
            .base_time_unix_nanos(BASE)
            .batch(5, Some(1));
        assert_eq!(spans_of(&single.resource_spans).len(), 5);
    }

    #[test]
    fn every_span_is_valid() {
        let mut workload = Workload::new(4).base_time_unix_nanos(BASE);
        let data = workload.batch(500, None);
        let total = spans_of(&data.resource_spans).len();
        let batch = Batch::new(data.resource_spans);
        assert_eq!(batch.rejected_spans(), 0);
        assert_eq!(batch.span_count(), total);
    }

    #[test]
    fn every_trace_is_one_tree() {
        let mut workload = Workload::new(5).base_time_unix_nanos(BASE);
        for _ in 0..500 {
            let trace = workload.next_trace();
            let spans = spans_of(&trace);
            let ids: HashMap<&[u8], &Span> =
                spans.iter().map(|s| (s.span_id.as_slice(), *s)).collect();
            assert_eq!(ids.len(), spans.len(), "span IDs repeat");
            let roots = spans.iter().filter(|s| s.parent_span_id.is_empty()).count();
            assert_eq!(roots, 1);
            let trace_id = &spans[0].trace_id;
            for span in &spans {
                assert_eq!(&span.trace_id, trace_id);
                assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
                assert!(span.start_time_unix_nano >= BASE);
                if span.parent_span_id.is_empty() {
                    assert_eq!(span.kind, SpanKind::Server as i32);
                    continue;
                }
                let parent = ids
                    .get(span.parent_span_id.as_slice())
                    .copied()
                    .unwrap_or_else(|| panic!("parent of {} missing", span.name));
                assert!(parent.start_time_unix_nano <= span.start_time_unix_nano);
                assert!(parent.end_time_unix_nano >= span.end_time_unix_nano);
                if span.kind == SpanKind::Server as i32 {
                    assert_eq!(parent.kind, SpanKind::Client as i32);
                }
            }
        }
    }

    #[test]
    fn about_two_percent_of_spans_fail_and_durations_are_long_tailed() {
        let mut workload = Workload::new(6).base_time_unix_nanos(BASE);
        let data = workload.batch(2000, None);
        let spans = spans_of(&data.resource_spans);
        let errors: Vec<&&Span> = spans
            .iter()
            .filter(|s| s.status.as_ref().map(|s| s.code) == Some(StatusCode::Error as i32))
            .collect();
        let rate = errors.len() as f64 / spans.len() as f64;
        eprintln!("error rate {rate}");
        assert!((0.015..=0.025).contains(&rate), "error rate {rate}");
        assert!(
            errors
                .iter()
                .all(|s| s.events.iter().any(|e| e.name == "exception")
                    || s.kind == SpanKind::Client as i32)
        );
        let mut durations: Vec<u64> = spans
            .iter()
            .map(|s| s.end_time_unix_nano - s.start_time_unix_nano)
            .collect();
        durations.sort_unstable();
        let p50 = durations[durations.len() / 2];
        let p99 = durations[durations.len() * 99 / 100];
        assert!(p99 > 10 * p50, "p50 {p50} p99 {p99}");
        assert!(spans.iter().any(|s| !s.links.is_empty()));
        assert!(
            spans
                .iter()
                .any(|s| s.events.iter().any(|e| e.name == "message"))
        );
        let kinds: HashSet<i32> = spans.iter().map(|s| s.kind).collect();
        assert_eq!(kinds.len(), 3);
    }

    #[test]
    fn rendered_copies_have_fresh_ids_and_shifted_times() {
        let mut workload = Workload::new(9).base_time_unix_nanos(BASE);
        let data = workload.batch(100, Some(10));
        let template = BatchTemplate::new(encode_batch(&data));
        let Some(template) = template else {
            panic!("template does not index");
        };
        assert_eq!(template.trace_count(), 100);
        assert_eq!(template.span_count(), 1000);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for sequence in 0..20u64 {
            template.render_into(sequence, sequence * 1_000, &mut out);
            assert_eq!(out.len(), template.encoded_len());
            let copy = TracesData::decode(out.as_slice()).unwrap_or_default();
            let spans = spans_of(&copy.resource_spans);
            assert_eq!(spans.len(), 1000);
            let expected: HashSet<Vec<u8>> = (0..100)
                .map(|i| template.trace_id(i, sequence).to_vec())
                .collect();
            for span in &spans {
                assert!(expected.contains(&span.trace_id));
            }
            for id in expected {
                assert!(seen.insert(id), "trace ID repeated");
            }
            let original = spans_of(&data.resource_spans);
            for (a, b) in original.iter().zip(&spans) {
                assert_eq!(
                    a.start_time_unix_nano + sequence * 1_000,
                    b.start_time_unix_nano
                );
                assert_eq!(
                    a.end_time_unix_nano + sequence * 1_000,
                    b.end_time_unix_nano
                );
                assert_eq!(a.span_id, b.span_id);
            }
            let batch = Batch::decode(out.clone().into()).unwrap_or_default();
            assert_eq!(batch.span_count(), 1000);
        }
        assert_ne!(template.trace_id(0, 0)[8..], [0; 8]);
        assert!(BatchTemplate::new(vec![0x0a, 0xff]).is_none());
    }
}
