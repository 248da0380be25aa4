"""The HTTP API (`complaints serve`): intake systems submit, agents and managers act.

    POST /complaints                             a ComplaintIntake; 201 + CRN (200 if repeated)
    GET  /complaints                             list, filtered, paginated (Temporal visibility)
    GET  /complaints/{crn}                       the `status` query
    POST /complaints/{crn}/actions/{update}      one per workflow update
    POST /complaints/{crn}/refund-decision       the Finance Manager's decision, answered at once
    POST /policy/apply                           a new SLA policy for the open complaints
    GET|POST /c/...                              the customer's pages (starter/console/customer.py)
    POST /codec/encode, /codec/decode            Temporal's remote codec protocol (codec.py);
                                                 the same under /console/codec for the UI

Every request carries an API key (`Authorization: Bearer <key>`, from `complaints keys
create`). A staff key's owner is the actor of every action: the body never names one.
An intake key may only submit. Errors are JSON, `{"error", "message", "fields"}`, with the
status codes errors.py lists; no error carries a stack trace (the server log has it, under
the reference the 500 gives).

One router per area (service, intake, complaints, actions, refunds); each calls the
operations the CLI calls too (starter/operations.py, starter/intake.py, starter/listing.py).
The staff console (starter/console/) is mounted beside them, under /console/ (`/` goes
there).
"""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.routing import Mount
from temporalio.client import Client

from database.pool import Pool, create_pool
from settings import Settings, connect
from settings.logs import configure_logging, redact_access_logs
from settings.tracing import tracer_provider_from_env
from starter.api import actions, codec, complaints, desk, intake, mail, policies, refunds, service
from starter.api.errors import install_error_handlers
from starter.api.limits import AuthFailures, BodyLimit
from starter.api.observability import crn_on_span, install_metrics, install_tracing
from starter.console import customer
from starter.console.app import mount_console


def create_app(settings: Settings, client: Client, pool: Pool,
               tracer_provider: Any = None) -> FastAPI:
    """`tracer_provider`: trace requests (and, through the client's interceptor, the
    workflows they reach) with it; the client must be connected with the same one."""
    app = FastAPIOffline(
        title="Complaint workflows API",
        version="1",
        description=(
            "Every customer complaint is a durable Temporal workflow. Intake systems submit "
            "complaints; agents and managers read and act on them.\n\n"
            "Authenticate with an API key: `Authorization: Bearer <key>` (created by "
            "`complaints keys create --staff ID` or `--intake NAME`). The key's owner is the "
            "actor of every action. Errors are JSON with `error`, `message` and `fields`."),
        dependencies=[Depends(crn_on_span)],
    )
    app.state.settings, app.state.client, app.state.pool = settings, client, pool
    install_error_handlers(app)
    for area in (service, intake, complaints, actions, refunds, mail, desk, policies):
        app.include_router(area.router)
    app.state.auth_failures = AuthFailures(pool)
    # The codec server twice: /codec for the CLI (a staff key), and under the console's path
    # for the Temporal UI, whose browser sends the console's session cookie (path /console).
    mount_console(app, settings, client, pool)
    codec_server = codec.codec_app(settings, {
        "settings": settings, "client": client, "pool": pool,
        "auth_failures": app.state.auth_failures, "console": app.state.console})
    app.router.routes.insert(0, Mount("/console/codec", codec_server))
    app.mount("/codec", codec_server)
    app.include_router(customer.router)  # the customer's pages, /c/ (links from our emails)
    app.add_middleware(BodyLimit)
    install_metrics(app)
    if tracer_provider is not None:
        install_tracing(app, tracer_provider)
    return app


async def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """`complaints serve`: the app on uvicorn, until Ctrl-C. Logs as LOG_FORMAT says (uvicorn's
    own loggers included); traced when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    configure_logging(settings.log_format)
    provider = tracer_provider_from_env()
    client = await connect(settings, tracer_provider=provider)
    pool = await create_pool(settings.database_url, min_size=1, max_size=10)
    try:
        app = create_app(settings, client, pool, tracer_provider=provider)
        await uvicorn.Server(server_config(app, settings, host, port)).serve()
    finally:
        await pool.close()


def server_config(app: Any, settings: Settings, host: str = "127.0.0.1", port: int = 8000,
                  **options: Any) -> uvicorn.Config:
    """How `serve` runs the app (tests run it the same way). The access log is on, with
    customer link tokens redacted (settings/logs.py); X-Forwarded-For is believed only from
    FORWARDED_ALLOW_IPS (none by default), as the API's own client address is
    (starter/clients.py)."""
    redact_access_logs()
    trusted = settings.forwarded_allow_ips
    return uvicorn.Config(app, host=host, port=port, log_level="info", log_config=None,
                          proxy_headers=bool(trusted),
                          forwarded_allow_ips=",".join(trusted) if trusted else "",
                          server_header=False, **options)
