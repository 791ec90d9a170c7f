"""Sends one trace through each OpenTelemetry Python OTLP exporter.

Usage: export_with_sdk.py GRPC_ENDPOINT HTTP_TRACES_URL
Prints a JSON object mapping exporter name to the trace's hex ID and span count.
Exits non-zero if any export fails.
"""

import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as ProtoHttpExporter
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonHttpExporter


class Checked:
    """Wraps an exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def send(name, exporter):
    checked = Checked(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": f"python-{name}"}))
    provider.add_span_processor(SimpleSpanProcessor(checked))
    tracer = provider.get_tracer("python-test", "0.1")
    with tracer.start_as_current_span("GET /items", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "GET")
        root.set_attribute("http.response.status_code", 200)
        root.add_event("started", {"attempt": 1})
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("query", kind=SpanKind.CLIENT) as child:
            child.set_attribute("db.system", "sqlite")
            child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    if checked.failures:
        raise SystemExit(f"{name}: {checked.failures} exports failed")
    return {"trace_id": trace_id, "spans": 2, "service": f"python-{name}"}


def main():
    grpc_endpoint, http_url = sys.argv[1], sys.argv[2]
    out = {
        "grpc": send("grpc", GrpcExporter(endpoint=grpc_endpoint, insecure=True)),
        "proto-http": send("proto-http", ProtoHttpExporter(endpoint=http_url)),
        "json-http": send("json-http", JsonHttpExporter(endpoint=http_url)),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
