"""Configuration from the environment, and the Temporal connection every client and the
worker share (names in docs/design.md, the environment).

The worker, the CLI, the HTTP API and the development stack read the same variables, so a
shell that can run `complaints` can run `python -m workers` with no extra setup.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig

from settings.codec import MissingKeyObserver, data_converter, parse_keys
from settings.tracing import tracer_provider_from_env, tracing_interceptors
from workflows.complaint.metrics import ESCALATION_LATENESS, LATENESS_BUCKETS
from workflows.policy import SlaPolicy, load_policy

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = REPO_ROOT / "templates"
# Whoever holds LINK_SECRET can sign any customer's link, so it is at least as long as a
# random 256-bit key and never a value that has ever been printed in a sample file.
LINK_SECRET_MIN_BYTES = 32
SAMPLE_LINK_SECRETS = frozenset({"change-this-link-secret-in-dot-env", "change-me", "changeme",
                                 "secret", "link-secret", "test-link-secret"})


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
    # Email you can trust (docs/security.md): how the gateway knows a sender (DKIM, SPF and
    # DMARC checked here, through INBOUND_DNS_SERVER or the system's resolver; or the
    # Authentication-Results of the MX named by its authserv-id; neither: unauthenticated),
    # STARTTLS with a certificate, who may connect, and its limits (4xx beyond them).
    inbound_verify_senders: bool = False
    inbound_dns_server: str | None = None
    inbound_trusted_authserv_id: str | None = None
    inbound_tls_cert: str | None = None
    inbound_tls_key: str | None = None
    inbound_allowed_networks: str = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
    inbound_max_connections: int = 20
    inbound_rate_per_ip: int = 60  # messages a minute from one connecting address
    inbound_rate_per_sender: int = 10  # messages a minute from one envelope sender
    # Messages an hour from an address no customer has before the rest are held (suspended).
    inbound_unknown_sender_per_hour: int = 5
    # The worker parses and strips each message in a child process killed after this long
    # (then the text is kept unstripped and flagged).
    inbound_parse_seconds: float = 20.0
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
    # The proxies (IPs or CIDR networks) whose X-Forwarded-For names the client; none by
    # default, so the socket's address is the client (docs/security.md).
    forwarded_allow_ips: tuple[str, ...] = ()
    # Single sign-on for the console (docs/security.md, "Single sign-on"): the OpenID
    # provider's issuer URL and this console's client there; the claim that names the
    # roster member (matched against the roster's email, or its id); CONSOLE_PASSWORDS=off
    # leaves the provider the only way in.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    oidc_roster_claim: str = "email"
    console_passwords: bool = True

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
            inbound_verify_senders=_on_off("INBOUND_VERIFY_SENDERS",
                                           env.get("INBOUND_VERIFY_SENDERS", "off")),
            inbound_dns_server=env.get("INBOUND_DNS_SERVER") or None,
            inbound_trusted_authserv_id=env.get("INBOUND_TRUSTED_AUTHSERV_ID") or None,
            inbound_tls_cert=env.get("INBOUND_TLS_CERT") or None,
            inbound_tls_key=env.get("INBOUND_TLS_KEY") or None,
            inbound_allowed_networks=env.get("INBOUND_ALLOWED_NETWORKS",
                                             defaults.inbound_allowed_networks),
            inbound_max_connections=_at_least_one(
                "INBOUND_MAX_CONNECTIONS", env.get("INBOUND_MAX_CONNECTIONS")
                or defaults.inbound_max_connections),
            inbound_rate_per_ip=_at_least_one("INBOUND_RATE_PER_IP", env.get(
                "INBOUND_RATE_PER_IP") or defaults.inbound_rate_per_ip),
            inbound_rate_per_sender=_at_least_one("INBOUND_RATE_PER_SENDER", env.get(
                "INBOUND_RATE_PER_SENDER") or defaults.inbound_rate_per_sender),
            inbound_unknown_sender_per_hour=_at_least_one(
                "INBOUND_UNKNOWN_SENDER_PER_HOUR", env.get("INBOUND_UNKNOWN_SENDER_PER_HOUR")
                or defaults.inbound_unknown_sender_per_hour),
            inbound_parse_seconds=float(env.get("INBOUND_PARSE_SECONDS")
                                        or defaults.inbound_parse_seconds),
            public_url=env.get("PUBLIC_URL", defaults.public_url).rstrip("/"),
            link_secret=checked_link_secret(env.get("LINK_SECRET", defaults.link_secret)),
            metrics_port=int(env.get("METRICS_PORT", defaults.metrics_port)),
            log_format=env.get("LOG_FORMAT", defaults.log_format),
            payload_keys=parse_keys(env.get("PAYLOAD_ENCRYPTION_KEYS", "")),
            tls_cert=env.get("TEMPORAL_TLS_CERT") or None,
            tls_key=env.get("TEMPORAL_TLS_KEY") or None,
            tls_ca=env.get("TEMPORAL_TLS_CA") or None,
            api_key=env.get("TEMPORAL_API_KEY") or None,
            temporal_ui_origin=env.get("TEMPORAL_UI_ORIGIN", defaults.temporal_ui_origin),
            forwarded_allow_ips=trusted_proxies(env.get("FORWARDED_ALLOW_IPS", "")),
            **single_sign_on(env),
        )

    def data_converter(self, on_missing_key: MissingKeyObserver | None = None) -> DataConverter:
        """pydantic JSON, encrypted when PAYLOAD_ENCRYPTION_KEYS is set (settings/codec.py);
        `on_missing_key`: told of each payload under a key these settings lack."""
        return data_converter(self.payload_keys, on_missing_key)

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


def trusted_proxies(spec: str) -> tuple[str, ...]:
    """FORWARDED_ALLOW_IPS, `ip-or-cidr,...`, each checked; `*` (every peer) is refused: a
    client could then name any address and dodge the sign-in limits."""
    out = []
    for entry in (e.strip() for e in spec.split(",") if e.strip()):
        try:
            out.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValueError(f"FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or a "
                             "CIDR network (name the load balancer's addresses)") from None
    return tuple(out)


def checked_link_secret(secret: str) -> str:
    """LINK_SECRET as given, or a ValueError saying why it is refused (never echoing it).
    Empty is allowed: customer links are then off (the worker warns at start)."""
    if not secret:
        return secret
    if secret.strip().lower() in SAMPLE_LINK_SECRETS:
        raise ValueError("LINK_SECRET is a sample value that anyone can read: make one with "
                         "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    if len(secret.encode()) < LINK_SECRET_MIN_BYTES:
        raise ValueError(f"LINK_SECRET is {len(secret.encode())} bytes, under the "
                         f"{LINK_SECRET_MIN_BYTES} a link signature needs: make one with "
                         "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    return secret


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, `taskset`), not the host's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def single_sign_on(env: dict[str, str]) -> dict[str, Any]:
    """The OIDC_* settings and CONSOLE_PASSWORDS, checked together: an issuer needs its client
    id, and passwords can be switched off only when a provider lets people in."""
    issuer = (env.get("OIDC_ISSUER") or "").strip().rstrip("/") or None
    client_id = (env.get("OIDC_CLIENT_ID") or "").strip() or None
    passwords = _on_off("CONSOLE_PASSWORDS", env.get("CONSOLE_PASSWORDS", "on"))
    if issuer and not client_id:
        raise ValueError("OIDC_ISSUER needs OIDC_CLIENT_ID (and OIDC_CLIENT_SECRET for a "
                         "confidential client): set both")
    if issuer and not issuer.startswith(("https://", "http://127.", "http://localhost")):
        raise ValueError(f"OIDC_ISSUER must be an https URL, not {issuer!r}")
    if not passwords and not issuer:
        raise ValueError("CONSOLE_PASSWORDS=off needs OIDC_ISSUER: otherwise nobody could "
                         "sign in to the console")
    return {"oidc_issuer": issuer, "oidc_client_id": client_id,
            "oidc_client_secret": env.get("OIDC_CLIENT_SECRET") or None,
            "oidc_roster_claim": (env.get("OIDC_ROSTER_CLAIM") or "email").strip(),
            "console_passwords": passwords}


def _on_off(name: str, value: str) -> bool:
    if value.strip().lower() in ("on", "true", "1", "yes"):
        return True
    if value.strip().lower() in ("off", "false", "0", "no", ""):
        return False
    raise ValueError(f"{name} must be on or off, not {value!r}")


def _at_least_one(name: str, value: str | int) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{name} must be 1 or more, not {value}")
    return number


async def connect(settings: Settings | None = None, runtime: Runtime | None = None, *,
                  tracer_provider: TracerProvider | None = None, lazy: bool = False,
                  on_missing_key: MissingKeyObserver | None = None) -> Client:
    """The Temporal client of the settings' address and namespace; pydantic models travel
    as JSON, encrypted with PAYLOAD_ENCRYPTION_KEYS (a worker on this client uses the same
    converter); TLS and an API key as the settings say. `runtime`: e.g. one serving metrics.
    Traced (settings/tracing.py) with `tracer_provider`, or the one OTEL_EXPORTER_OTLP_ENDPOINT
    configures; a worker on this client traces its workflows and activities too. `lazy`:
    connect at the first call (the mail gateway takes mail while Temporal is away).
    `on_missing_key`: the worker's report of payloads it cannot decrypt (settings/codec.py)."""
    settings = settings or Settings.from_env()
    provider = tracer_provider or tracer_provider_from_env()
    return await Client.connect(settings.temporal_address, runtime=runtime,
                                interceptors=tracing_interceptors(provider), lazy=lazy,
                                **connect_options(settings, on_missing_key))


def connect_options(settings: Settings,
                    on_missing_key: MissingKeyObserver | None = None) -> dict[str, Any]:
    """What `connect` hands the SDK besides runtime and interceptors: namespace, the data
    converter (encrypted with keys), TLS and the API key (tested option by option)."""
    return {"namespace": settings.namespace,
            "data_converter": settings.data_converter(on_missing_key),
            "tls": settings.tls(), "api_key": settings.api_key}


def metrics_runtime(port: int, host: str = "0.0.0.0") -> Runtime:  # nosec B104 # metrics for Prometheus in the container network
    """The worker process's one Temporal runtime, serving Prometheus at http://host:port/metrics:
    the SDK's `temporal_*` metrics (durations in seconds) and the product's `complaints_*`
    ones under exactly the names they are created with (no prefix, no suffix added)."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=f"{host}:{port}", durations_as_seconds=True,
        histogram_bucket_overrides={ESCALATION_LATENESS: list(LATENESS_BUCKETS)})))
