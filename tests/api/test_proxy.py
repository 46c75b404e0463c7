"""The front's reverse proxy, between two in-process aiohttp apps: a front on 127.0.0.1 and an
upstream (standing in for the main process) on a Unix socket in tmp_path.

What a client of the front sees: the upstream's answer as it gave it (status, repeated Set-Cookie,
streamed bodies both ways), what the upstream sees (method, raw path and query, end-to-end headers,
X-Forwarded-*), and the front's own one-line JSON answers when the body is too large (413) or the
upstream is down (502) or slow (504). Hostile requests get a 4xx, never a 5xx, and no secret in the log.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from remediator.api.errors import make_error_middleware
from remediator.api.proxy import Proxy, trust_forwarded
from remediator.logs import configure_logging

LIMIT = 256 * 1024
SECRET = "s3cr3t-bearer-token-9f8e7d"
BIG = 5 * 1024 * 1024


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    response = web.json_response(
        {
            "method": request.method,
            "raw_path": request.raw_path,
            "path": request.path,
            "query": sorted(request.query.items()),
            "headers": [[k, v] for k, v in request.headers.items()],
            "cookies": dict(request.cookies),
            "body_len": len(body),
            "body_sha": hashlib.sha256(body).hexdigest(),
            "remote": request.remote,
            "scheme": request.scheme,
            "host": request.host,
        },
        status=201 if request.method == "POST" else 200,
    )
    response.set_cookie("session", "abc", httponly=True, samesite="Strict")
    response.set_cookie("csrf", "xyz")
    return response


async def big(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for i in range(BIG // 65536):
        await response.write(bytes([i % 256]) * 65536)
    await response.write_eof()
    return response


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "5")))
    return web.json_response({"late": True})


async def hop(request: web.Request) -> web.Response:
    return web.Response(
        text="ok",
        headers={
            "Connection": "X-Hop-Named",
            "X-Hop-Named": "must go",
            "Keep-Alive": "timeout=5",
            "Proxy-Authenticate": "Basic",
            "Trailer": "X-Checksum",
            "X-End-To-End": "kept",
        },
    )


async def broken(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "1000000"})
    await response.prepare(request)
    await response.write(b"x" * 1000)
    assert request.transport is not None
    request.transport.abort()
    return response


async def gzipped(request: web.Request) -> web.Response:
    return web.Response(body=gzip.compress(b"hello " * 1000), headers={"Content-Encoding": "gzip"})


def upstream_app() -> web.Application:
    app = web.Application(client_max_size=LIMIT, middlewares=[trust_forwarded()])
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hop", hop)
    app.router.add_get("/broken", broken)
    app.router.add_get("/gzipped", gzipped)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@dataclass
class Stack:
    client: TestClient[web.Request, web.Application]
    socket: Path
    log: io.StringIO

    def logged(self) -> str:
        return self.log.getvalue()


async def start_upstream(socket: Path) -> web.AppRunner:
    runner = web.AppRunner(upstream_app(), handle_signals=False, access_log=None)
    await runner.setup()
    await web.UnixSite(runner, str(socket)).start()
    return runner


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    socket = tmp_path / "main.sock"
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=out)
    runner = await start_upstream(socket)
    try:
        async with Proxy(socket_path=socket, max_body_bytes=LIMIT, timeout_s=1.0) as proxy:
            front = web.Application(middlewares=[make_error_middleware(timeout_s=30)])
            front.router.add_route("*", "/{tail:.*}", proxy.handle)
            async with TestClient(TestServer(front)) as client:
                yield Stack(client=client, socket=socket, log=out)
    finally:
        await runner.cleanup()
        root.handlers[:] = handlers
        root.setLevel(level)


def exact(stack: Stack, path: str) -> URL:
    """The front's URL for `path`, sent byte for byte (the test client would re-quote it)."""
    return URL(f"http://{stack.client.host}:{stack.client.port}{path}", encoded=True)


def header_values(seen: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in seen["headers"] if k.lower() == name.lower()]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PUT", "PATCH"])
async def test_method_path_and_raw_query_reach_the_upstream(stack: Stack, method: str) -> None:
    sent = "/api/v1/rules/a%2Fb?x=%2F&x=2&y=caf%C3%A9&z=a%26b"
    r = await stack.client.session.request(
        method, exact(stack, sent), data=b'{"a": 1}' if method != "GET" else None
    )
    seen = await r.json()
    assert r.status == (201 if method == "POST" else 200)
    assert seen["method"] == method
    assert seen["raw_path"] == sent
    assert seen["path"] == "/api/v1/rules/a/b"
    assert seen["query"] == [["x", "/"], ["x", "2"], ["y", "café"], ["z", "a&b"]]
    if method != "GET":
        assert seen["body_len"] == 8


async def test_cookies_cross_both_ways_and_are_not_kept_by_the_front(stack: Stack) -> None:
    r = await stack.client.get("/ui/", headers={"Cookie": "session=abc; theme=dark"})
    seen = await r.json()
    assert seen["cookies"] == {"session": "abc", "theme": "dark"}
    set_cookies = r.headers.getall("Set-Cookie")
    assert len(set_cookies) == 2
    assert any(
        c.startswith("session=abc") and "HttpOnly" in c and "SameSite=Strict" in c for c in set_cookies
    )
    assert any(c.startswith("csrf=xyz") for c in set_cookies)
    # Another client, no cookie: the front's shared session must not replay the first one's.
    stack.client.session.cookie_jar.clear()
    r2 = await stack.client.get("/ui/")
    assert (await r2.json())["cookies"] == {}


async def test_client_addresses_and_forwarded_headers(stack: Stack) -> None:
    r = await stack.client.get(
        "/x", headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "Host": "example.test:9"}
    )
    seen = await r.json()
    # The front's peer, not what the client claimed; the Host the client used.
    assert seen["remote"] == "127.0.0.1"
    assert seen["scheme"] == "http"
    assert seen["host"] == "example.test:9"
    assert header_values(seen, "X-Forwarded-For") == ["127.0.0.1"]


async def test_big_bodies_stream_both_ways(stack: Stack) -> None:
    r = await stack.client.get("/big")
    assert r.status == 200
    got = hashlib.sha256()
    size = 0
    async for chunk in r.content.iter_chunked(65536):
        got.update(chunk)
        size += len(chunk)
    expected = hashlib.sha256(b"".join(bytes([i % 256]) * 65536 for i in range(BIG // 65536)))
    assert size == BIG and got.hexdigest() == expected.hexdigest()

    body = bytes(range(256)) * (LIMIT // 256)  # exactly the limit: accepted

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 10_000):
            yield body[i : i + 10_000]

    r = await stack.client.post("/upload", data=chunks())  # chunked, no Content-Length
    seen = await r.json()
    assert r.status == 201
    assert (seen["body_len"], seen["body_sha"]) == (len(body), hashlib.sha256(body).hexdigest())


async def test_too_large_bodies_are_413_from_the_front(stack: Stack) -> None:
    r = await stack.client.post("/upload", data=b"x" * (LIMIT + 1))  # declared too large
    assert r.status == 413
    assert await r.json() == {"error": f"request body too large (limit {LIMIT} bytes)", "detail": None}

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"y" * 10_000

    r = await stack.client.post("/upload", data=endless())  # chunked, found too large on the way
    assert r.status == 413
    assert "too large" in (await r.json())["error"]


async def test_gzip_request_body_is_forwarded_decoded_and_gzip_answers_pass_through(stack: Stack) -> None:
    payload = json.dumps({"alerts": ["a"] * 1000}).encode()
    r = await stack.client.post(
        "/hook", data=gzip.compress(payload), headers={"Content-Encoding": "gzip", "Content-Type": "x/y"}
    )
    seen = await r.json()
    assert seen["body_sha"] == hashlib.sha256(payload).hexdigest()
    assert header_values(seen, "Content-Encoding") == []
    assert header_values(seen, "Content-Type") == ["x/y"]
    r = await stack.client.get("/gzipped")
    assert r.headers["Content-Encoding"] == "gzip"
    assert await r.read() == b"hello " * 1000


async def test_hop_by_hop_headers_are_dropped_both_ways(stack: Stack) -> None:
    r = await stack.client.get(
        "/x",
        headers={
            "Connection": "keep-alive, X-Client-Hop",
            "X-Client-Hop": "must go",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Upgrade": "websocket",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "X-End-To-End": "kept",
        },
    )
    seen = await r.json()
    sent = {k.lower() for k, _ in seen["headers"]}
    assert "x-end-to-end" in sent
    for gone in ("x-client-hop", "keep-alive", "te", "upgrade", "proxy-authorization"):
        assert gone not in sent, gone
    assert header_values(seen, "Connection") in ([], ["keep-alive"])  # the front's own connection

    r = await stack.client.get("/hop")
    assert r.headers["X-End-To-End"] == "kept"
    for gone in ("X-Hop-Named", "Keep-Alive", "Proxy-Authenticate", "Trailer"):
        assert gone not in r.headers, gone


async def test_upstream_down_is_a_one_line_502(stack: Stack, tmp_path: Path) -> None:
    stack.socket.unlink()  # nothing listens there any more
    r = await stack.client.get("/api/v1/status", headers={"Authorization": f"Bearer {SECRET}"})
    assert r.status == 502
    answer = await r.json()
    assert set(answer) == {"error", "detail"}
    assert "\n" not in answer["error"]
    assert str(stack.socket) in answer["error"] and "is it running" in answer["error"]
    assert "Traceback" not in stack.logged()
    assert SECRET not in stack.logged()


async def test_an_answer_cut_upstream_is_cut_for_the_client(stack: Stack) -> None:
    """The status went out before the upstream broke off: the client must see a truncated answer (an
    error reading it), never a short body that looks complete."""
    r = await stack.client.get("/broken")
    assert r.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await r.read()
    assert "broke off" in stack.logged()
    assert "Traceback" not in stack.logged()
    r = await stack.client.get("/after")  # the front is fine
    assert r.status == 200


async def test_upstream_slow_is_a_504(stack: Stack) -> None:
    r = await stack.client.get("/slow?s=3")
    assert r.status == 504
    answer = await r.json()
    assert "did not answer within 1s" in answer["error"]
    assert r.headers["Retry-After"] == "5"


async def test_path_tricks_reach_the_upstream_as_sent(stack: Stack) -> None:
    for path in ("/ui/../api/v1/status", "/ui/%2e%2e/api", "/a%2F..%2Fb", "//double//slash", "/%00"):
        r = await stack.client.session.get(exact(stack, path))
        assert r.status == 200, path
        assert (await r.json())["raw_path"] == path  # the main process routes it as it would have


async def raw(stack: Stack, data: bytes) -> bytes:
    """Send bytes as they are (no client library tidying them) and read the answer."""
    reader, writer = await asyncio.open_connection(stack.client.host, stack.client.port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read(65536)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


HOSTILE: dict[str, bytes] = {
    "nul in path": b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
    "nul in header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "huge header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100_000 + b"\r\n\r\n",
    "many headers": b"GET / HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-%d: 1\r\n" % i for i in range(500))
    + b"\r\n",
    "bad chunk": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "length and chunked": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "bad gzip": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!",
    "unknown encoding": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: br0tli\r\n"
    b"Content-Length: 2\r\n\r\n{}",
    "absolute form": b"GET http://evil.example/steal HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    "latin-1 header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\n\r\n",
    "bad method": b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "negative length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "huge declared length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
    "traversal": b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    "encoded traversal": b"GET /%2e%2e/%2e%2e/etc/passwd?a=%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "bearer secret, bad request": b"GET /\x01 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
    + SECRET.encode()
    + b"\r\n\r\n",
}


@pytest.mark.parametrize("label", sorted(HOSTILE))
async def test_hostile_requests_are_answered_below_500(stack: Stack, label: str) -> None:
    answer = await raw(stack, HOSTILE[label])
    assert 200 <= status_of(answer) < 500, (label, answer[:300])
    # The front is still up and proxying.
    r = await stack.client.get("/after", headers={"Authorization": f"Bearer {SECRET}"})
    assert r.status == 200
    assert SECRET not in stack.logged()
    assert "Traceback" not in stack.logged()


async def test_a_login_flow_through_the_front_keeps_the_cookie(stack: Stack) -> None:
    """The console's shape: a form POST answered by a redirect that sets a cookie, then a GET with it."""
    r = await stack.client.post(
        "/ui/login",
        data={"token": SECRET, "csrf": "c"},
        headers={"Cookie": "remediator_login=c"},
        allow_redirects=False,
    )
    assert r.status == 201
    assert any(c.startswith("session=abc") for c in r.headers.getall("Set-Cookie"))
    r = await stack.client.get("/ui/incidents")
    assert (await r.json())["cookies"] == {"session": "abc", "csrf": "xyz"}
    assert SECRET not in stack.logged()


async def test_head_answers_carry_the_headers_and_no_body(stack: Stack) -> None:
    got = await stack.client.get("/hop")
    head = await stack.client.head("/hop")
    assert head.status == 200
    assert head.headers["Content-Length"] == got.headers["Content-Length"] == "2"
    assert head.headers["X-End-To-End"] == "kept"
    assert await head.read() == b""
    r = await stack.client.get("/after")  # the connection's framing is intact
    assert r.status == 200
