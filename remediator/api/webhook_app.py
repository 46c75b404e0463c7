"""The parts every remediator application is built from: the shared limits (`new_app`), the webhook
routes (`add_webhook_routes`) and the runner (`runner_for`). The daemon's application (server.py) and
an intake process's (intake/child.py: the webhooks only, more routes can be added before it runs)
are both built from them. Imports only what the webhooks need, so an intake process stays small.
"""

from __future__ import annotations

from aiohttp import web

from remediator.api import webhooks
from remediator.api.errors import make_error_middleware
from remediator.api.pagerduty import add_pagerduty_route
from remediator.api.proxy import trust_forwarded
from remediator.api.state import BODY_TIMEOUT, WEBHOOKS, WebhookState
from remediator.config import HttpSettings


def runner_for(app: web.Application, http: HttpSettings, *, lingering: bool = True) -> web.AppRunner:
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
        lingering_time=1.0 if lingering else 0.0,
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
