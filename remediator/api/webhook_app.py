"""The parts every remediator application is built from: the shared limits (`new_app`), the webhook
routes (`add_webhook_routes`) and the runner (`runner_for`). The daemon's application (server.py) and
an intake process's (intake/child.py: the webhooks only, more routes can be added before it runs)
are both built from them. Imports only what the webhooks need, so an intake process stays small.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import hdrs, web
from aiohttp.web_request import BaseRequest

from remediator.api import webhooks
from remediator.api.deadlines import Deadlines
from remediator.api.errors import answer_safely, make_error_middleware
from remediator.api.pagerduty import add_pagerduty_route
from remediator.api.proxy import trust_forwarded
from remediator.api.state import BODY_TIMEOUT, WEBHOOKS, WebhookState
from remediator.config import HttpSettings

DIRECT = web.AppKey("remediator_direct_webhooks", bool)
"""The application's middlewares are the error middleware alone: its webhooks may be answered directly."""


def runner_for(app: web.Application, http: HttpSettings, *, lingering: bool = True) -> web.AppRunner:
    """A runner for `app`. `keepalive_timeout` doubles as the header timeout: aiohttp
    closes a connection whose next request has not fully arrived by then (it counts from the
    connection's start or the last answer, whatever a slow client trickles meanwhile). No access log:
    remediator_webhook_requests_total counts requests, and a log line per request is noise."""
    return WebhookRunner(
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
    errors = make_error_middleware(timeout_s=http.handler_timeout, max_body=http.max_body_bytes)
    app = web.Application(
        client_max_size=http.max_body_bytes,
        middlewares=[trust_forwarded(), errors] if behind_front else [errors],
    )
    app[BODY_TIMEOUT] = http.body_timeout
    app[DIRECT] = not behind_front
    return app


def add_webhook_routes(app: web.Application, state: WebhookState) -> None:
    """POST /webhook/alertmanager and /webhook/pagerduty, answered from `state`."""
    app[WEBHOOKS] = state
    app.router.add_post(webhooks.PATH, webhooks.alertmanager_webhook)
    add_pagerduty_route(app)


class WebhookRunner(web.AppRunner):
    """An AppRunner whose server answers POST /webhook/alertmanager before the application does.

    That route's answer is exactly the application's (the same handler under the same error handling,
    handler timeout and body limit), without resolving a route, building its match info and calling
    through the middleware chain: together about 15 us of a webhook's CPU, a sixth of its cost in an
    intake process. Everything else, that path's other methods and a request that expects
    `100-continue` included, goes to the application as before."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.request_handler = direct_webhooks(self.app, server.request_handler)
        return server


Answer = Callable[[BaseRequest], Awaitable[web.StreamResponse]]


def direct_webhooks(app: web.Application, application: Answer) -> Answer:
    """`application` with POST /webhook/alertmanager answered first, when `app` serves it and adds
    nothing to its answers (no middleware but the error middleware, no response signal)."""
    state = app.get(WEBHOOKS)
    if state is None or not app.get(DIRECT, False) or len(app.on_response_prepare):
        return application
    http = state.settings.http
    deadlines, max_body, body_timeout = (
        Deadlines(http.handler_timeout),
        http.max_body_bytes,
        app[BODY_TIMEOUT],
    )

    async def alertmanager(request: web.Request) -> web.StreamResponse:
        return await webhooks.answer_alertmanager(request, state, body_timeout=body_timeout)

    async def answer(request: BaseRequest) -> web.StreamResponse:
        if (
            request.method == hdrs.METH_POST
            and request.rel_url.path_safe == webhooks.PATH  # what the router matches on
            and hdrs.EXPECT not in request.headers  # the application answers the expectation
        ):
            return await answer_safely(
                cast(web.Request, request), alertmanager, deadlines=deadlines, max_body=max_body
            )
        return await application(request)

    return answer
