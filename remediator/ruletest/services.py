"""Stub HTTP services for rule tests: what `http_request` actions and `http` checks talk to.

A test file's `services:` names hosts as the rules' URLs do (`api.shop.svc:8080`) and the answers
of each route (`GET /health`, `POST /admin/maintenance`). The runner serves them from one local
aiohttp server on 127.0.0.1 and hands the daemon a resolver that sends every host name there, so
the request goes through the production client (allowlist, redirects, secrets, bounds) and the
stub tells hosts apart by the `Host` header. A route may answer differently over simulated time
(`- {from: 5m, status: 200}`). Every request is recorded with its simulated time, for the test's
`expect.requests`. Only `http://` URLs with host names can be stubbed: TLS and IP literals are
answered by nothing (the request fails as unreachable).
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from remediator.ruletest.schema import ServiceAnswer


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenRequest:
    at_s: float
    method: str
    url: str
    body: Any


class StubResolver(AbstractResolver):
    """Resolves every host name to the stub server (the port in the URL is kept in `Host`)."""

    def __init__(self, port: int) -> None:
        self._port = port

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=self._port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


class StubServices:
    def __init__(
        self,
        services: Mapping[str, Mapping[str, Sequence[ServiceAnswer]]],
        *,
        now: Callable[[], datetime],
        start: datetime,
    ) -> None:
        self._routes = {
            (_host_key(host), route.split(" ", 1)[0].upper(), route.split(" ", 1)[1]): answers
            for host, routes in services.items()
            for route, answers in routes.items()
        }
        self._now = now
        self._start = start
        self.requests: list[SeenRequest] = []

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        at_s = round((self._now() - self._start).total_seconds(), 3)
        host = _host_key(request.headers.get("Host", ""))
        self.requests.append(
            SeenRequest(at_s=at_s, method=request.method, url=f"http://{host}{request.raw_path}", body=body)
        )
        answers = self._routes.get((host, request.method, request.path))
        if answers is None:
            return web.json_response(
                {"error": f"no stub for {request.method} {request.path} on {host}"}, status=404
            )
        current = [a for a in answers if a.from_ <= at_s] or [answers[0]]
        answer = max(current, key=lambda a: a.from_)
        if answer.body is None:
            return web.Response(status=answer.status)
        return web.json_response(answer.body, status=answer.status)


def _host_key(host: str) -> str:
    """`api.shop.svc` and `api.shop.svc:80` are the same service."""
    host = host.lower()
    return host if ":" in host else f"{host}:80"


@asynccontextmanager
async def serve_stubs(services: StubServices) -> AsyncIterator[StubResolver]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", services.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        await web.SockSite(runner, sock).start()
        yield StubResolver(sock.getsockname()[1])
    finally:
        await runner.cleanup()
        sock.close()


def compare_requests(expected: Sequence[Any], seen: Sequence[SeenRequest]) -> list[str]:
    """Lines for each expected request (`ExpectedRequest`) that does not match the one made at its place."""
    got = [r for r in seen if r.method != "GET"]
    lines: list[str] = []
    for i in range(max(len(expected), len(got))):
        e = expected[i] if i < len(expected) else None
        g = got[i] if i < len(got) else None
        if e is not None and g is not None and _matches(e, g):
            continue
        lines.append(f"expected {_show_expected(e)}")
        lines.append(f"got      {_show_seen(g)}")
    return lines


def _matches(e: Any, g: SeenRequest) -> bool:
    return (
        e.method == g.method
        and e.url == g.url
        and (e.at is None or abs(e.at - g.at_s) < 0.001)
        and (e.body is None or e.body == g.body)
    )


def _show_expected(e: Any) -> str:
    if e is None:
        return "(no more requests)"
    at = f" at {e.at:g}s" if e.at is not None else ""
    body = f" {json.dumps(e.body)}" if e.body is not None else ""
    return f"{e.method} {e.url}{at}{body}"


def _show_seen(g: SeenRequest | None) -> str:
    if g is None:
        return "(no more requests)"
    body = f" {json.dumps(g.body)}" if g.body is not None else ""
    return f"{g.method} {g.url} at {g.at_s:g}s{body}"
