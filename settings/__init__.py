"""Configuration from the environment, and the Temporal connection every client and the
worker share (names in DESIGN.md, operating surface).

The worker, the CLI, the HTTP API and the development stack read the same variables, so a
shell that can run `complaints` can run `python -m workers` with no extra setup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from settings.tracing import tracer_provider_from_env, tracing_interceptors
from workflows.complaint.metrics import ESCALATION_LATENESS, LATENESS_BUCKETS
from workflows.policy import SlaPolicy, load_policy

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = REPO_ROOT / "templates"


@dataclass(frozen=True)
class Settings:
    temporal_address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "complaints"
    database_url: str = "postgresql://postgres@localhost:5432/complaints"
    smtp_host: str = "localhost"
    smtp_port: int = 1025
    mail_from: str = "Customer Care <care@example.com>"
    policy_path: str | None = None
    templates_dir: Path = field(default=TEMPLATES_DIR)
    # Complaints kept in the worker's memory between their tasks, about 0.8 MiB each; one
    # beyond it is replayed from its history when it next has work (docs/performance.md).
    workflow_cache_size: int = 500
    # The email channel (DESIGN.md, "The email channel, both ways"): the address customers
    # write to, where `complaints mail-gateway` listens, the largest message it takes.
    support_address: str = "support@example.com"
    inbound_smtp_host: str = "127.0.0.1"
    inbound_smtp_port: int = 2525
    inbound_max_bytes: int = 10 * 1024 * 1024
    # Where people reach `complaints serve` (customers' links, the console's links in
    # internal emails), and the secret that signs customers' links (no secret: emails carry
    # no customer links, and the customer pages refuse every link).
    public_url: str = "http://localhost:8000"
    link_secret: str = ""
    # The worker's Prometheus endpoint (SDK and product metrics): http://host:9464/metrics.
    metrics_port: int = 9464
    # `json`: one JSON object per log line, for log shippers; `text` for people.
    log_format: str = "text"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        defaults = cls()
        return cls(
            temporal_address=env.get("TEMPORAL_ADDRESS", defaults.temporal_address),
            namespace=env.get("TEMPORAL_NAMESPACE", defaults.namespace),
            task_queue=env.get("TASK_QUEUE", defaults.task_queue),
            database_url=env.get("DATABASE_URL", defaults.database_url),
            smtp_host=env.get("SMTP_HOST", defaults.smtp_host),
            smtp_port=int(env.get("SMTP_PORT", defaults.smtp_port)),
            mail_from=env.get("MAIL_FROM", defaults.mail_from),
            policy_path=env.get("COMPLAINTS_POLICY") or None,
            templates_dir=Path(env.get("COMPLAINTS_TEMPLATES", str(TEMPLATES_DIR))),
            workflow_cache_size=int(env.get("WORKFLOW_CACHE_SIZE", defaults.workflow_cache_size)),
            support_address=env.get("SUPPORT_ADDRESS", defaults.support_address),
            inbound_smtp_host=env.get("INBOUND_SMTP_HOST", defaults.inbound_smtp_host),
            inbound_smtp_port=int(env.get("INBOUND_SMTP_PORT", defaults.inbound_smtp_port)),
            inbound_max_bytes=int(env.get("INBOUND_MAX_BYTES", defaults.inbound_max_bytes)),
            public_url=env.get("PUBLIC_URL", defaults.public_url).rstrip("/"),
            link_secret=env.get("LINK_SECRET", defaults.link_secret),
            metrics_port=int(env.get("METRICS_PORT", defaults.metrics_port)),
            log_format=env.get("LOG_FORMAT", defaults.log_format),
        )

    def policy(self) -> SlaPolicy:
        """The configured policy, validated (raises PolicyError naming the key)."""
        return load_policy(self.policy_path)


async def connect(settings: Settings | None = None, runtime: Runtime | None = None, *,
                  tracer_provider: TracerProvider | None = None, lazy: bool = False) -> Client:
    """The Temporal client of the settings' address and namespace; pydantic models travel
    as JSON (the worker uses the same converter). `runtime`: e.g. one serving metrics.
    Traced (settings/tracing.py) with `tracer_provider`, or the one OTEL_EXPORTER_OTLP_ENDPOINT
    configures; a worker on this client traces its workflows and activities too. `lazy`:
    connect at the first call (the mail gateway takes mail while Temporal is away)."""
    settings = settings or Settings.from_env()
    provider = tracer_provider or tracer_provider_from_env()
    return await Client.connect(settings.temporal_address, namespace=settings.namespace,
                                data_converter=pydantic_data_converter, runtime=runtime,
                                interceptors=tracing_interceptors(provider), lazy=lazy)


def metrics_runtime(port: int, host: str = "0.0.0.0") -> Runtime:
    """The worker process's one Temporal runtime, serving Prometheus at http://host:port/metrics:
    the SDK's `temporal_*` metrics (durations in seconds) and the product's `complaints_*`
    ones under exactly the names they are created with (no prefix, no suffix added)."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=f"{host}:{port}", durations_as_seconds=True,
        histogram_bucket_overrides={ESCALATION_LATENESS: list(LATENESS_BUCKETS)})))
