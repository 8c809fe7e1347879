"""The official OpenTelemetry instrumentation (opentelemetry-instrumentation-openai-v2)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fakeai  # noqa: E402


def instrument(_base_url):
    fakeai.meter_provider(os.environ.get("SERVICE_NAME", "otel-app"))
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()


fakeai.run(instrument)
