"""Liveness, readiness and the metrics endpoint (unauthenticated: probes and Prometheus scrape them).

The exposition is generated in a worker thread: its cost grows with the series (rules x actions x
outcomes), and on the event loop a large one would hold up every webhook for as long as it takes.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from remediator.api.state import STATE, ApiState
from remediator.store import JournalOverloaded, JournalUnavailable

PROBE_TIMEOUT_S = 2.0
"""Each readiness check answers within this, or counts as failed (a probe must not hang)."""


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the event loop answers. Nothing else, so a slow journal never gets the pod killed."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: would a webhook sent now be accepted and acted on? The journal takes a real write
    (the webhooks' own path), the processor is running, and a configured cluster answers. 503 with
    every failing check named otherwise, so the Service stops sending while webhooks would get 503."""
    state = request.app[STATE]
    failing: list[str] = []
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await state.journal.probe_write()
        journal = "ok"
    except (JournalUnavailable, JournalOverloaded) as e:
        journal = str(e)
    except TimeoutError:
        journal = f"a write did not complete within {PROBE_TIMEOUT_S:g}s"
    if journal != "ok":
        failing.append("journal")
    if not state.processing:
        processor = "not started (intake only)"
    elif state.processor.running:
        processor = "ok"
    else:
        processor = "stopped: accepted alerts are not being decided"
        failing.append("processor")
    kubernetes = await _cluster(state)
    if state.cluster_required and kubernetes != "ok":
        failing.append("kubernetes")
    checks: dict[str, str | int] = {
        "journal": journal,
        "processor": processor,
        "rules": f"{len(state.rules())} loaded",
        "kubernetes": kubernetes,
        "backlog": state.journal.backlog(),
    }
    if state.intake is not None:
        # The webhooks' own process: while it is down (restarting), nothing is acknowledged.
        checks["intake"] = state.intake()
        if checks["intake"] != "ok":
            failing.append("intake")
    if failing:
        return web.json_response({"status": "not ready", "failing": failing, "checks": checks}, status=503)
    return web.json_response({"status": "ready", "checks": checks})


async def _cluster(state: ApiState) -> str:
    if state.kube_ping is None:
        return f"dry-run ({state.mode.no_cluster})"
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return (
                "ok" if await state.kube_ping() else "unreachable: the API server did not answer GET /version"
            )
    except TimeoutError:
        return f"unreachable: no answer within {PROBE_TIMEOUT_S:g}s"


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.metrics.queue_depth.set(state.journal.backlog())
    state.before_scrape()
    # CONTENT_TYPE_LATEST carries a charset, which aiohttp refuses in content_type=: set the header.
    # In a thread: with a thousand rules the exposition takes a noticeable fraction of a second,
    # which webhooks should not wait for.
    body = await asyncio.to_thread(generate_latest, state.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
