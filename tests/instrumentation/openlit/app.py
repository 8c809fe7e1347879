"""OpenLIT (openlit.init), on the service's own MeterProvider, which OpenLIT reuses."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import fakeai  # noqa: E402


def instrument(_base_url):
    name = os.environ.get("SERVICE_NAME", "openlit-app")
    fakeai.meter_provider(name)
    import openlit

    # pricing_json: a local file, or OpenLIT downloads its price list at start.
    openlit.init(
        application_name=name,
        service_name=name,
        environment="test",
        pricing_json=os.path.join(HERE, "pricing.json"),
        disable_batch=True,
        capture_message_content=False,
    )


fakeai.run(instrument)
