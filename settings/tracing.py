"""OpenTelemetry tracing, on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and the `otel` extra
is installed: `pip install 'complaint-workflows[otel]'`).

Every client and the worker connect with the SDK's `TracingInterceptor`, so a request to the
API, the workflow it starts or acts on, and the workflow's activities are one trace. Every
span of a complaint carries its CRN as the `crn` attribute (`CrnSpanProcessor`; the API sets
it on its request spans). The exporter reads the standard OTEL_* variables itself
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, headers...); OTLP over HTTP, port 4318.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the otel extra; imported only when tracing is on
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
CRN_ATTRIBUTE = "crn"
CRN_PREFIX = "CRN-"  # workflows.models.crn_for: the workflow id of a complaint


def tracer_provider(exporter: SpanExporter, *, batch: bool = True,
                    service_name: str | None = None) -> TracerProvider:
    """A tracer provider that tags complaint spans with their CRN and sends them to
    `exporter` (batched; `batch=False` sends each span as it ends, for tests)."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    class CrnSpanProcessor(SpanProcessor):
        """The Temporal spans name the workflow id; a complaint's is its CRN."""

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            workflow_id = (span.attributes or {}).get("temporalWorkflowID")
            if isinstance(workflow_id, str) and workflow_id.startswith(CRN_PREFIX):
                span.set_attribute(CRN_ATTRIBUTE, workflow_id)

    resource = Resource.create(
        {SERVICE_NAME: service_name} if service_name else {})  # else OTEL_SERVICE_NAME
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(CrnSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch
                                else SimpleSpanProcessor(exporter))
    return provider


@cache
def tracer_provider_from_env() -> TracerProvider | None:
    """The process's OTLP tracer provider when OTEL_EXPORTER_OTLP_ENDPOINT is set, else None."""
    if not os.environ.get(ENDPOINT):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as err:
        raise RuntimeError(f"{ENDPOINT} is set but the otel extra is not installed "
                           "(pip install 'complaint-workflows[otel]')") from err
    return tracer_provider(OTLPSpanExporter(), service_name=os.environ.get("OTEL_SERVICE_NAME"))


def tracing_interceptors(provider: TracerProvider | None) -> list[Any]:
    """The SDK's tracing interceptor (client and worker) for `provider`; none without one."""
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("complaint-workflows"))]


def tag_current_span(crn: str) -> None:
    """Put the CRN on the span in progress (an API request); a no-op without tracing."""
    from opentelemetry import trace

    trace.get_current_span().set_attribute(CRN_ATTRIBUTE, crn)
