"""The Prometheus client: one number, or PrometheusUnavailable for anything else (a huge answer, a
proxy's page, an answer not shaped as the HTTP API documents), never another exception."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from remediator.guards.prometheus import MAX_ANSWER_BYTES, PrometheusClient, PrometheusUnavailable


async def answering(
    aiohttp_server: Callable[..., Awaitable[TestServer]], body: bytes, *, status: int = 200
) -> TestServer:
    async def query(request: web.Request) -> web.Response:
        return web.Response(body=body, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    return await aiohttp_server(app, host="127.0.0.1")


def vector(*values: Any) -> bytes:
    result = [{"metric": {"i": str(i)}, "value": [1.0, v]} for i, v in enumerate(values)]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()


async def ask(server: TestServer) -> float | None:
    async with aiohttp.ClientSession() as s:
        client = PrometheusClient(session=s, base_url=str(server.make_url("")), timeout_s=5.0)
        return await client.query("up")


async def test_the_first_sample_is_the_answer(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> None:
    assert await ask(await answering(aiohttp_server, vector("0.25", "7"))) == 0.25
    assert await ask(await answering(aiohttp_server, vector())) is None
    assert await ask(await answering(aiohttp_server, vector("NaN"))) is None


async def test_an_answer_larger_than_the_bound_is_not_read(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> None:
    huge = vector(*(["1"] * (MAX_ANSWER_BYTES // 20)))
    assert len(huge) > MAX_ANSWER_BYTES
    with pytest.raises(PrometheusUnavailable, match="larger than"):
        await ask(await answering(aiohttp_server, huge))


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"<html>502 Bad Gateway</html>", 502, "HTTP 502: the answer is not JSON"),
        (b"[]", 503, "HTTP 503"),
        (b'{"status": "error", "error": "parse error"}', 400, "query failed: parse error"),
        (
            b'{"status": "success", "data": {"resultType": "vector", "result": [{"value": [1]}]}}',
            200,
            "unexpected",
        ),
        (
            b'{"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, 2]}]}}',
            200,
            "unexpected",
        ),
        (b'{"status": "success", "data": {"resultType": "scalar", "result": [1, "x"]}}', 200, "unexpected"),
        (b'{"status": "success", "data": "none"}', 200, "unexpected"),
        (
            b'{"status": "success", "data": {"resultType": "matrix", "result": []}}',
            200,
            "not a vector or scalar",
        ),
    ],
)
async def test_a_malformed_answer_is_unavailable(
    aiohttp_server: Callable[..., Awaitable[TestServer]], body: bytes, status: int, reason: str
) -> None:
    with pytest.raises(PrometheusUnavailable, match=reason):
        await ask(await answering(aiohttp_server, body, status=status))
