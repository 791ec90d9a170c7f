//! status: what does a store failure look like on the wire?
//!
//! The one mapping from a store error's [`ErrorKind`] to an HTTP status and a gRPC code,
//! shared by the OTLP/HTTP and OTLP/gRPC receivers and by `tempo-server`'s query API, so that
//! the same failure is always answered the same way.

use tempo_core::ErrorKind;

/// The HTTP status of a failure: 400 for bad input, 429 while the store is overloaded
/// (clients retry after `Retry-After`), 503 while it cannot take writes, 500 for its own
/// faults.
pub fn http_status(kind: ErrorKind) -> http::StatusCode {
    match kind {
        ErrorKind::InvalidInput => http::StatusCode::BAD_REQUEST,
        ErrorKind::Overloaded => http::StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => http::StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => http::StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The gRPC code of a failure: `INVALID_ARGUMENT` for bad input, `UNAVAILABLE` (which
/// clients retry) when overloaded or unable to take writes, `INTERNAL` for the store's own
/// faults.
pub fn grpc_code(kind: ErrorKind) -> tonic::Code {
    match kind {
        ErrorKind::InvalidInput => tonic::Code::InvalidArgument,
        ErrorKind::Overloaded | ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::Internal => tonic::Code::Internal,
    }
}

/// The `google.rpc.Code` an OTLP/HTTP error body carries for an HTTP status.
pub(crate) fn rpc_code_of_http(status: http::StatusCode) -> i32 {
    match status {
        http::StatusCode::BAD_REQUEST => tonic::Code::InvalidArgument as i32,
        http::StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated as i32,
        http::StatusCode::PAYLOAD_TOO_LARGE | http::StatusCode::TOO_MANY_REQUESTS => {
            tonic::Code::ResourceExhausted as i32
        }
        http::StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable as i32,
        http::StatusCode::INTERNAL_SERVER_ERROR => tonic::Code::Internal as i32,
        _ => tonic::Code::Unknown as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_the_same_everywhere() {
        let cases = [
            (ErrorKind::InvalidInput, 400, tonic::Code::InvalidArgument),
            (ErrorKind::Overloaded, 429, tonic::Code::Unavailable),
            (ErrorKind::Unavailable, 503, tonic::Code::Unavailable),
            (ErrorKind::Internal, 500, tonic::Code::Internal),
        ];
        for (kind, status, code) in cases {
            assert_eq!(http_status(kind).as_u16(), status, "{kind:?}");
            assert_eq!(grpc_code(kind), code, "{kind:?}");
        }
        assert_eq!(rpc_code_of_http(http::StatusCode::TOO_MANY_REQUESTS), 8);
        assert_eq!(rpc_code_of_http(http::StatusCode::BAD_REQUEST), 3);
    }
}
