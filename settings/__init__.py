"""Configuration from the environment, and the Temporal connection every client and the
worker share (names in docs/design.md, the environment).

The worker, the CLI, the HTTP API and the development stack read the same variables, so a
shell that can run `complaints` can run `python -m workers` with no extra setup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from settings.codec import data_converter, parse_keys
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
    # Worker processes `python -m workers` runs on the task queue, each with its own cache of
    # WORKFLOW_CACHE_SIZE (workers/processes.py); by default one per core this process may use.
    worker_processes: int = field(default_factory=lambda: usable_cores())
    # The email channel (README.md, "Complaints by email"): the address customers
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
    # Production hardening (docs/security.md): PAYLOAD_ENCRYPTION_KEYS, parsed (the first
    # key encrypts, all decrypt); mTLS to Temporal and Temporal Cloud's API key.
    payload_keys: dict[str, bytes] = field(default_factory=dict, repr=False)
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    api_key: str | None = field(default=None, repr=False)
    # The Temporal UI's origin(s), comma-separated, admitted by the codec server's CORS.
    temporal_ui_origin: str = "http://localhost:8233"

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
            worker_processes=_at_least_one("WORKER_PROCESSES", env.get("WORKER_PROCESSES")
                                           or defaults.worker_processes),
            support_address=env.get("SUPPORT_ADDRESS", defaults.support_address),
            inbound_smtp_host=env.get("INBOUND_SMTP_HOST", defaults.inbound_smtp_host),
            inbound_smtp_port=int(env.get("INBOUND_SMTP_PORT", defaults.inbound_smtp_port)),
            inbound_max_bytes=int(env.get("INBOUND_MAX_BYTES", defaults.inbound_max_bytes)),
            public_url=env.get("PUBLIC_URL", defaults.public_url).rstrip("/"),
            link_secret=env.get("LINK_SECRET", defaults.link_secret),
            metrics_port=int(env.get("METRICS_PORT", defaults.metrics_port)),
            log_format=env.get("LOG_FORMAT", defaults.log_format),
            payload_keys=parse_keys(env.get("PAYLOAD_ENCRYPTION_KEYS", "")),
            tls_cert=env.get("TEMPORAL_TLS_CERT") or None,
            tls_key=env.get("TEMPORAL_TLS_KEY") or None,
            tls_ca=env.get("TEMPORAL_TLS_CA") or None,
            api_key=env.get("TEMPORAL_API_KEY") or None,
            temporal_ui_origin=env.get("TEMPORAL_UI_ORIGIN", defaults.temporal_ui_origin),
        )

    def data_converter(self) -> DataConverter:
        """pydantic JSON, encrypted when PAYLOAD_ENCRYPTION_KEYS is set (settings/codec.py)."""
        return data_converter(self.payload_keys)

    def tls(self) -> TLSConfig | bool:
        """TLS to Temporal: mTLS with TEMPORAL_TLS_CERT/KEY (and TEMPORAL_TLS_CA for a private
        CA); plain server-verified TLS when only TEMPORAL_API_KEY is set (Temporal Cloud);
        none for the dev server. A cert without its key (or the reverse) is refused."""
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both")
        if self.tls_cert or self.tls_ca:
            return TLSConfig(
                client_cert=Path(self.tls_cert).read_bytes() if self.tls_cert else None,
                client_private_key=Path(self.tls_key).read_bytes() if self.tls_key else None,
                server_root_ca_cert=Path(self.tls_ca).read_bytes() if self.tls_ca else None)
        return bool(self.api_key)

    def policy(self) -> SlaPolicy:
        """The configured policy, validated (raises PolicyError naming the key)."""
        return load_policy(self.policy_path)


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, `taskset`), not the host's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _at_least_one(name: str, value: str | int) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{name} must be 1 or more, not {value}")
    return number


async def connect(settings: Settings | None = None, runtime: Runtime | None = None, *,
                  tracer_provider: TracerProvider | None = None, lazy: bool = False) -> Client:
    """The Temporal client of the settings' address and namespace; pydantic models travel
    as JSON, encrypted with PAYLOAD_ENCRYPTION_KEYS (a worker on this client uses the same
    converter); TLS and an API key as the settings say. `runtime`: e.g. one serving metrics.
    Traced (settings/tracing.py) with `tracer_provider`, or the one OTEL_EXPORTER_OTLP_ENDPOINT
    configures; a worker on this client traces its workflows and activities too. `lazy`:
    connect at the first call (the mail gateway takes mail while Temporal is away)."""
    settings = settings or Settings.from_env()
    provider = tracer_provider or tracer_provider_from_env()
    return await Client.connect(settings.temporal_address, runtime=runtime,
                                interceptors=tracing_interceptors(provider), lazy=lazy,
                                **connect_options(settings))


def connect_options(settings: Settings) -> dict[str, Any]:
    """What `connect` hands the SDK besides runtime and interceptors: namespace, the data
    converter (encrypted with keys), TLS and the API key (tested option by option)."""
    return {"namespace": settings.namespace, "data_converter": settings.data_converter(),
            "tls": settings.tls(), "api_key": settings.api_key}


def metrics_runtime(port: int, host: str = "0.0.0.0") -> Runtime:  # nosec B104 # metrics for Prometheus in the container network
    """The worker process's one Temporal runtime, serving Prometheus at http://host:port/metrics:
    the SDK's `temporal_*` metrics (durations in seconds) and the product's `complaints_*`
    ones under exactly the names they are created with (no prefix, no suffix added)."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=f"{host}:{port}", durations_as_seconds=True,
        histogram_bucket_overrides={ESCALATION_LATENESS: list(LATENESS_BUCKETS)})))
