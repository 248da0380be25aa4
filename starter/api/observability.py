"""What the API shows the engineer on call: `/metrics` for Prometheus (request counts and
latencies by route template, method and status), and, when tracing is on, a span per
request that the Temporal calls it makes hang under, tagged with the complaint's CRN.

Metrics come from prometheus-fastapi-instrumentator (on prometheus_client): it labels by the
route's template (`/complaints/{crn}`, never one series per CRN) and groups unknown paths
under `none`. Each app has its own registry, so apps built side by side (tests) never clash.
"""

# No `from __future__ import annotations`: FastAPI reads the dependency's annotations.

from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator, metrics

from settings.tracing import tag_current_span

REQUESTS = "http_requests_total"
LATENCY = "http_request_duration_seconds"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def install_metrics(app: FastAPI) -> CollectorRegistry:
    registry = CollectorRegistry()
    Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"],
                   registry=registry).add(
        metrics.requests(metric_name=REQUESTS, registry=registry),
        metrics.latency(metric_name=LATENCY, buckets=LATENCY_BUCKETS, registry=registry),
    ).instrument(app).expose(app, include_in_schema=False)
    return registry


async def crn_on_span(request: Request) -> None:
    """Every route under /complaints/{crn}: its request span carries the CRN."""
    crn = request.path_params.get("crn")
    if crn:
        tag_current_span(crn)


def install_tracing(app: FastAPI, tracer_provider: Any) -> None:
    """Request spans (opentelemetry-instrumentation-fastapi, the otel extra); the Temporal
    client's tracing interceptor makes the workflow's spans their children."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=tracer_provider,
                                       exclude_spans=["receive", "send"])
