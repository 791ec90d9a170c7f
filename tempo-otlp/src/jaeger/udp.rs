//! udp: the Jaeger agent's ports, what do the datagrams on them hold?
//!
//! Each datagram is one `Agent.emitBatch` call: Thrift's compact protocol on port 6831,
//! its binary protocol on 6832, as Jaeger clients send them. There is no answer and no
//! header, hence no tenant: every span goes to `single-tenant`. A datagram is stored (in the
//! write-ahead log) before the next is read; one that does not decode is dropped, counted
//! as a failed request and logged (at `debug` each, at `warn` at most every ten seconds).

use std::future::Future;
use std::time::{Duration, Instant};

use tempo_core::SINGLE_TENANT;
use tokio::net::UdpSocket;

use super::map::batch_to_resource_spans;
use super::thrift::decode_agent_datagram;
use crate::receiver::{Receiver, Transport};
use crate::thrift::ThriftProtocol;

/// The largest datagram read; UDP payloads cannot be larger.
const MAX_DATAGRAM: usize = 65_535;

/// How often a dropped datagram is logged at `warn`.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Receives agent datagrams in `protocol` on `socket` and stores their spans until
/// `shutdown` completes.
pub async fn serve_agent_udp(
    socket: UdpSocket,
    protocol: ThriftProtocol,
    receiver: Receiver,
    shutdown: impl Future<Output = ()>,
) {
    let transport = match protocol {
        ThriftProtocol::Compact => Transport::JaegerThriftCompact,
        ThriftProtocol::Binary => Transport::JaegerThriftBinary,
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut last_warn: Option<Instant> = None;
    let mut dropped_since_warn = 0u64;
    tokio::pin!(shutdown);
    loop {
        let received = tokio::select! {
            () = &mut shutdown => return,
            r = socket.recv_from(&mut buf) => r,
        };
        let (len, from) = match received {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "Jaeger agent UDP receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let datagram = &buf[..len];
        let error = match decode_agent_datagram(datagram, protocol) {
            Ok(batch) => {
                match receiver
                    .ingest_mapped(
                        SINGLE_TENANT,
                        transport,
                        len,
                        batch_to_resource_spans(batch),
                    )
                    .await
                {
                    Ok(_) => None,
                    // Already counted by `ingest_mapped`.
                    Err(e) => Some((e.to_string(), false)),
                }
            }
            Err(e) => Some((e.to_string(), true)),
        };
        let Some((message, count)) = error else {
            continue;
        };
        if count {
            receiver.observe_failure(Some(SINGLE_TENANT), transport, len, &message);
        }
        tracing::debug!(%from, bytes = len, error = %message, "Jaeger agent datagram dropped");
        dropped_since_warn += 1;
        if last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            tracing::warn!(
                %from,
                protocol = transport.label(),
                dropped = dropped_since_warn,
                error = %message,
                "Jaeger agent datagrams dropped"
            );
            last_warn = Some(Instant::now());
            dropped_since_warn = 0;
        }
    }
}
