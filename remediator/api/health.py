"""Liveness, readiness and the metrics endpoint (unauthenticated: probes and Prometheus scrape them)."""

from __future__ import annotations

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
    return web.Response(
        body=generate_latest(state.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
