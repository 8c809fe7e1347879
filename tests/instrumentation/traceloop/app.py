"""Traceloop's OpenLLMetry instrumentation (opentelemetry-instrumentation-openai)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fakeai  # noqa: E402


def instrument(_base_url):
    fakeai.meter_provider(os.environ.get("SERVICE_NAME", "traceloop-app"))
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()


fakeai.run(instrument)
