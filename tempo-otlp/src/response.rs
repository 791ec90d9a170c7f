//! response: what does the exporter hear back?
//!
//! OTLP's `ExportTraceServiceResponse` with its partial success, and the `google.rpc.Status`
//! that OTLP/HTTP sends with an error, each in protobuf and in JSON.

use prost::Message;

/// OTLP's `ExportTraceServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceResponse {
    /// Set when some spans were rejected.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportTracePartialSuccess>,
}

/// OTLP's `ExportTracePartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTracePartialSuccess {
    /// Spans that were not stored.
    #[prost(int64, tag = "1")]
    pub rejected_spans: i64,
    /// Why.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The error message.
    #[prost(string, tag = "2")]
    pub message: String,
}

impl ExportTraceServiceResponse {
    /// The response for a request that stored all but `rejected` spans.
    pub fn new(rejected: usize, message: Option<String>) -> ExportTraceServiceResponse {
        ExportTraceServiceResponse {
            partial_success: (rejected > 0 || message.is_some()).then(|| {
                ExportTracePartialSuccess {
                    rejected_spans: rejected as i64,
                    error_message: message.unwrap_or_default(),
                }
            }),
        }
    }

    /// The protobuf encoding.
    pub fn to_protobuf(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    /// The OTLP/JSON encoding (`{}` on full success).
    pub fn to_json(&self) -> Vec<u8> {
        match &self.partial_success {
            None => b"{}".to_vec(),
            Some(p) => serde_json::json!({
                "partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }
            })
            .to_string()
            .into_bytes(),
        }
    }
}

impl RpcStatus {
    /// The OTLP/JSON encoding.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::json!({ "code": self.code, "message": self.message })
            .to_string()
            .into_bytes()
    }
}
