//! servicegraphs: who calls whom, how often, how fast, how often failing.
//!
//! A client (or producer) span and the server (or consumer) span that is its child make one
//! request between two services: an edge. Each half waits in a bounded store, keyed by the
//! trace and the client's span ID, until its other half arrives or its wait runs out. An
//! edge counts into `traces_service_graph_request_total`, `..._request_failed_total` and the
//! `..._request_server_seconds` and `..._request_client_seconds` histograms, labelled with
//! `client`, `server`, `connection_type` and the configured dimensions.
//!
//! Peers that send no spans become virtual nodes: a client span calling a database (it has
//! `db.namespace`, `db.name` or `db.system`) makes an edge to the database at once; a client
//! span whose server never came makes an edge to the first peer attribute it has
//! (`peer.service`, ...); a root server span makes an edge from its peer attribute, or from
//! `user`. A half that finds no partner and names no peer is counted in
//! `traces_service_graph_unpaired_spans_total`; one that found the store full, in
//! `traces_service_graph_dropped_spans_total`.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use super::registry::{
    GeneratedSeries, Histogram, LabelIndex, RawExemplar, counter, hash_values, zip_labels,
};
use super::spanmetrics::{exemplar, find, in_window, multiplier, sanitize, value_str, value_text};
use super::{ServiceGraphsConfig, filter};
use crate::head::IdHasher;
use crate::model::{KeyValue, ResourceSpans, Span};

const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;
const KIND_PRODUCER: i32 = 4;
const KIND_CONSUMER: i32 = 5;
const STATUS_ERROR: i32 = 2;

/// The kind of connection an edge is, its `connection_type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connection {
    Direct,
    MessagingSystem,
    Database,
    VirtualNode,
}

impl Connection {
    fn label(self) -> &'static str {
        match self {
            Connection::Direct => "",
            Connection::MessagingSystem => "messaging_system",
            Connection::Database => "database",
            Connection::VirtualNode => "virtual_node",
        }
    }
}

/// Which side of an edge is virtual, its `virtual_node` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Virtual {
    None,
    Client,
    Server,
}

/// One half of a request: what a client or a server span says of it.
#[derive(Debug, Clone)]
struct Side {
    service: Arc<str>,
    seconds: f64,
    failed: bool,
    start: u64,
    end: u64,
    dimensions: Vec<String>,
    /// The first peer attribute's value.
    peer: Option<String>,
    weight: f64,
    exemplar: RawExemplar,
}

/// A request waiting for its other half.
#[derive(Debug)]
struct Pending {
    client: Option<Side>,
    server: Option<Side>,
    messaging: bool,
    expires: u64,
}

/// The series of one edge.
#[derive(Debug)]
struct Edge {
    values: Vec<String>,
    total: f64,
    failed: f64,
    server: Histogram,
    client: Histogram,
    messaging: Option<Histogram>,
    created: u64,
    updated: u64,
}

/// One counter series (unpaired or dropped spans of a service).
#[derive(Debug)]
struct Count {
    value: f64,
    created: u64,
    updated: u64,
}

type Key = ([u8; 16], [u8; 8]);

/// One tenant's service graph: half-edges waiting, and the series of edges made.
#[derive(Debug)]
pub(crate) struct ServiceGraphs {
    pending: HashMap<Key, Pending, BuildHasherDefault<IdHasher>>,
    /// Keys in the order they expire; a key already paired is skipped when reached.
    order: VecDeque<(Key, u64)>,
    /// Label names of edges.
    names: Vec<String>,
    edges: Vec<Edge>,
    index: LabelIndex,
    unpaired: HashMap<(bool, String), Count>,
    dropped: HashMap<(bool, String), Count>,
    /// Series per edge.
    per_edge: usize,
    /// Edges counted in no series because the registry was full.
    dropped_for_series: u64,
}

impl ServiceGraphs {
    /// An empty service graph for `config`.
    pub(crate) fn new(config: &ServiceGraphsConfig) -> ServiceGraphs {
        let mut names: Vec<String> = ["client", "server", "connection_type"]
            .map(String::from)
            .to_vec();
        for d in &config.dimensions {
            let name = sanitize(d);
            if config.enable_client_server_prefix {
                names.push(format!("client_{name}"));
                names.push(format!("server_{name}"));
            } else {
                names.push(name);
            }
        }
        if config.enable_virtual_node_label {
            names.push("virtual_node".to_owned());
        }
        let bounds = config.histogram_buckets.len();
        let histograms = if config.enable_messaging_system_latency_histogram {
            3
        } else {
            2
        };
        ServiceGraphs {
            pending: HashMap::default(),
            order: VecDeque::new(),
            names,
            edges: Vec::new(),
            index: LabelIndex::default(),
            unpaired: HashMap::new(),
            dropped: HashMap::new(),
            per_edge: 2 + histograms * Histogram::series_count(bounds),
            dropped_for_series: 0,
        }
    }

    /// The series held.
    pub(crate) fn active_series(&self) -> usize {
        self.edges.len() * self.per_edge + self.unpaired.len() + self.dropped.len()
    }

    /// Half-edges waiting for their other half.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Edges counted in no series because the registry was full.
    pub(crate) fn dropped_for_series(&self) -> u64 {
        self.dropped_for_series
    }

    /// Takes in the client, server, producer and consumer spans of `resource_spans` that
    /// ended within `window`, pairing them; first expires what waited too long. `room` says
    /// whether one more edge's series fit.
    pub(crate) fn consume(
        &mut self,
        config: &ServiceGraphsConfig,
        room: impl Fn(&ServiceGraphs) -> bool,
        resource_spans: &[ResourceSpans],
        window: (u64, u64),
        now: u64,
    ) {
        self.expire(config, &room, now);
        let wait = u64::try_from(config.wait.as_nanos()).unwrap_or(u64::MAX);
        for rs in resource_spans {
            let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            let service: Arc<str> = Arc::from(value_str(find(resource, "service.name")));
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let client = matches!(span.kind, KIND_CLIENT | KIND_PRODUCER);
                    let server = matches!(span.kind, KIND_SERVER | KIND_CONSUMER);
                    if !(client || server)
                        || !in_window(span, window)
                        || !filter::keeps(&config.filter_policies, resource, span)
                    {
                        continue;
                    }
                    let Ok(trace) = <[u8; 16]>::try_from(&span.trace_id[..]) else {
                        continue;
                    };
                    let side = side(config, &service, resource, span, now);
                    let messaging = matches!(span.kind, KIND_PRODUCER | KIND_CONSUMER);
                    if client {
                        if span.kind == KIND_CLIENT
                            && let Some(db) = database_name(config, resource, span)
                        {
                            // A database sends no spans: the edge is made at once, its
                            // latency the client's on both sides.
                            let mut server = side.clone();
                            server.service = Arc::from(db);
                            self.edge(
                                config,
                                &room,
                                &side,
                                &server,
                                Connection::Database,
                                Virtual::Server,
                                now,
                            );
                            continue;
                        }
                        let Ok(id) = <[u8; 8]>::try_from(&span.span_id[..]) else {
                            continue;
                        };
                        self.half(config, &room, (trace, id), side, true, messaging, now, wait);
                    } else {
                        match <[u8; 8]>::try_from(&span.parent_span_id[..]) {
                            Ok(parent) if parent != [0; 8] => self.half(
                                config,
                                &room,
                                (trace, parent),
                                side,
                                false,
                                messaging,
                                now,
                                wait,
                            ),
                            _ => {
                                // A root server span: whoever called it sends no spans.
                                let mut client = side.clone();
                                client.service = Arc::from(side.peer.as_deref().unwrap_or("user"));
                                self.edge(
                                    config,
                                    &room,
                                    &client,
                                    &side,
                                    Connection::VirtualNode,
                                    Virtual::Client,
                                    now,
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Records one half of a request under `key`, completing the edge when its other half is
    /// there.
    #[allow(clippy::too_many_arguments)]
    fn half(
        &mut self,
        config: &ServiceGraphsConfig,
        room: &impl Fn(&ServiceGraphs) -> bool,
        key: Key,
        side: Side,
        is_client: bool,
        messaging: bool,
        now: u64,
        wait: u64,
    ) {
        if let Some(p) = self.pending.get_mut(&key) {
            let other = if is_client {
                p.server.take()
            } else {
                p.client.take()
            };
            match other {
                Some(other) => {
                    let messaging = p.messaging || messaging;
                    if p.client.is_none() && p.server.is_none() {
                        self.pending.remove(&key);
                    }
                    let (client, server) = if is_client {
                        (side, other)
                    } else {
                        (other, side)
                    };
                    let connection = if messaging {
                        Connection::MessagingSystem
                    } else {
                        Connection::Direct
                    };
                    self.edge(
                        config,
                        room,
                        &client,
                        &server,
                        connection,
                        Virtual::None,
                        now,
                    );
                }
                None => {
                    // The same half again: the newer one waits.
                    if is_client {
                        p.client = Some(side);
                    } else {
                        p.server = Some(side);
                    }
                }
            }
            return;
        }
        if self.pending.len() >= config.max_items {
            self.count(false, is_client, &side.service, side.weight, now);
            return;
        }
        let expires = now.saturating_add(wait);
        let (client, server) = if is_client {
            (Some(side), None)
        } else {
            (None, Some(side))
        };
        self.pending.insert(
            key,
            Pending {
                client,
                server,
                messaging,
                expires,
            },
        );
        self.order.push_back((key, expires));
    }

    /// Ends the wait of every half whose wait ran out by `now`: a client span naming a peer
    /// becomes an edge to it, any other half is counted unpaired.
    pub(crate) fn expire(
        &mut self,
        config: &ServiceGraphsConfig,
        room: impl Fn(&ServiceGraphs) -> bool,
        now: u64,
    ) {
        while let Some(&(key, expires)) = self.order.front() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            let Some(p) = self.pending.get(&key) else {
                continue;
            };
            if p.expires != expires {
                continue;
            }
            let Some(p) = self.pending.remove(&key) else {
                continue;
            };
            if let Some(client) = p.client {
                match &client.peer {
                    Some(peer) => {
                        let mut server = client.clone();
                        server.service = Arc::from(peer.as_str());
                        self.edge(
                            config,
                            &room,
                            &client,
                            &server,
                            Connection::VirtualNode,
                            Virtual::Server,
                            now,
                        );
                    }
                    None => self.count(true, true, &client.service, client.weight, now),
                }
            }
            if let Some(server) = p.server {
                self.count(true, false, &server.service, server.weight, now);
            }
        }
    }

    /// Counts a span unpaired (`unpaired`) or dropped, on its side.
    fn count(&mut self, unpaired: bool, is_client: bool, service: &str, weight: f64, now: u64) {
        let map = if unpaired {
            &mut self.unpaired
        } else {
            &mut self.dropped
        };
        let c = map.entry((is_client, service.to_owned())).or_insert(Count {
            value: 0.0,
            created: now,
            updated: now,
        });
        c.value += weight;
        c.updated = now;
    }

    /// Counts one request between `client` and `server`.
    #[allow(clippy::too_many_arguments)]
    fn edge(
        &mut self,
        config: &ServiceGraphsConfig,
        room: &impl Fn(&ServiceGraphs) -> bool,
        client: &Side,
        server: &Side,
        connection: Connection,
        virtual_node: Virtual,
        now: u64,
    ) {
        let mut values: Vec<&str> = Vec::with_capacity(self.names.len());
        values.extend([&*client.service, &*server.service, connection.label()]);
        for (c, s) in client.dimensions.iter().zip(&server.dimensions) {
            if config.enable_client_server_prefix {
                values.push(c);
                values.push(s);
            } else if s.is_empty() {
                values.push(c);
            } else {
                values.push(s);
            }
        }
        if config.enable_virtual_node_label {
            values.push(match virtual_node {
                Virtual::None => "",
                Virtual::Client => "client",
                Virtual::Server => "server",
            });
        }
        let bounds = &config.histogram_buckets;
        let hash = hash_values(&values);
        let edges = &self.edges;
        let i = match self.index.find(hash, &values, |i| &edges[i].values) {
            Some(i) => i,
            None => {
                if !room(self) {
                    self.dropped_for_series += 1;
                    return;
                }
                self.edges.push(Edge {
                    values: values.iter().map(|v| (*v).to_owned()).collect(),
                    total: 0.0,
                    failed: 0.0,
                    server: Histogram::new(bounds.len()),
                    client: Histogram::new(bounds.len()),
                    messaging: config
                        .enable_messaging_system_latency_histogram
                        .then(|| Histogram::new(bounds.len())),
                    created: now,
                    updated: now,
                });
                self.index.insert(hash, self.edges.len() - 1);
                self.edges.len() - 1
            }
        };
        let edge = &mut self.edges[i];
        let weight = client.weight.max(server.weight);
        edge.total += weight;
        if client.failed || server.failed {
            edge.failed += weight;
        }
        edge.server
            .observe(bounds, server.seconds, weight, Some(server.exemplar));
        edge.client
            .observe(bounds, client.seconds, weight, Some(client.exemplar));
        if connection == Connection::MessagingSystem
            && let Some(h) = &mut edge.messaging
        {
            let seconds = server.start.saturating_sub(client.end) as f64 / 1e9;
            h.observe(bounds, seconds, weight, Some(server.exemplar));
        }
        edge.updated = now;
    }

    /// Drops the series not updated since `before` (unix nanoseconds).
    pub(crate) fn drop_stale(&mut self, before: u64) {
        if self.edges.iter().any(|e| e.updated < before) {
            self.edges.retain(|e| e.updated >= before);
            self.index = LabelIndex::rebuild(self.edges.iter().map(|e| &e.values[..]));
        }
        self.unpaired.retain(|_, c| c.updated >= before);
        self.dropped.retain(|_, c| c.updated >= before);
    }

    /// Every series, unsorted.
    pub(crate) fn series(&self, config: &ServiceGraphsConfig) -> Vec<GeneratedSeries> {
        let bounds = &config.histogram_buckets;
        let mut out = Vec::new();
        for e in &self.edges {
            let labels = zip_labels(&self.names, &e.values);
            out.push(counter(
                "traces_service_graph_request_total",
                &labels,
                e.total,
                e.created,
            ));
            out.push(counter(
                "traces_service_graph_request_failed_total",
                &labels,
                e.failed,
                e.created,
            ));
            e.server.push_series(
                &mut out,
                "traces_service_graph_request_server_seconds",
                bounds,
                &labels,
                e.created,
            );
            e.client.push_series(
                &mut out,
                "traces_service_graph_request_client_seconds",
                bounds,
                &labels,
                e.created,
            );
            if let Some(h) = &e.messaging {
                h.push_series(
                    &mut out,
                    "traces_service_graph_request_messaging_system_seconds",
                    bounds,
                    &labels,
                    e.created,
                );
            }
        }
        for (name, map) in [
            ("traces_service_graph_unpaired_spans_total", &self.unpaired),
            ("traces_service_graph_dropped_spans_total", &self.dropped),
        ] {
            for ((is_client, service), c) in map {
                let side = if *is_client { "client" } else { "server" };
                let labels = [(side.to_owned(), service.clone())];
                out.push(counter(name, &labels, c.value, c.created));
            }
        }
        out
    }
}

/// What a span says of its side of a request.
fn side(
    config: &ServiceGraphsConfig,
    service: &Arc<str>,
    resource: &[KeyValue],
    span: &Span,
    now: u64,
) -> Side {
    let seconds = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano) as f64
        / 1e9;
    let dimensions = config
        .dimensions
        .iter()
        .map(|d| value_text(find(resource, d).or_else(|| find(&span.attributes, d))))
        .collect();
    let peer = config.peer_attributes.iter().find_map(|a| {
        let v = value_text(find(&span.attributes, a).or_else(|| find(resource, a)));
        (!v.is_empty()).then_some(v)
    });
    Side {
        service: service.clone(),
        seconds,
        failed: span.status.as_ref().is_some_and(|s| s.code == STATUS_ERROR),
        start: span.start_time_unix_nano,
        end: span.end_time_unix_nano,
        dimensions,
        peer,
        weight: multiplier(&config.span_multiplier_key, resource, span),
        exemplar: exemplar(span, seconds, now),
    }
}

/// The database node a client span calls, when it is a database call (it has `db.namespace`,
/// `db.name` or `db.system`): named by `peer.service`, `server.address`,
/// `network.peer.address[:network.peer.port]`, then the configured database name attributes.
fn database_name(
    config: &ServiceGraphsConfig,
    resource: &[KeyValue],
    span: &Span,
) -> Option<String> {
    let attr = |k: &str| {
        let v = value_text(find(&span.attributes, k).or_else(|| find(resource, k)));
        (!v.is_empty()).then_some(v)
    };
    let is_db = ["db.namespace", "db.name", "db.system"]
        .into_iter()
        .chain(config.database_name_attributes.iter().map(String::as_str))
        .any(|k| attr(k).is_some());
    if !is_db {
        return None;
    }
    if let Some(v) = attr("peer.service").or_else(|| attr("server.address")) {
        return Some(v);
    }
    if let Some(address) = attr("network.peer.address") {
        return Some(match attr("network.peer.port") {
            Some(port) => format!("{address}:{port}"),
            None => address,
        });
    }
    config.database_name_attributes.iter().find_map(|k| attr(k))
}
