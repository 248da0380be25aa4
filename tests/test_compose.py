"""The production shape: docker-compose.yml and the Dockerfile, checked without a container
engine (this machine has none): the file parses, names every service and every variable the
code reads, the services wait for what they need, and every command the image is asked to
run exists. Where `docker compose` is installed, it validates the file too.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import replace
from importlib.util import find_spec
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from settings import (
    LINK_SECRET_MIN_BYTES,
    REPO_ROOT,
    SAMPLE_LINK_SECRETS,
    Settings,
    connect,
    metrics_runtime,
)
from settings.codec import new_key_spec
from starter.cli import build_parser
from tests.conftest import ComplaintStack
from tests.faultstack import free_port
from workers.worker import announce_protections, build_worker

COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
SERVICES = {"postgresql", "temporal", "temporal-ui", "mailpit", "migrate", "worker", "api",
            "prometheus", "grafana", "mail-gateway"}
# Built from this repository's Dockerfile.
APP_SERVICES = {"migrate", "worker", "seed", "api", "mail-gateway"}
ONE_SHOT = {"migrate", "seed"}
# What docs/design.md names for the worker; Settings.from_env may read more (it must all be set).
DESIGN_VARIABLES = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TASK_QUEUE", "DATABASE_URL",
                    "SMTP_HOST", "SMTP_PORT", "MAIL_FROM", "COMPLAINTS_POLICY"}
_DEFAULTED = re.compile(r"\$\{(\w+)(?::?-([^}]*)|(:\?)[^}]*)?\}")
REQUIRED = "<required: compose refuses to start without it>"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: Any) -> str:
    """`${VAR:-default}` as compose resolves it with VAR unset (the documented defaults);
    `${VAR:?message}`, which compose refuses to run without, as REQUIRED."""
    return _DEFAULTED.sub(lambda m: REQUIRED if m.group(3) else (m.group(2) or ""), str(value))


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(v) for k, v in env.items()}


def variables_read_by_settings() -> set[str]:
    """Every `env.get("NAME")` / `env["NAME"]` in Settings.from_env, read from the source, so a
    variable added there later must be added to the compose file too."""
    tree = ast.parse((REPO_ROOT / "settings" / "__init__.py").read_text())
    from_env = next(n for n in ast.walk(tree)
                    if isinstance(n, ast.FunctionDef) and n.name == "from_env")
    names = set()
    for node in ast.walk(from_env):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get" and node.args
                and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
    return {n for n in names if isinstance(n, str) and n.isupper()}


def test_compose_names_every_service(compose: dict[str, Any]):
    services = compose["services"]
    assert SERVICES <= set(services), SERVICES - set(services)
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown service {needed}"


def test_every_variable_the_worker_reads_is_set(compose: dict[str, Any]):
    read = variables_read_by_settings()
    assert DESIGN_VARIABLES <= read  # the parser above still finds what docs/design.md names
    for name in ("worker", "migrate", "seed", "api", "mail-gateway"):
        env = env_of(compose["services"][name])
        assert read <= set(env), f"{name} lacks {sorted(read - set(env))}"
        # Empty means off: the built-in policy; no TLS or API key to the compose file's server.
        optional = {"COMPLAINTS_POLICY", "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY",
                    "TEMPORAL_TLS_CA", "TEMPORAL_API_KEY", "FORWARDED_ALLOW_IPS",
                    # The system's resolver, no trusted MX, no STARTTLS (the gateway's).
                    "INBOUND_DNS_SERVER", "INBOUND_TRUSTED_AUTHSERV_ID", "INBOUND_TLS_CERT",
                    "INBOUND_TLS_KEY",
                    # No chat channel for alerts unless one is given.
                    "SLACK_WEBHOOK_URL", "TEAMS_WEBHOOK_URL"}
        empty = {k for k in read if env[k] == "" and k not in optional}
        assert not empty, f"{name}: {empty} empty"


def test_the_variables_point_at_the_services(compose: dict[str, Any]):
    services = compose["services"]
    env = env_of(services["worker"])
    postgres, temporal = env_of(services["postgresql"]), env_of(services["temporal"])

    host, port = env["TEMPORAL_ADDRESS"].rsplit(":", 1)
    assert host == "temporal" and port == "7233"
    assert env["TEMPORAL_NAMESPACE"] == temporal["DEFAULT_NAMESPACE"]
    url = urlsplit(env["DATABASE_URL"])
    assert url.hostname == "postgresql" and (url.port or 5432) == 5432
    assert (url.username, url.password) == (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]
    assert env["SMTP_HOST"] == "mailpit" and env["SMTP_PORT"] == "1025"
    # Temporal's own persistence is the same PostgreSQL.
    assert temporal["POSTGRES_SEEDS"] == "postgresql" and temporal["DB"].startswith("postgres")
    assert (temporal["POSTGRES_USER"], temporal["POSTGRES_PWD"]) == (
        postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
    ui = env_of(services["temporal-ui"])
    assert ui["TEMPORAL_ADDRESS"] == env["TEMPORAL_ADDRESS"]
    # The UI decodes through the API's codec server, whose CORS admits the UI's origin.
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == env["PUBLIC_URL"] + "/console/codec"
    assert env["TEMPORAL_UI_ORIGIN"] in ui["TEMPORAL_CORS_ORIGINS"]
    # Archived complaints leave Temporal after the namespace's retention (README).
    assert temporal["DEFAULT_NAMESPACE_RETENTION"] == "30d"

    # The worker can be configured from exactly this (paths as they are inside the image).
    inside = {k: v.replace("/app", str(REPO_ROOT), 1) if v.startswith("/app") else v
              for k, v in env.items()}
    # Encryption is on in production: the key comes from the environment, never the file.
    assert inside["PAYLOAD_ENCRYPTION_KEYS"] == REQUIRED
    inside["PAYLOAD_ENCRYPTION_KEYS"] = new_key_spec("k1")
    assert inside["LINK_SECRET"] == REQUIRED
    inside["LINK_SECRET"] = secrets.token_urlsafe(32)
    assert inside["INBOUND_ALLOWED_NETWORKS"] == REQUIRED
    inside["INBOUND_ALLOWED_NETWORKS"] = "192.0.2.0/28"  # the MX, as `.env` would name it
    settings = Settings.from_env(inside)
    assert (settings.templates_dir / "email" / "acknowledgement.txt.j2").exists()
    assert settings.policy().name  # the configured policy loads and validates


def test_health_checks_restart_policies_and_start_order(compose: dict[str, Any]):
    services = compose["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] in ("no", "on-failure", "on-failure:5"), name
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") in ("unless-stopped", "always"), f"{name} never restarts"
    depends = {name: s.get("depends_on", {}) for name, s in services.items()}
    assert depends["migrate"]["postgresql"]["condition"] == "service_healthy"
    assert depends["migrate"]["temporal"]["condition"] == "service_healthy"
    assert depends["temporal"]["postgresql"]["condition"] == "service_healthy"
    assert depends["worker"]["migrate"]["condition"] == "service_completed_successfully"
    assert depends["worker"]["temporal"]["condition"] == "service_healthy"
    # Third-party images are pinned: an `up` next year runs what was tested.
    for name, service in services.items():
        if name not in APP_SERVICES:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_the_image_runs_only_commands_that_exist(compose: dict[str, Any]):
    services = compose["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == "." and service["image"] == services["worker"]["image"]
    assert DOCKERFILE.exists()
    cmd = re.search(r"^CMD\s+(\[.*\])\s*$", DOCKERFILE.read_text(), re.M)
    assert cmd, "the Dockerfile has no exec-form CMD"
    commands = {"Dockerfile CMD": json.loads(cmd.group(1))}
    for name in APP_SERVICES:
        commands[name] = services[name]["command"]
    health = services["worker"]["healthcheck"]["test"]
    commands["worker healthcheck"] = health[1:] if health[0] == "CMD" else health

    cli = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    scripts = _project_scripts()
    for where, argv in commands.items():
        if argv[:2] == ["python", "-m"]:
            assert find_spec(argv[2]) is not None, f"{where}: no module {argv[2]}"
        elif argv[0] == "complaints":
            assert scripts.get("complaints") == "starter.cli:main"
            assert argv[1] in cli, f"{where}: no `complaints {argv[1]}`"
            build_parser().parse_args(argv[1:])  # its flags too (exits 2 if one is unknown)
        else:
            pytest.fail(f"{where}: unexpected command {argv}")
    # Seeds and templates the commands use are in the image (not excluded by .dockerignore).
    ignored = {line.strip().rstrip("/") for line in (REPO_ROOT / ".dockerignore").read_text()
               .splitlines() if line.strip() and not line.startswith("#")}
    needed = {"pyproject.toml", "README.md", "workflows", "activities", "workers", "starter",
              "templates", "seeds"}
    assert not needed & ignored, needed & ignored
    assert (REPO_ROOT / services["seed"]["command"][2]).exists()


def _project_scripts() -> dict[str, str]:
    import tomllib

    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.skipif(not shutil.which("docker"), reason="no docker client")
def test_docker_compose_config_accepts_the_file():
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker client without the compose plugin")
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


async def test_worker_health_check_sees_a_polling_worker(local_stack: ComplaintStack):
    """`python -m workers.health`, the worker container's health check: healthy while a worker
    on this host polls the task queue, unhealthy (exit 1) when none does."""
    stack = local_stack
    address = stack.client.service_client.config.target_host
    env = os.environ | {"TEMPORAL_ADDRESS": address, "TASK_QUEUE": stack.settings.task_queue}

    def check(task_queue: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "workers.health"], cwd=REPO_ROOT,
                              env=env | {"TASK_QUEUE": task_queue}, capture_output=True,
                              text=True, timeout=60)

    async with stack.worker():
        for _ in range(50):  # the first poll reaches the server a moment after the start
            healthy = await asyncio.to_thread(check, stack.settings.task_queue)
            if healthy.returncode == 0:
                break
            await asyncio.sleep(0.2)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "healthy" in healthy.stdout
    nobody = await asyncio.to_thread(check, f"{stack.settings.task_queue}-nobody")
    assert nobody.returncode == 1 and "unhealthy: no worker" in nobody.stdout


async def test_worker_readiness_needs_postgresql_and_its_metrics_endpoint(
        local_stack: ComplaintStack):
    """`python -m workers.health --ready`, what compose waits on: the worker polls, PostgreSQL
    answers and the metrics endpoint (METRICS_PORT) answers; each missing one is named."""
    stack = local_stack
    address = stack.client.service_client.config.target_host
    port = free_port()
    client = await connect(replace(stack.settings, temporal_address=address),
                           metrics_runtime(port, host="127.0.0.1"))
    env = os.environ | {"TEMPORAL_ADDRESS": address, "TASK_QUEUE": stack.settings.task_queue,
                        "DATABASE_URL": stack.settings.database_url, "METRICS_PORT": str(port)}

    def ready(**changes: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "workers.health", "--ready"], cwd=REPO_ROOT,
                              env=env | changes, capture_output=True, text=True, timeout=60)

    async with build_worker(client, stack.settings, stack.pool, stack.policy):
        for _ in range(50):
            answer = await asyncio.to_thread(ready)
            if answer.returncode == 0:
                break
            await asyncio.sleep(0.2)
        assert answer.returncode == 0, answer.stdout + answer.stderr
        assert answer.stdout.startswith("ready:")
        no_metrics = await asyncio.to_thread(ready, METRICS_PORT=str(free_port()))
        assert no_metrics.returncode == 1 and "no metrics on port" in no_metrics.stdout
        no_database = await asyncio.to_thread(
            ready, DATABASE_URL=stack.settings.database_url + "_gone")
        assert no_database.returncode == 1 and "PostgreSQL does not answer" in no_database.stdout


def test_prometheus_scrapes_the_worker_and_the_api_and_grafana_has_its_dashboard(
        compose: dict[str, Any]):
    services = compose["services"]
    worker_env = env_of(services["worker"])
    assert worker_env["METRICS_PORT"] == str(Settings().metrics_port)
    assert worker_env["LOG_FORMAT"] == "json"

    def mounted(service: str, inside: str) -> Any:
        """The repository file or folder a service mounts at `inside`."""
        for volume in services[service]["volumes"]:
            source, _, rest = volume.partition(":")
            if rest.split(":")[0] == inside:
                assert source.startswith("./"), volume
                return REPO_ROOT / source
        pytest.fail(f"{service} mounts nothing at {inside}")

    config = yaml.safe_load(mounted("prometheus", "/etc/prometheus/prometheus.yml").read_text())
    targets = {job["job_name"]: (job.get("metrics_path", "/metrics"),
                                 [t for c in job["static_configs"] for t in c["targets"]])
               for job in config["scrape_configs"]}
    assert targets["worker"] == ("/metrics", [f"worker:{worker_env['METRICS_PORT']}"])
    api_port = services["api"]["command"][services["api"]["command"].index("--port") + 1]
    assert targets["api"] == ("/metrics", [f"api:{api_port}"])

    provisioning = mounted("grafana", "/etc/grafana/provisioning")
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "complaints.yml").read_text())
    dashboards = mounted("grafana", providers["providers"][0]["options"]["path"])
    board = json.loads((dashboards / "complaints.json").read_text())
    assert board["panels"]
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]
    home = env_of(services["grafana"])["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{providers['providers'][0]['options']['path']}/complaints.json"
    assert services["worker"]["healthcheck"]["test"][-1] == "--ready"
    assert services["api"]["depends_on"]["worker"]["condition"] == "service_healthy"


# Services that check nobody who calls them: published on the host's loopback only.
LOOPBACK_ONLY = {"temporal", "temporal-ui", "mailpit", "prometheus", "worker"}


def published(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, container port) of each `ports` entry, as compose resolves it with
    the documented defaults; no address means every interface."""
    out = []
    for entry in service.get("ports", []):
        parts = interpolate(entry).split(":")
        out.append((parts[0] if len(parts) == 3 else "0.0.0.0", parts[-1]))  # nosec B104
    return out


def test_the_production_shape_has_no_public_default(compose: dict[str, Any]):
    """No secret, password or open door ships in the file: compose refuses to start without
    the link secret, the encryption keys, Grafana's password and the MX network; what checks
    nobody is published on loopback only; the gateway takes mail from the MX alone."""
    services = compose["services"]
    for name in APP_SERVICES:
        env = env_of(services[name])
        for needed in ("LINK_SECRET", "PAYLOAD_ENCRYPTION_KEYS", "INBOUND_ALLOWED_NETWORKS"):
            assert env[needed] == REQUIRED, f"{name}: {needed} has a default"
        assert env["FORWARDED_ALLOW_IPS"] == ""  # no proxy trusted until one is named
    for name, service in services.items():
        for address, port in published(service):
            if name in LOOPBACK_ONLY:
                assert address == "127.0.0.1", f"{name} publishes :{port} on {address}"
            else:
                assert name in {"api", "grafana", "mail-gateway"}, f"{name} publishes :{port}"
    assert published(services["mail-gateway"]) == [("127.0.0.1", "2525")]
    assert "${INBOUND_PUBLISH_ADDRESS" in services["mail-gateway"]["ports"][0]
    # The UI checks nobody: it may read, never act (actions go through the role checks).
    assert env_of(services["temporal-ui"])["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    grafana = env_of(services["grafana"])
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == REQUIRED
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in grafana
    # No sample secret hides anywhere in the file, a comment included.
    text = COMPOSE.read_text()
    for sample in SAMPLE_LINK_SECRETS - {"secret"}:
        assert sample not in text, sample
    # Nor in the examples a newcomer copies from.
    for example in [*REPO_ROOT.glob(".env*"), *(REPO_ROOT / "deploy").rglob("*")]:
        if example.is_file():
            assert "change-this-link-secret" not in example.read_text(errors="replace"), example


@pytest.mark.parametrize("secret", ["change-this-link-secret-in-dot-env", "Change-Me",
                                    "x" * (LINK_SECRET_MIN_BYTES - 1), "é" * 15])
def test_a_short_or_sample_link_secret_is_refused(secret: str):
    with pytest.raises(ValueError, match="LINK_SECRET") as refused:
        Settings.from_env({"LINK_SECRET": secret})
    assert secret not in str(refused.value)  # the message never echoes the value


def test_a_long_random_link_secret_is_taken_and_none_means_links_off(caplog):
    secret = secrets.token_urlsafe(32)
    assert Settings.from_env({"LINK_SECRET": secret}).link_secret == secret
    assert Settings.from_env({"LINK_SECRET": "x" * LINK_SECRET_MIN_BYTES}).link_secret
    with caplog.at_level(logging.INFO, logger="complaints.worker"):
        announce_protections(Settings.from_env({"LINK_SECRET": secret}))
        assert not [r for r in caplog.records if "LINK_SECRET" in r.getMessage()]
        announce_protections(Settings.from_env({}))
    (warning,) = [r for r in caplog.records if "LINK_SECRET" in r.getMessage()]
    assert warning.levelno == logging.WARNING and "carry no links" in warning.getMessage()


def test_the_cli_refuses_a_sample_link_secret_in_one_line():
    result = subprocess.run([sys.executable, "-m", "starter.cli", "status", "CRN-X"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                            env=os.environ | {"LINK_SECRET": "change-this-link-secret-in-dot-env"})
    assert result.returncode == 2
    assert result.stderr.startswith("complaints status: LINK_SECRET is a sample value")
    assert "Traceback" not in result.stderr


def test_the_design_names_every_setting():
    """docs/design.md's environment table is where an operator looks a variable up."""
    design = (REPO_ROOT / "docs" / "design.md").read_text()
    assert sorted(n for n in variables_read_by_settings() if f"`{n}`" not in design) == []
