"""Webhook receivers' HTTP side: authenticate, validate, journal, answer.

The journal write is all a request waits for (one group-committed write of the
raw payload); matching and deciding happen off the request path. Answers follow
Alertmanager's retry rules: 2xx accepted; 4xx for input that will never be
valid (it is dropped, as it should be); 503 when overloaded or when the journal
cannot be written, so Alertmanager sends it again and nothing is lost.
"""

from __future__ import annotations

import time
import weakref

import msgspec
from aiohttp import web
from prometheus_client import Counter

from remediator.api.auth import bearer, token_matches
from remediator.api.body import read_body
from remediator.api.errors import error_response, not_json
from remediator.api.state import BODY_TIMEOUT, WEBHOOKS, WebhookState
from remediator.logs import get_logger
from remediator.metrics import IntakeMetrics
from remediator.receivers import PayloadError, alertmanager
from remediator.store import JournalOverloaded, JournalUnavailable

log = get_logger("remediator.api")
_ENCODER = msgspec.json.Encoder()
"""The acknowledgement is on the request path: msgspec encodes it in a tenth of `json.dumps`'s time."""
ROUTE = "alertmanager"
PATH = "/webhook/alertmanager"


class RouteMetrics:
    """One route's labelled children, looked up once: `labels()` costs microseconds on every call
    (a lock and a dict of label tuples), several times a request; the children are the same objects."""

    def __init__(self, metrics: IntakeMetrics, route: str) -> None:
        self._requests = metrics.webhook_requests
        self._route = route
        self.duration = metrics.webhook_duration.labels(route=route)
        self.firing = metrics.alerts_received.labels(source=route, status="firing")
        self.resolved = metrics.alerts_received.labels(source=route, status="resolved")
        self._codes: dict[int, Counter] = {}

    def answered(self, status: int) -> Counter:
        """remediator_webhook_requests_total{route, code} (created at its first answer, as before)."""
        child = self._codes.get(status)
        if child is None:
            child = self._codes[status] = self._requests.labels(route=self._route, code=str(status))
        return child


_ROUTE_METRICS: weakref.WeakKeyDictionary[IntakeMetrics, RouteMetrics] = weakref.WeakKeyDictionary()


def route_metrics(metrics: IntakeMetrics) -> RouteMetrics:
    """The alertmanager route's children of `metrics` (one `RouteMetrics` per metrics object)."""
    found = _ROUTE_METRICS.get(metrics)
    if found is None:
        found = _ROUTE_METRICS[metrics] = RouteMetrics(metrics, ROUTE)
    return found


async def alertmanager_webhook(request: web.Request) -> web.Response:
    return await answer_alertmanager(request, request.app[WEBHOOKS], body_timeout=request.app[BODY_TIMEOUT])


async def answer_alertmanager(
    request: web.Request, state: WebhookState, *, body_timeout: float
) -> web.Response:
    """The route's answer, from `state` (the application's, or the runner's direct path: webhook_app.py)."""
    counted = route_metrics(state.metrics)
    started = time.perf_counter()
    response = await _alertmanager(request, state, counted, body_timeout)
    counted.duration.observe(time.perf_counter() - started)
    counted.answered(response.status).inc()
    return response


async def _alertmanager(
    request: web.Request, state: WebhookState, counted: RouteMetrics, body_timeout: float
) -> web.Response:
    if state.webhook_token is not None and not token_matches(bearer(request), state.webhook_token):
        return error_response(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": 'Bearer realm="remediator"'}
        )
    if (refused := not_json(request)) is not None:
        return refused
    body = await read_body(request, timeout_s=body_timeout)
    try:
        payload = alertmanager.validate(body)
    except PayloadError as e:
        log.info("webhook payload rejected", route=ROUTE, reason=e.reason)
        return error_response(e.status, e.reason)
    try:
        payload_id = await state.journal.accept("alertmanager", body)
    except JournalOverloaded as e:
        log.warning("webhook shed: overloaded", reason=str(e))
        return error_response(503, f"overloaded: {e}", headers={"Retry-After": "5"})
    except JournalUnavailable as e:
        state.metrics.journal_errors.inc()
        log.error("webhook not accepted: journal unavailable", error=str(e))
        return error_response(503, "journal unavailable; retry later", headers={"Retry-After": "5"})
    alerts = len(payload.alerts)
    firing = sum(1 for a in payload.alerts if a.status == "firing")
    if firing:
        counted.firing.inc(firing)
    if alerts - firing:
        counted.resolved.inc(alerts - firing)
    state.metrics.last_alert.set(state.clock.now().timestamp())
    if state.queue_depth is not None:
        state.queue_depth.set(state.journal.backlog())
    return web.Response(
        body=_ENCODER.encode({"status": "accepted", "payload_id": payload_id, "alerts": alerts}),
        status=202,
        content_type="application/json",
    )
