"""What every instrumentation app of the tier shares (tests/instrumentation/README.md):

- a fake OpenAI-compatible server (stdlib http.server, in a thread of the app) that answers
  /v1/chat/completions with usage, streamed or not, fails on request, and takes as long as
  the scenario says;
- the load: a few workers calling it through the real `openai` client, alternating streamed
  and plain calls, so the instrumentation under test sees what production traffic looks like;
- the scenario, a JSON file the test rewrites to change load, tokens, latency and errors
  while the app runs (a cost spike, a slowdown), read again before each request;
- the Prometheus endpoint: the OTel SDK's PrometheusMetricReader served on 127.0.0.1.

The app prints one line `ready metrics=<port>` when its metrics can be scraped, and exits
when its standard input closes (the test that started it is gone).
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT = {
    # seconds before the first token, then between tokens of a streamed answer
    "ttft_s": 0.05,
    "per_token_s": 0.002,
    "prompt_tokens": 120,
    "completion_tokens": 40,
    # one request in `error_every` fails with HTTP 500 (0: none)
    "error_every": 0,
    # requests each worker starts per second, at most
    "rate_per_worker": 4.0,
    "model": "gpt-4o-mini",
}

# Streamed answers are cut into this many chunks at most, so a slow per-token time still ends.
MAX_CHUNKS = 20


class Scenario:
    """The scenario file, read again when it changes."""

    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.values = dict(DEFAULT)
        self.lock = threading.Lock()

    def get(self):
        with self.lock:
            try:
                mtime = os.stat(self.path).st_mtime_ns
                if mtime != self.mtime:
                    with open(self.path, encoding="utf-8") as f:
                        self.values = {**DEFAULT, **json.load(f)}
                    self.mtime = mtime
            except (OSError, ValueError):
                # Half-written or missing: keep the last good scenario.
                pass
            return dict(self.values)


def fake_server(scenario):
    counter = {"n": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle(self):
            # The client closes a streamed answer's connection once it has read [DONE].
            try:
                super().handle()
            except ConnectionError:
                pass

        def send_json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                req = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                req = {}
            s = scenario.get()
            with lock:
                counter["n"] += 1
                n = counter["n"]
            time.sleep(s["ttft_s"])
            if s["error_every"] and n % s["error_every"] == 0:
                self.send_json(
                    500,
                    {"error": {"message": "fake overload", "type": "server_error", "code": None}},
                )
                return
            model = req.get("model") or s["model"]
            usage = {
                "prompt_tokens": s["prompt_tokens"],
                "completion_tokens": s["completion_tokens"],
                "total_tokens": s["prompt_tokens"] + s["completion_tokens"],
            }
            base = {"id": f"chatcmpl-{n}", "created": int(time.time()), "model": model}
            if not req.get("stream"):
                time.sleep(s["per_token_s"] * s["completion_tokens"])
                self.send_json(
                    200,
                    {
                        **base,
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "ok " * 8},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def event(obj):
                data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            chunks = max(1, min(MAX_CHUNKS, s["completion_tokens"]))
            gap = s["per_token_s"] * s["completion_tokens"] / chunks
            for i in range(chunks):
                if i:
                    time.sleep(gap)
                event(
                    {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": {"content": "ok "}, "finish_reason": None}],
                    }
                )
            event(
                {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
            )
            # include_usage: the usage arrives in a last chunk without choices.
            event({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
            event(b"[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def serve_metrics(reader_port):
    """Serves prometheus_client's default registry, where PrometheusMetricReader registers."""
    from prometheus_client import start_http_server

    start_http_server(reader_port, addr="127.0.0.1")


def worker(client, scenario, stop, index):
    import openai

    i = index
    while not stop.is_set():
        s = scenario.get()
        started = time.monotonic()
        i += 1
        try:
            messages = [{"role": "user", "content": "Summarise the incident."}]
            if i % 2:
                client.chat.completions.create(model=s["model"], messages=messages)
            else:
                stream = client.chat.completions.create(
                    model=s["model"],
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                for _ in stream:
                    pass
        except openai.APIError:
            # The scenario's errors: the instrumentation has recorded them.
            pass
        pause = 1.0 / max(s["rate_per_worker"], 0.01) - (time.monotonic() - started)
        if pause > 0:
            stop.wait(pause)


def run(instrument, workers=3):
    """`instrument(base_url)` sets up the instrumentation under test; then the load runs."""
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} METRICS_PORT SCENARIO_JSON")
    port, scenario_path = int(sys.argv[1]), sys.argv[2]
    scenario = Scenario(scenario_path)
    base_url = fake_server(scenario)
    instrument(base_url)
    serve_metrics(port)

    import openai

    client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0, timeout=30)
    stop = threading.Event()
    threads = [
        threading.Thread(target=worker, args=(client, scenario, stop, k), daemon=True)
        for k in range(workers)
    ]
    for t in threads:
        t.start()
    print(f"ready metrics={port}", flush=True)
    # The test holds our stdin: when it goes away, so do we.
    sys.stdin.read()
    stop.set()


def meter_provider(service_name):
    """The OTel SDK's MeterProvider with the Prometheus reader, as a service would set it up."""
    from opentelemetry import metrics
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource

    views = []
    bounds = os.environ.get("LATENCY_BUCKETS")
    if bounds:
        # The fix the cockpit names for a latency histogram on the SDK's default boundaries
        # (0, 5, 10, … seconds): explicit ones, for every GenAI histogram in seconds.
        from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

        boundaries = [float(b) for b in bounds.split(",")]
        for name in (
            "gen_ai.server.time_to_first_token",
            "gen_ai.client.operation.duration",
            "llm.chat_completions.streaming_time_to_generate",
        ):
            views.append(
                View(
                    instrument_name=name,
                    aggregation=ExplicitBucketHistogramAggregation(boundaries),
                )
            )
    provider = MeterProvider(
        resource=Resource.create({"service.name": service_name}),
        metric_readers=[PrometheusMetricReader()],
        views=views,
    )
    metrics.set_meter_provider(provider)
    return provider
