"""PagerDuty V3 webhook route: verify the signature, validate, deduplicate, journal, answer 202.

Mirrors `webhooks.alertmanager_webhook`, with PagerDuty's rules: authentication is the HMAC
signature over the raw body (no bearer token), so no secret configured means every request is
refused. PagerDuty retries 429, 5xx and timeouts for up to 48 h and drops other 4xx, so bad
signatures and bad bodies get a 4xx (never retried) and an overloaded journal a 503 (retried).

Delivery is at-least-once: a retry carries the same `X-Webhook-Id`. The journal writes the id in the
same commit as its payload and refuses a repeat within an hour, so a retry is answered 202
"duplicate" without a second copy, also after a restart and also when two copies arrive at once. A
delivery that got a 503 wrote nothing, so its retry is accepted. Call `add_pagerduty_route` to
register the route.
"""

from __future__ import annotations

import time

from aiohttp import web

from remediator.api.body import read_body
from remediator.api.errors import error_response, not_json
from remediator.api.state import WEBHOOKS
from remediator.logs import get_logger
from remediator.receivers import PayloadError, pagerduty
from remediator.store import JournalOverloaded, JournalUnavailable

log = get_logger("remediator.api")

ROUTE = "pagerduty"
PATH = "/webhook/pagerduty"


DELIVERY_TTL = web.AppKey("remediator_pagerduty_delivery_ttl_s", float)


def add_pagerduty_route(app: web.Application, *, ttl_s: float = 3600.0) -> None:
    """Register POST /webhook/pagerduty; a delivery id is a repeat for `ttl_s` after it was accepted."""
    app[DELIVERY_TTL] = ttl_s
    app.router.add_post(PATH, pagerduty_webhook)


async def pagerduty_webhook(request: web.Request) -> web.Response:
    state = request.app[WEBHOOKS]
    started = time.perf_counter()
    response = await _pagerduty(request)
    state.metrics.webhook_duration.labels(route=ROUTE).observe(time.perf_counter() - started)
    state.metrics.webhook_requests.labels(route=ROUTE, code=str(response.status)).inc()
    return response


async def _pagerduty(request: web.Request) -> web.Response:
    state = request.app[WEBHOOKS]
    if not state.pagerduty_secrets:
        log.warning("pagerduty webhook refused: no signing secret configured", route=ROUTE)
        return error_response(401, "no PagerDuty webhook secret configured; every delivery is refused")
    body = await read_body(request)
    header = request.headers.get(pagerduty.SIGNATURE_HEADER)
    if not pagerduty.verify_signature(body, header, state.pagerduty_secrets):
        reason = "missing signature" if not header else "signature does not match"
        log.info("webhook payload rejected", route=ROUTE, reason=reason)
        return error_response(401, f"{reason} ({pagerduty.SIGNATURE_HEADER})")
    if (refused := not_json(request)) is not None:  # after the signature: strangers learn nothing
        return refused
    try:
        webhook = pagerduty.validate(body)
    except PayloadError as e:
        log.info("webhook payload rejected", route=ROUTE, reason=e.reason)
        return error_response(e.status, e.reason)
    event_type = webhook.event_type
    # Without the header (not PagerDuty's own sender), the event id still identifies a retry. Capped so
    # 10,000 remembered ids stay small whatever a (signed) sender puts in the header.
    webhook_id = (request.headers.get(pagerduty.WEBHOOK_ID_HEADER) or f"event:{webhook.event.id}")[:256]
    try:
        payload_id = await state.journal.accept_once(
            "pagerduty", body, delivery_id=webhook_id, ttl_s=request.app[DELIVERY_TTL]
        )
    except JournalOverloaded as e:
        log.warning("webhook shed: overloaded", route=ROUTE, reason=str(e))
        return error_response(503, f"overloaded: {e}", headers={"Retry-After": "5"})
    except JournalUnavailable as e:
        state.metrics.journal_errors.inc()
        log.error("webhook not accepted: journal unavailable", route=ROUTE, error=str(e))
        return error_response(503, "journal unavailable; retry later", headers={"Retry-After": "5"})
    if payload_id is None:
        log.info("webhook duplicate ignored", route=ROUTE, event_type=event_type, event_id=webhook.event.id)
        return web.json_response({"status": "duplicate", "event_type": event_type}, status=202)
    status = pagerduty.EVENT_STATUS.get(event_type)
    if status is not None:
        state.metrics.alerts_received.labels(source="pagerduty", status=status).inc()
        state.metrics.last_alert.set(state.clock.now().timestamp())
    if state.queue_depth is not None:
        state.queue_depth.set(state.journal.backlog())
    return web.json_response(
        {
            # acknowledged: no alert, but the incident desk reads it (it stops remediator's own page)
            "status": "accepted"
            if status is not None or event_type in pagerduty.TAKEN_BY_A_HUMAN
            else "ignored",
            "event_type": event_type,
            "payload_id": payload_id,
        },
        status=202,
    )
