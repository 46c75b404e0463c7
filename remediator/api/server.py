"""Builds the aiohttp applications: the daemon's (from an ApiState) and the webhooks-only one an intake
process serves (`new_app` + `add_webhook_routes`, to which more routes can be added)."""

from __future__ import annotations

from aiohttp import web

from remediator.api import health, webhooks
from remediator.api.console import add_console_routes
from remediator.api.errors import make_error_middleware
from remediator.api.models import PREFIX
from remediator.api.openapi import openapi_document
from remediator.api.pagerduty import add_pagerduty_route
from remediator.api.proxy import trust_forwarded
from remediator.api.routes import add_control_routes
from remediator.api.state import BODY_TIMEOUT, STATE, WEBHOOKS, ApiState, WebhookState
from remediator.config import HttpSettings


def make_runner(state: ApiState, *, behind_front: bool = False) -> web.AppRunner:
    """The runner the daemon serves with (see `runner_for`). `behind_front`: it serves only the
    intake process's proxy, on a private Unix socket (intake/front.py)."""
    return runner_for(build_web_app(state, behind_front=behind_front), state.settings.http)


def runner_for(app: web.Application, http: HttpSettings) -> web.AppRunner:
    """A runner for `app`. `keepalive_timeout` doubles as the header timeout: aiohttp
    closes a connection whose next request has not fully arrived by then (it counts from the
    connection's start or the last answer, whatever a slow client trickles meanwhile). No access log:
    remediator_webhook_requests_total counts requests, and a log line per request is noise."""
    return web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=http.header_timeout,
        # After an early answer (408, 413, 400), the unread rest of a body is drained this long at
        # most before the connection is closed (aiohttp's default is 10 s per such connection).
        lingering_time=1.0,
    )


def new_app(http: HttpSettings, *, behind_front: bool = False) -> web.Application:
    """An application with the limits every route shares: body size, handler timeout, body timeout.
    `behind_front`: the client is the one the front names in X-Forwarded-For (api/proxy.py)."""
    errors = make_error_middleware(timeout_s=http.handler_timeout)
    app = web.Application(
        client_max_size=http.max_body_bytes,
        middlewares=[trust_forwarded(), errors] if behind_front else [errors],
    )
    app[BODY_TIMEOUT] = http.body_timeout
    return app


def add_webhook_routes(app: web.Application, state: WebhookState) -> None:
    """POST /webhook/alertmanager and /webhook/pagerduty, answered from `state`."""
    app[WEBHOOKS] = state
    app.router.add_post("/webhook/alertmanager", webhooks.alertmanager_webhook)
    add_pagerduty_route(app)


def build_web_app(state: ApiState, *, behind_front: bool = False) -> web.Application:
    app = new_app(state.settings.http, behind_front=behind_front)
    app[STATE] = state
    if state.webhooks:
        add_webhook_routes(app, state.webhook_state())
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    add_control_routes(app)
    app.router.add_get(PREFIX + "/openapi.json", openapi_document)
    add_console_routes(app)
    return app
