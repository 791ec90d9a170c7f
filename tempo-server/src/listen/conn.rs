//! conn: when is a connection closed?
//!
//! A connection is in one of three phases, tracked by [`ConnState`] from two sides: the
//! socket ([`Monitored`], which sees bytes arrive and writes stall) and the service
//! ([`InFlight`], which sees requests start and end).
//!
//! - *Reading a head*: no request in flight, and either nothing was served yet (counted from
//!   the accept) or a byte of the next request arrived (counted from that byte). Past the
//!   header timeout the connection is closed: that is how a client that sends half a header,
//!   or nothing at all, loses its connection.
//! - *Busy*: requests in flight. Their bodies have the read timeout ([`super::request`]).
//! - *Idle*: no request in flight and nothing arriving (HTTP/1 keep-alive between requests;
//!   HTTP/2 with no stream open). Past the idle timeout the connection is shut down
//!   gracefully: closed for HTTP/1, a GOAWAY for HTTP/2.
//!
//! In every phase, a write that makes no progress for the write timeout closes the
//! connection (a client that does not read its responses), and with a maximum age the
//! connection is shut down gracefully when it reaches it.
//!
//! [`drive`] polls the connection and sleeps until the next deadline of its current phase;
//! a phase change that brings a deadline closer wakes it.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::Request;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

use super::stats::{CloseReason, ListenerStats};
use crate::config::ListenerConfig;

/// The HTTP/2 connection preface starts with these bytes.
const H2_PREFACE_START: &[u8; 3] = b"PRI";
/// Length of the whole HTTP/2 connection preface.
const H2_PREFACE_LEN: u64 = 24;

/// Milliseconds since the first call, plus one: 0 is kept for "never".
pub(super) fn now_ms() -> u64 {
    let elapsed = epoch().elapsed().as_millis();
    u64::try_from(elapsed).unwrap_or(u64::MAX - 1) + 1
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn instant_at(ms: u64) -> tokio::time::Instant {
    tokio::time::Instant::from_std(epoch() + Duration::from_millis(ms.saturating_sub(1)))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What is due at a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// Drop the connection now.
    Close(Option<CloseReason>),
    /// Let in-flight requests finish, then close (a GOAWAY in HTTP/2).
    Graceful(CloseReason),
}

/// What a connection is doing, shared by its socket, its service and the accept loop.
#[derive(Debug)]
pub(crate) struct ConnState {
    accepted_ms: u64,
    in_flight: AtomicUsize,
    /// When the last request ended (or the accept).
    idle_since_ms: AtomicU64,
    /// When the head being read started; 0 when none is.
    head_since_ms: AtomicU64,
    /// Whether the client spoke the HTTP/2 preface.
    h2: AtomicBool,
    /// When the pending write started waiting; 0 when none is.
    write_stalled_ms: AtomicU64,
    /// Set by the accept loop to make room for a new connection.
    evicted: AtomicBool,
    wake: Notify,
}

impl ConnState {
    /// A connection accepted now: reading its first head.
    pub(super) fn new() -> ConnState {
        let now = now_ms();
        ConnState {
            accepted_ms: now,
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(now),
            head_since_ms: AtomicU64::new(now),
            h2: AtomicBool::new(false),
            write_stalled_ms: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// A request's head was read and its handler called.
    pub(super) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since_ms.store(0, Ordering::Release);
    }

    /// A request's response was sent (or abandoned).
    pub(super) fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_since_ms.store(now_ms(), Ordering::Release);
            self.wake.notify_one();
        }
    }

    /// Whether no request is in flight: the connection may be evicted.
    pub(super) fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && !self.evicted.load(Ordering::Acquire)
    }

    /// Since when it has had no request in flight (or was accepted).
    pub(super) fn idle_since(&self) -> u64 {
        self.idle_since_ms.load(Ordering::Acquire)
    }

    /// Whether the accept loop asked it to close.
    pub(super) fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Asks [`drive`] to drop the connection.
    pub(super) fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn on_read(&self, total: u64, prefix: &[u8]) {
        if self.h2.load(Ordering::Relaxed) {
            return;
        }
        if prefix == H2_PREFACE_START && total >= H2_PREFACE_LEN {
            // The preface is in: an HTTP/2 connection with no stream yet is idle.
            self.h2.store(true, Ordering::Release);
            self.head_since_ms.store(0, Ordering::Release);
            self.idle_since_ms.store(now_ms(), Ordering::Release);
            self.wake.notify_one();
        } else if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since_ms.load(Ordering::Acquire) == 0
        {
            // The first byte of the next request: its head has the header timeout.
            self.head_since_ms.store(now_ms(), Ordering::Release);
            self.wake.notify_one();
        }
    }

    fn on_write(&self, pending: bool) {
        let stalled = self.write_stalled_ms.load(Ordering::Relaxed);
        if pending && stalled == 0 {
            self.write_stalled_ms.store(now_ms(), Ordering::Relaxed);
            self.wake.notify_one();
        } else if !pending && stalled != 0 {
            self.write_stalled_ms.store(0, Ordering::Relaxed);
        }
    }

    /// The next deadline and what is due then; `graceful` is whether (and why) a graceful
    /// shutdown was already started.
    fn next_due(
        &self,
        limits: &ListenerConfig,
        graceful: Option<(u64, Due)>,
    ) -> Option<(u64, Due)> {
        if self.evicted.load(Ordering::Acquire) {
            return Some((0, Due::Close(None)));
        }
        let mut best: Option<(u64, Due)> = None;
        let mut consider = |at: u64, due: Due| {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, due));
            }
        };
        let after =
            |since: u64, limit: Option<Duration>| limit.map(|d| since.saturating_add(millis(d)));

        let stalled = self.write_stalled_ms.load(Ordering::Relaxed);
        if stalled != 0
            && let Some(at) = after(stalled, limits.write_timeout)
        {
            consider(at, Due::Close(Some(CloseReason::WriteTimeout)));
        }
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let head = self.head_since_ms.load(Ordering::Acquire);
            if head != 0 && !self.h2.load(Ordering::Acquire) {
                if let Some(at) = after(head, limits.header_timeout) {
                    consider(at, Due::Close(Some(CloseReason::HeaderTimeout)));
                }
            } else if graceful.is_none()
                && let Some(at) = after(self.idle_since(), limits.idle_timeout)
            {
                consider(at, Due::Graceful(CloseReason::Idle));
            }
        }
        match graceful {
            None => {
                if let Some(at) = after(self.accepted_ms, limits.max_connection_age) {
                    consider(at, Due::Graceful(CloseReason::MaxAge));
                }
            }
            Some((since, Due::Graceful(CloseReason::MaxAge))) => {
                if let Some(at) = after(since, limits.max_connection_age_grace) {
                    consider(at, Due::Close(None));
                }
            }
            Some(_) => {}
        }
        best
    }
}

/// A TCP stream that reports reads and stalled writes to its [`ConnState`].
pub(super) struct Monitored {
    stream: TcpStream,
    state: Arc<ConnState>,
    /// Bytes read so far (counted up to the HTTP/2 preface's length).
    read: u64,
    /// The first bytes read, to recognise the HTTP/2 preface.
    prefix: [u8; 3],
}

impl Monitored {
    pub(super) fn new(stream: TcpStream, state: Arc<ConnState>) -> Monitored {
        Monitored {
            stream,
            state,
            read: 0,
            prefix: [0; 3],
        }
    }
}

impl AsyncRead for Monitored {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        let fresh = &buf.filled()[before..];
        if !fresh.is_empty() {
            let this = &mut *self;
            let have = usize::try_from(this.read).unwrap_or(usize::MAX);
            if have < this.prefix.len() {
                let take = (this.prefix.len() - have).min(fresh.len());
                this.prefix[have..have + take].copy_from_slice(&fresh[..take]);
            }
            let n = u64::try_from(fresh.len()).unwrap_or(u64::MAX);
            this.read = this.read.saturating_add(n).min(H2_PREFACE_LEN);
            let known = this.read.min(3) as usize;
            this.state.on_read(this.read, &this.prefix[..known]);
        }
        result
    }
}

impl AsyncWrite for Monitored {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.state.on_write(result.is_pending());
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.state.on_write(result.is_pending());
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.stream).poll_flush(cx);
        self.state.on_write(result.is_pending());
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A connection being served.
pub(super) type Served<'a> =
    auto::Connection<'a, TokioIo<Monitored>, TowerToHyperService<InFlight>, TokioExecutor>;

/// Serves `conn` until it ends, closing it when a deadline of [`ConnState`] passes, when it
/// is evicted, or (gracefully) when `shutdown` turns true.
pub(super) async fn drive(
    conn: Served<'_>,
    state: &ConnState,
    limits: &ListenerConfig,
    stats: &ListenerStats,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conn = std::pin::pin!(conn);
    let mut graceful: Option<(u64, Due)> = None;
    let mut stopping = false;
    loop {
        let due = state.next_due(limits, graceful);
        let sleep = async {
            match due {
                Some((at, _)) => tokio::time::sleep_until(instant_at(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            () = state.wake.notified() => {}
            () = sleep => {
                let now = now_ms();
                match state.next_due(limits, graceful) {
                    Some((at, Due::Close(reason))) if at <= now => {
                        if let Some(reason) = reason {
                            stats.closed(reason);
                            tracing::debug!(reason = reason.label(), "closing connection");
                        }
                        return;
                    }
                    Some((at, due @ Due::Graceful(reason))) if at <= now => {
                        stats.closed(reason);
                        tracing::debug!(reason = reason.label(), "shutting connection down");
                        conn.as_mut().graceful_shutdown();
                        graceful = Some((now, due));
                    }
                    _ => {}
                }
            }
            () = stopped(&mut shutdown), if !stopping => {
                stopping = true;
                if state.in_flight.load(Ordering::Acquire) == 0 && !state.h2.load(Ordering::Acquire) {
                    return;
                }
                if graceful.is_none() {
                    conn.as_mut().graceful_shutdown();
                    graceful = Some((now_ms(), Due::Close(None)));
                }
            }
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A connection's service: the listener's router, with requests counted in its [`ConnState`].
#[derive(Clone)]
pub(crate) struct InFlight {
    pub(super) router: axum::Router,
    pub(super) state: Arc<ConnState>,
}

impl<B> tower::Service<Request<B>> for InFlight
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Tracked>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // A router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.state.request_started();
        let guard = Guard(self.state.clone());
        let mut router = self.router.clone();
        Box::pin(async move {
            let response = match tower::Service::call(&mut router, req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(response.map(|body| Tracked {
                inner: body,
                _guard: guard,
            }))
        })
    }
}

/// Ends the request when dropped: with its response body, or with its future if the
/// connection goes first.
struct Guard(Arc<ConnState>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A response body that ends its request when it is dropped.
pub(crate) struct Tracked {
    inner: Body,
    _guard: Guard,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves when `shutdown` turns true (or its sender is gone).
pub(super) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ListenerConfig {
        ListenerConfig {
            header_timeout: Some(Duration::from_secs(5)),
            read_timeout: Some(Duration::from_secs(30)),
            write_timeout: Some(Duration::from_secs(7)),
            idle_timeout: Some(Duration::from_secs(60)),
            max_connection_age: None,
            max_connection_age_grace: None,
            keepalive_time: None,
            keepalive_timeout: Duration::from_secs(20),
            conn_limit: 0,
        }
    }

    #[test]
    fn phases_have_their_deadlines() {
        let limits = limits();
        let state = ConnState::new();
        let accepted = state.accepted_ms;
        // A new connection must send its head within the header timeout.
        assert_eq!(
            state.next_due(&limits, None),
            Some((
                accepted + 5000,
                Due::Close(Some(CloseReason::HeaderTimeout))
            ))
        );
        // Busy: no phase deadline.
        state.request_started();
        assert_eq!(state.next_due(&limits, None), None);
        assert!(!state.is_idle());
        // Idle after the response.
        state.request_finished();
        assert!(state.is_idle());
        let idle = state.idle_since();
        assert_eq!(
            state.next_due(&limits, None),
            Some((idle + 60_000, Due::Graceful(CloseReason::Idle)))
        );
        // The next request's first byte starts its header timeout.
        state.on_read(24, b"GET");
        let head = state.head_since_ms.load(Ordering::Relaxed);
        assert!(head >= idle);
        assert_eq!(
            state.next_due(&limits, None),
            Some((head + 5000, Due::Close(Some(CloseReason::HeaderTimeout))))
        );
        // A stalled write is bounded in every phase.
        state.request_started();
        state.on_write(true);
        let stalled = state.write_stalled_ms.load(Ordering::Relaxed);
        assert_eq!(
            state.next_due(&limits, None),
            Some((stalled + 7000, Due::Close(Some(CloseReason::WriteTimeout))))
        );
        state.on_write(false);
        assert_eq!(state.next_due(&limits, None), None);
        state.evict();
        assert_eq!(state.next_due(&limits, None), Some((0, Due::Close(None))));
    }

    #[test]
    fn http2_connections_are_idle_between_streams() {
        let mut limits = limits();
        limits.max_connection_age = Some(Duration::from_secs(600));
        limits.max_connection_age_grace = Some(Duration::from_secs(10));
        let state = ConnState::new();
        state.on_read(3, b"PRI");
        // Half a preface is still a head being read.
        assert!(matches!(
            state.next_due(&limits, None),
            Some((_, Due::Close(Some(CloseReason::HeaderTimeout))))
        ));
        state.on_read(24, b"PRI");
        let idle = state.idle_since();
        assert_eq!(
            state.next_due(&limits, None),
            Some((idle + 60_000, Due::Graceful(CloseReason::Idle)))
        );
        // Frames on an idle HTTP/2 connection (pings, settings) do not start a head.
        state.on_read(24, b"PRI");
        assert_eq!(state.head_since_ms.load(Ordering::Relaxed), 0);
        // Past the maximum age: graceful, then closed after the grace.
        state.request_started();
        assert_eq!(
            state.next_due(&limits, None),
            Some((
                state.accepted_ms + 600_000,
                Due::Graceful(CloseReason::MaxAge)
            ))
        );
        let graceful = Some((1000, Due::Graceful(CloseReason::MaxAge)));
        assert_eq!(
            state.next_due(&limits, graceful),
            Some((11_000, Due::Close(None)))
        );
    }
}
