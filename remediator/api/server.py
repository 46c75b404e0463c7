"""Builds the aiohttp application from an ApiState."""

from __future__ import annotations

from aiohttp import web

from remediator.api import health, webhooks
from remediator.api.console import add_console_routes
from remediator.api.errors import make_error_middleware
from remediator.api.models import PREFIX
from remediator.api.openapi import openapi_document
from remediator.api.pagerduty import add_pagerduty_route
from remediator.api.routes import add_control_routes
from remediator.api.state import STATE, ApiState


def make_runner(state: ApiState) -> web.AppRunner:
    """The runner the daemon serves with. `keepalive_timeout` doubles as the header timeout: aiohttp
    closes a connection whose next request has not fully arrived by then (it counts from the
    connection's start or the last answer, whatever a slow client trickles meanwhile). No access log:
    remediator_webhook_requests_total counts requests, and a log line per request is noise."""
    return web.AppRunner(
        build_web_app(state),
        handle_signals=False,
        access_log=None,
        keepalive_timeout=state.settings.http.header_timeout,
        # After an early answer (408, 413, 400), the unread rest of a body is drained this long at
        # most before the connection is closed (aiohttp's default is 10 s per such connection).
        lingering_time=1.0,
    )


def build_web_app(state: ApiState) -> web.Application:
    app = web.Application(
        client_max_size=state.settings.http.max_body_bytes,
        middlewares=[make_error_middleware(timeout_s=state.settings.http.handler_timeout)],
    )
    app[STATE] = state
    app.router.add_post("/webhook/alertmanager", webhooks.alertmanager_webhook)
    add_pagerduty_route(app)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    add_control_routes(app)
    app.router.add_get(PREFIX + "/openapi.json", openapi_document)
    add_console_routes(app)
    return app
