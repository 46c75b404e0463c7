"""Liveness, readiness and the metrics endpoint (unauthenticated: probes and Prometheus scrape them).

The exposition is generated in a worker thread: its cost grows with the series (rules x actions x
outcomes), and on the event loop a large one would hold up every webhook for as long as it takes.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from remediator.api.state import STATE


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    checks = {
        "journal": "ok",
        "rules": f"{len(state.rules())} loaded",
        "kubernetes": "ok" if state.kube_ready() else f"dry-run ({state.mode.no_cluster})",
        "backlog": state.journal.backlog(),
    }
    return web.json_response({"status": "ready", "checks": checks})


async def metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.metrics.queue_depth.set(state.journal.backlog())
    state.before_scrape()
    # CONTENT_TYPE_LATEST carries a charset, which aiohttp refuses in content_type=: set the header.
    body = await asyncio.to_thread(generate_latest, state.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
