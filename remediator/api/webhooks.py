"""Webhook receivers' HTTP side: authenticate, validate, journal, answer.

The journal write is all a request waits for (one group-committed write of the
raw payload); matching and deciding happen off the request path. Answers follow
Alertmanager's retry rules: 2xx accepted; 4xx for input that will never be
valid (it is dropped, as it should be); 503 when overloaded or when the journal
cannot be written, so Alertmanager sends it again and nothing is lost.
"""

from __future__ import annotations

import time

import msgspec
from aiohttp import web

from remediator.api.auth import bearer, token_matches
from remediator.api.body import read_body
from remediator.api.errors import error_response, not_json
from remediator.api.state import WEBHOOKS
from remediator.logs import get_logger
from remediator.receivers import PayloadError, alertmanager
from remediator.store import JournalOverloaded, JournalUnavailable

log = get_logger("remediator.api")
_ENCODER = msgspec.json.Encoder()
"""The acknowledgement is on the request path: msgspec encodes it in a tenth of `json.dumps`'s time."""


async def alertmanager_webhook(request: web.Request) -> web.Response:
    state = request.app[WEBHOOKS]
    started = time.perf_counter()
    response = await _alertmanager(request)
    state.metrics.webhook_duration.labels(route="alertmanager").observe(time.perf_counter() - started)
    state.metrics.webhook_requests.labels(route="alertmanager", code=str(response.status)).inc()
    return response


async def _alertmanager(request: web.Request) -> web.Response:
    state = request.app[WEBHOOKS]
    if state.webhook_token is not None and not token_matches(bearer(request), state.webhook_token):
        return error_response(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": 'Bearer realm="remediator"'}
        )
    if (refused := not_json(request)) is not None:
        return refused
    body = await read_body(request)
    try:
        payload = alertmanager.validate(body)
    except PayloadError as e:
        log.info("webhook payload rejected", route="alertmanager", reason=e.reason)
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
    firing = sum(1 for a in payload.alerts if a.status == "firing")
    received = state.metrics.alerts_received
    if firing:
        received.labels(source="alertmanager", status="firing").inc(firing)
    if len(payload.alerts) - firing:
        received.labels(source="alertmanager", status="resolved").inc(len(payload.alerts) - firing)
    state.metrics.last_alert.set(state.clock.now().timestamp())
    if state.queue_depth is not None:
        state.queue_depth.set(state.journal.backlog())
    return web.Response(
        body=_ENCODER.encode({"status": "accepted", "payload_id": payload_id, "alerts": len(payload.alerts)}),
        status=202,
        content_type="application/json",
    )
