//! request: did a request's body arrive in time?
//!
//! [`ReadTimeoutLayer`] gives a request's body a deadline, counted from its head: a
//! body still incomplete then fails, and the request is answered `408 Request Timeout` (with
//! `Connection: close`), or in gRPC `DEADLINE_EXCEEDED`, whatever its handler made of the
//! failed read.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body::{Frame, SizeHint};

use super::spec::Protocol;
use super::stats::ListenerStats;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A tower layer that gives request bodies a deadline (see the module documentation).
#[derive(Clone)]
pub(crate) struct ReadTimeoutLayer {
    pub(crate) timeout: Option<Duration>,
    pub(crate) protocol: Protocol,
    pub(crate) stats: Arc<ListenerStats>,
}

impl<S> tower::Layer<S> for ReadTimeoutLayer {
    type Service = ReadTimeout<S>;

    fn layer(&self, inner: S) -> ReadTimeout<S> {
        ReadTimeout {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service made by [`ReadTimeoutLayer`].
#[derive(Clone)]
pub(crate) struct ReadTimeout<S> {
    inner: S,
    layer: ReadTimeoutLayer,
}

impl<S, R> tower::Service<Request<Body>> for ReadTimeout<S>
where
    S: tower::Service<Request<Body>, Response = R, Error = Infallible>,
    S::Future: Send + 'static,
    R: IntoResponse,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // A request without a body (most GETs) has nothing to wait for.
        let timeout = self
            .layer
            .timeout
            .filter(|_| !http_body::Body::is_end_stream(req.body()));
        let Some(timeout) = timeout else {
            let fut = self.inner.call(req);
            return Box::pin(async move {
                match fut.await {
                    Ok(response) => Ok(response.into_response()),
                    Err(never) => match never {},
                }
            });
        };
        let expired = Arc::new(AtomicBool::new(false));
        let req = req.map(|body| {
            Body::new(Deadline {
                inner: body,
                sleep: Box::pin(tokio::time::sleep(timeout)),
                expired: expired.clone(),
                timeout,
            })
        });
        let fut = self.inner.call(req);
        let layer = self.layer.clone();
        Box::pin(async move {
            let response = match fut.await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            };
            if !expired.load(Ordering::Acquire) {
                return Ok(response);
            }
            layer.stats.read_timeout();
            tracing::debug!(?timeout, "request body not received in time");
            Ok(timed_out(layer.protocol, timeout))
        })
    }
}

/// The answer to a request whose body did not arrive within `timeout`.
fn timed_out(protocol: Protocol, timeout: Duration) -> Response {
    let message = format!(
        "request body not received within {}s",
        timeout.as_secs_f64()
    );
    match protocol {
        Protocol::Http => {
            let mut response =
                (StatusCode::REQUEST_TIMEOUT, format!("{message}\n")).into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Protocol::Grpc => tonic::Status::deadline_exceeded(message)
            .into_http::<Body>()
            .into_response(),
    }
}

/// A request body that fails once its deadline passes.
struct Deadline {
    inner: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: Arc<AtomicBool>,
    timeout: Duration,
}

/// The error of a body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within {0:?}")]
struct BodyTimeout(Duration);

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Release);
            let timeout = self.timeout;
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimeout(timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
