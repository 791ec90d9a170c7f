//! spec: what does a listener speak, and how does it treat connections?

use crate::config::ListenerConfig;

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// HTTP/1.1 and HTTP/2 (cleartext, by prior knowledge).
    Http,
    /// gRPC: HTTP/2 only.
    Grpc,
}

/// One listener: what it is and how it treats connections.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// What it serves, for logs (`Tempo HTTP API`).
    pub(crate) what: &'static str,
    /// What it speaks.
    pub(crate) protocol: Protocol,
    /// Its timeouts; its `conn_limit` is the cap in force (never 0 here).
    pub(crate) config: ListenerConfig,
}
