"""Sends spans to Phoenix the way an instrumented app does: OpenInference attributes on
OpenTelemetry SDK spans, exported as OTLP/HTTP protobuf to `<url>/v1/traces`.

Run with the Phoenix venv's python (tests/phoenix/requirements.txt pins the SDK and the
exporter), by tests/support/src/servers/phoenix.rs. Phoenix's URL and API key come from the
environment (`PHOENIX_URL`, `PHOENIX_API_KEY`: a key never goes on a command line); what to
send comes as JSON on stdin:

    {"project": "otlp-bot",
     "spans": [{"name": "chat", "kind": "LLM", "parent": 0 or null,
                "start_ns": 1764554400000000000, "end_ns": ...,
                "attributes": {"llm.model_name": "gpt-4o", ...},
                "status": "OK" | "ERROR", "status_message": "...",
                "exception": {"type": "...", "message": "..."}}]}

`parent` is the index of an earlier span of the list, so one request can be a CHAIN root with
an LLM child as instrumentation makes it. Prints the trace and span ids it sent, as
`{"spans": [{"trace_id": hex, "span_id": hex}, ...]}` in input order, and exits non-zero when
the export failed (every span goes in one export request, so it succeeds or fails whole).
"""

import json
import os
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode


def main() -> int:
    url = os.environ["PHOENIX_URL"].rstrip("/")
    key = os.environ.get("PHOENIX_API_KEY", "")
    spec = json.load(sys.stdin)

    # Phoenix files spans under the project this resource attribute names.
    resource = Resource.create({"openinference.project.name": spec["project"]})
    provider = TracerProvider(resource=resource)
    # Kept in memory and exported below in one request whose result is checked: a batch
    # processor would drop a failed export silently.
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("oncall-cockpit-tests")

    started = []
    for s in spec["spans"]:
        parent = s.get("parent")
        context = None if parent is None else trace.set_span_in_context(started[parent])
        attributes = dict(s.get("attributes", {}))
        attributes["openinference.span.kind"] = s["kind"]
        span = tracer.start_span(
            s["name"], context=context, attributes=attributes, start_time=s["start_ns"]
        )
        exception = s.get("exception")
        if exception:
            span.add_event(
                "exception",
                {"exception.type": exception["type"], "exception.message": exception["message"]},
                timestamp=s["end_ns"],
            )
        if s.get("status") == "ERROR":
            span.set_status(Status(StatusCode.ERROR, s.get("status_message", "")))
        elif s.get("status") == "OK":
            span.set_status(Status(StatusCode.OK))
        started.append(span)
    for s, span in zip(spec["spans"], started):
        span.end(end_time=s["end_ns"])

    finished = memory.get_finished_spans()
    headers = {"authorization": f"Bearer {key}"} if key else {}
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=headers, timeout=30)
    result = exporter.export(finished)
    exporter.shutdown()
    if result is not SpanExportResult.SUCCESS:
        print(f"OTLP export of {len(finished)} spans to {url}/v1/traces failed", file=sys.stderr)
        return 1
    ids = [
        {
            "trace_id": format(span.get_span_context().trace_id, "032x"),
            "span_id": format(span.get_span_context().span_id, "016x"),
        }
        for span in started
    ]
    print(json.dumps({"spans": ids}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
