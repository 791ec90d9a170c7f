//! listen: can connections starve the server?
//!
//! One accept loop ([`serve`]) serves every listener: Tempo's HTTP API, OTLP/HTTP and
//! OTLP/gRPC, each an axum router over hyper's HTTP/1 and HTTP/2 (HTTP/2 only for gRPC).
//! Whatever clients do, the server keeps answering:
//!
//! - Every connection has timeouts ([`conn`]): for a request's head (and a new connection's
//!   first request, so one that never sends anything is closed too), for its body
//!   ([`request`]), for a stalled write, and for idleness between requests. gRPC connections
//!   also have keepalive pings and an optional maximum age.
//! - Each listener has a cap on open connections ([`ListenerConfig::conn_limit`], by default a
//!   share of the open-files limit, see [`crate::nofile`]). At the cap, the connection idle the
//!   longest (no request in flight) is closed to make room, and waited for, so a flood of idle
//!   connections cannot lock real clients out, and a listener never holds more than its cap
//!   and one descriptor (and a few refusals being written), however fast connections come.
//!   The accept queue is the kernel's longest, so a burst waits there rather than having its
//!   connection attempts dropped. Only when every connection is busy is the new one refused:
//!   an HTTP/1.1 `503` with a plain-text message on the HTTP listeners, an HTTP/2 `GOAWAY`
//!   (`REFUSED_STREAM`, which gRPC clients report as `UNAVAILABLE`, with the message) on the
//!   gRPC one, then closed.
//! - An accept that fails for want of descriptors (`EMFILE`, when caps are set above what the
//!   open-files limit allows, or descriptors are used elsewhere) closes up to 16 of this
//!   listener's longest-idle connections and tries again once they are closed; with none
//!   idle, or on other errors, it backs off for 100ms. The listener never stops.
//!
//! Evictions, refusals and accept errors are counted ([`ListenerStats`], at `/metrics`) and
//! logged at most once every 10s per listener and kind, with the number not logged since.

mod conn;
mod request;
mod spec;
mod stats;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use self::conn::{ConnState, InFlight, Monitored, stopped};
pub(crate) use self::request::ReadTimeoutLayer;
pub(crate) use self::spec::{Protocol, Spec};
pub(crate) use self::stats::{CloseReason, ListenerStats, StatsSnapshot};

/// How long an accept that failed waits before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line per listener and kind of event in this period.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a refused connection may take to read its refusal.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Refused connections lingering at once per listener; past this, the refusal is written
/// only if the socket takes it at once, and the connection closed.
const MAX_LINGERING_REFUSALS: usize = 16;
/// Idle connections closed when an accept fails for want of descriptors.
const EVICTIONS_FOR_DESCRIPTORS: usize = 16;
/// Longest wait for an evicted connection to close before the new one is served anyway.
const EVICTION_WAIT: Duration = Duration::from_secs(1);
/// HTTP/2 `REFUSED_STREAM`: nothing was processed. gRPC clients report it as `UNAVAILABLE`,
/// which OTLP exporters retry with backoff.
const H2_REFUSED_STREAM: u32 = 0x7;

/// The accept queue's length where the kernel's maximum cannot be read.
const DEFAULT_BACKLOG: u32 = 1024;

/// Binds a listening socket with the kernel's longest accept queue (`net.core.somaxconn`, as
/// Go does), so that a burst of connections waits for the accept loop rather than having its
/// connection attempts dropped (and retried by clients a second later).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As the standard library's listeners: a restarted server can bind at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog())
}

fn backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_BACKLOG)
        .min(u32::from(u16::MAX))
}

/// Lets an event be logged at most once per [`LOG_EVERY`], counting the others.
#[derive(Debug, Default)]
struct Throttle {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Throttle {
    /// `Some(events not logged since the last line)` when this one may be logged.
    fn check(&self) -> Option<u64> {
        let mut last = self.last.lock();
        match *last {
            Some(at) if at.elapsed() < LOG_EVERY => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(Instant::now());
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

/// The open connections of a listener, evicted ones included until they are closed.
#[derive(Default)]
struct Conns {
    map: HashMap<u64, Arc<ConnState>>,
    /// How many of them are evicted and closing.
    evicting: usize,
}

/// Whether a connection just accepted may be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    /// Under the cap.
    Free,
    /// At the cap, an evicted connection closing: wait for it.
    Freeing,
    /// At the cap, every connection busy: a new one is refused.
    Full,
}

/// What the accept loop and the connection tasks of one listener share.
struct Shared {
    spec: Spec,
    stats: Arc<ListenerStats>,
    builder: auto::Builder<TokioExecutor>,
    conns: Mutex<Conns>,
    refusal: Vec<u8>,
    lingering: AtomicUsize,
    evict_log: Throttle,
    refuse_log: Throttle,
    accept_log: Throttle,
}

impl Shared {
    fn limit(&self) -> usize {
        self.spec.config.conn_limit.max(1)
    }

    /// Asks the connection idle the longest, if any, to close; returns whether there was one.
    /// It counts as open until its task ends.
    fn evict_one(&self, conns: &mut Conns) -> bool {
        let oldest = conns
            .map
            .values()
            .filter(|c| c.is_idle())
            .min_by_key(|c| c.idle_since());
        let Some(victim) = oldest else {
            return false;
        };
        victim.evict();
        conns.evicting += 1;
        self.stats.evicted();
        true
    }

    /// Whether a new connection, just accepted, may be served, evicting an idle one at the
    /// cap.
    fn make_room(&self) -> Room {
        let mut conns = self.conns.lock();
        if conns.map.len() < self.limit() {
            return Room::Free;
        }
        if conns.evicting == 0 && !self.evict_one(&mut conns) {
            return Room::Full;
        }
        if let Some(suppressed) = self.evict_log.check() {
            tracing::warn!(
                listener = self.spec.what,
                limit = self.limit(),
                not_logged = suppressed,
                "connection limit reached: closing the longest-idle connection to admit a new one"
            );
        }
        Room::Freeing
    }

    fn register(&self, id: u64) -> Arc<ConnState> {
        let mut conns = self.conns.lock();
        let state = Arc::new(ConnState::new());
        conns.map.insert(id, state.clone());
        self.stats.set_open(conns.map.len());
        state
    }

    fn unregister(&self, id: u64) {
        let mut conns = self.conns.lock();
        if let Some(state) = conns.map.remove(&id) {
            if state.is_evicted() {
                conns.evicting = conns.evicting.saturating_sub(1);
            }
            self.stats.set_open(conns.map.len());
        }
    }

    /// Answers a connection past the cap and closes it.
    fn refuse(self: &Arc<Self>, stream: TcpStream) {
        self.stats.refused();
        if let Some(suppressed) = self.refuse_log.check() {
            tracing::warn!(
                listener = self.spec.what,
                limit = self.limit(),
                not_logged = suppressed,
                "connection limit reached and every connection busy: refusing new connections"
            );
        }
        if self.lingering.fetch_add(1, Ordering::AcqRel) >= MAX_LINGERING_REFUSALS {
            self.lingering.fetch_sub(1, Ordering::AcqRel);
            let _ = stream.try_write(&self.refusal);
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(REFUSAL_LINGER, send_refusal(stream, &shared.refusal)).await;
            shared.lingering.fetch_sub(1, Ordering::AcqRel);
        });
    }

    /// After a failed accept: counts and logs it (throttled), and when descriptors ran out,
    /// closes a few idle connections to free some.
    fn accept_failed(&self, err: io::Error) -> Retry {
        if matches!(
            err.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
        ) {
            // The client went away before the accept: nothing wrong here.
            return Retry::Now;
        }
        self.stats.accept_error();
        let mut freeing = 0;
        if is_out_of_descriptors(&err) {
            let mut conns = self.conns.lock();
            while freeing < EVICTIONS_FOR_DESCRIPTORS && self.evict_one(&mut conns) {
                freeing += 1;
            }
        }
        if let Some(suppressed) = self.accept_log.check() {
            if freeing > 0 {
                tracing::warn!(
                    listener = self.spec.what,
                    error = %err,
                    closing = freeing,
                    not_logged = suppressed,
                    "accepting a connection failed; closing idle connections to free descriptors"
                );
            } else {
                tracing::warn!(
                    listener = self.spec.what,
                    error = %err,
                    not_logged = suppressed,
                    "accepting a connection failed; retrying in {ACCEPT_BACKOFF:?}"
                );
            }
        }
        if freeing > 0 {
            Retry::WhenFreed
        } else {
            Retry::Later
        }
    }
}

/// When to accept again after a failed accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// At once: the failure was the client's.
    Now,
    /// Once the evicted connections have closed.
    WhenFreed,
    /// After [`ACCEPT_BACKOFF`].
    Later,
}

/// Waits (at most [`EVICTION_WAIT`]) until the evicted connections have closed.
async fn evictions_done(shared: &Shared, tasks: &mut JoinSet<()>) {
    let freed = async {
        while shared.conns.lock().evicting > 0 {
            match tasks.join_next().await {
                Some(done) => report(shared, done),
                None => break,
            }
        }
    };
    let _ = tokio::time::timeout(EVICTION_WAIT, freed).await;
}

/// `EMFILE` or `ENFILE` (the same numbers on Linux, the BSDs and macOS).
fn is_out_of_descriptors(err: &io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    cfg!(unix) && matches!(err.raw_os_error(), Some(EMFILE | ENFILE))
}

/// Writes the refusal, then reads (and drops) what the client sends until it closes, so that
/// closing does not reset the connection before the client has read the refusal.
async fn send_refusal(mut stream: TcpStream, refusal: &[u8]) -> io::Result<()> {
    stream.write_all(refusal).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 1024];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

/// The bytes that refuse a connection past a cap of `limit`.
#[expect(
    clippy::big_endian_bytes,
    reason = "HTTP/2 frames are in network byte order"
)]
fn refusal(protocol: Protocol, limit: usize) -> Vec<u8> {
    let message = format!(
        "too many open connections on this port (limit {limit}), all of them busy; retry later\n"
    );
    match protocol {
        Protocol::Http => format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{message}",
            message.len()
        )
        .into_bytes(),
        Protocol::Grpc => {
            // The server preface (an empty SETTINGS frame), then a GOAWAY frame: last stream
            // 0, REFUSED_STREAM, the message as debug data.
            let mut out = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
            let length = u32::try_from(8 + message.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&length.to_be_bytes()[1..]);
            out.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(&H2_REFUSED_STREAM.to_be_bytes());
            out.extend_from_slice(message.as_bytes());
            out
        }
    }
}

fn builder(spec: &Spec) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if spec.protocol == Protocol::Grpc {
        builder = builder.http2_only();
    }
    // The header timeout is ours (in `conn`), which also knows a keep-alive gap from a slow
    // head; hyper's would count the gap.
    builder.http1().header_read_timeout(None);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(spec.config.keepalive_time)
        .keep_alive_timeout(spec.config.keepalive_timeout);
    builder
}

/// Serves `router` on `listener` until `shutdown` turns true, then stops accepting and
/// waits for the open connections to finish (idle ones are closed, busy ones finish their
/// requests). Never fails: accept errors are retried.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    spec: Spec,
    stats: Arc<ListenerStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let refusal = refusal(spec.protocol, spec.config.conn_limit.max(1));
    stats.set_limit(spec.config.conn_limit.max(1));
    let shared = Arc::new(Shared {
        builder: builder(&spec),
        spec,
        stats,
        conns: Mutex::new(Conns::default()),
        refusal,
        lingering: AtomicUsize::new(0),
        evict_log: Throttle::default(),
        refuse_log: Throttle::default(),
        accept_log: Throttle::default(),
    });
    let conn_shutdown = shutdown.clone();
    let mut tasks = JoinSet::new();
    let mut next_id: u64 = 0;
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => report(&shared, done),
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    match shared.make_room() {
                        Room::Full => {
                            shared.refuse(stream);
                            continue;
                        }
                        Room::Free => {}
                        Room::Freeing => {
                            // Wait for the evicted connection to go, so that the listener
                            // holds at most one descriptor over its cap, for that long.
                            evictions_done(&shared, &mut tasks).await;
                        }
                    }
                    next_id += 1;
                    let _ = stream.set_nodelay(true);
                    let state = shared.register(next_id);
                    tasks.spawn(serve_connection(
                        shared.clone(),
                        next_id,
                        state,
                        stream,
                        router.clone(),
                        conn_shutdown.clone(),
                    ));
                }
                Err(err) => match shared.accept_failed(err) {
                    Retry::Now => {}
                    Retry::WhenFreed => evictions_done(&shared, &mut tasks).await,
                    Retry::Later => tokio::time::sleep(ACCEPT_BACKOFF).await,
                },
            },
        }
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

/// Logs a connection task that panicked.
fn report(shared: &Shared, done: Result<(), tokio::task::JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        tracing::error!(listener = shared.spec.what, error = %err, "connection task panicked");
    }
}

async fn serve_connection(
    shared: Arc<Shared>,
    id: u64,
    state: Arc<ConnState>,
    stream: TcpStream,
    router: axum::Router,
    shutdown: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Monitored::new(stream, state.clone()));
    let service = TowerToHyperService::new(InFlight {
        router,
        state: state.clone(),
    });
    let conn = shared.builder.serve_connection(io, service);
    conn::drive(conn, &state, &shared.spec.config, &shared.stats, shutdown).await;
    shared.unregister(id);
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    #[expect(
        clippy::big_endian_bytes,
        reason = "HTTP/2 frames are in network byte order"
    )]
    fn refusals_say_why() {
        let http = String::from_utf8(refusal(Protocol::Http, 7)).unwrap();
        assert!(
            http.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{http}"
        );
        let (head, body) = http.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(body.contains("too many open connections on this port (limit 7)"));

        let grpc = refusal(Protocol::Grpc, 7);
        // An empty SETTINGS frame, then a GOAWAY whose length covers the rest.
        assert_eq!(&grpc[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let length = u32::from_be_bytes([0, grpc[9], grpc[10], grpc[11]]) as usize;
        assert_eq!(grpc[12], 7);
        assert_eq!(grpc.len(), 18 + length);
        assert_eq!(&grpc[22..26], &[0, 0, 0, 0x7]);
        assert!(String::from_utf8_lossy(&grpc[26..]).contains("limit 7"));
    }

    #[test]
    fn throttle_logs_once_per_period_and_counts_the_rest() {
        let throttle = Throttle::default();
        assert_eq!(throttle.check(), Some(0));
        assert_eq!(throttle.check(), None);
        assert_eq!(throttle.check(), None);
        *throttle.last.lock() = Instant::now().checked_sub(LOG_EVERY);
        assert_eq!(throttle.check(), Some(2));
    }
}
