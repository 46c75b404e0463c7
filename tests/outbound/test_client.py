"""The allowlisted client against a real local HTTP service on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from remediator.errors import PermanentActionError, TransientActionError
from remediator.outbound import OutboundHttp, host_allowed
from remediator.rules.checks import SecretValue

Seen = list[dict[str, Any]]


@pytest.fixture
def seen() -> Seen:
    return []


@pytest.fixture
async def service(seen: Seen, aiohttp_server: Callable[..., Awaitable[TestServer]]) -> TestServer:
    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": dict(request.headers),
                "body": json.loads(body) if body else None,
            }
        )
        status = int(request.query.get("status", "200"))
        return web.json_response({"ok": True}, status=status)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def slow(request: web.Request) -> web.StreamResponse:
        """A small JSON answer that arrives in two pieces, as over a real network."""
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"ok": true, "pad": "')
        await asyncio.sleep(0.05)
        await resp.write(b'xyz"}')
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    app.router.add_route("*", "/{tail:.*}", record)
    return await aiohttp_server(app, host="127.0.0.1")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(session: aiohttp.ClientSession, allowed: tuple[str, ...] = ("127.0.0.1",)) -> OutboundHttp:
    return OutboundHttp(session=session, allowed_hosts=allowed, max_body_bytes=1024)


def url(service: TestServer, path: str) -> str:
    return f"http://127.0.0.1:{service.port}{path}"


async def test_sends_method_headers_json_body_and_encoded_path(
    service: TestServer, session: aiohttp.ClientSession, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_ADMIN_TOKEN", "s3cret-value")
    answer = await client(session).send(
        method="POST",
        url=url(service, "/admin/a%2F..%2Fb/maintenance?reason=x%26y"),
        headers={"Authorization": SecretValue(env="SHOP_ADMIN_TOKEN", prefix="Bearer "), "X-Why": "alert"},
        body={"enabled": True},
        timeout_s=5,
    )
    assert (answer.status, answer.json()) == (200, {"ok": True})
    assert seen[0]["method"] == "POST"
    assert seen[0]["path"] == "/admin/a%2F..%2Fb/maintenance?reason=x%26y"  # not re-quoted, not normalized
    assert seen[0]["headers"]["Authorization"] == "Bearer s3cret-value"
    assert seen[0]["headers"]["X-Why"] == "alert"
    assert seen[0]["headers"]["User-Agent"] == "remediator"
    assert seen[0]["body"] == {"enabled": True}


@pytest.mark.parametrize(
    ("allowed", "problem"),
    [
        ((), "http_actions.allowed_hosts is empty"),
        (("*.svc.cluster.local", "localhost"), "not in http_actions.allowed_hosts"),
        (("127.0.0.1:1",), "not in http_actions.allowed_hosts"),
    ],
)
async def test_hosts_outside_the_allowlist_are_never_contacted(
    service: TestServer, session: aiohttp.ClientSession, seen: Seen, allowed: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(PermanentActionError, match=problem):
        await client(session, allowed).send(method="GET", url=url(service, "/x"), headers={}, timeout_s=5)
    assert seen == []


def test_allowlist_globs() -> None:
    assert host_allowed("https://api.shop.svc.cluster.local/x", ["*.shop.svc.cluster.local"])
    assert host_allowed("http://API.shop.svc:8080/x", ["api.shop.svc:8080"])
    assert not host_allowed("http://api.shop.svc:8081/x", ["api.shop.svc:8080"])
    assert not host_allowed("http://evil.com/x?api.shop.svc", ["api.shop.svc"])
    assert not host_allowed("http://api.shop.svc.evil.com/", ["api.shop.svc"])


async def test_same_origin_redirect_is_followed(
    service: TestServer, session: aiohttp.ClientSession, seen: Seen
) -> None:
    answer = await client(session).send(
        method="GET", url=url(service, "/redirect?to=/landed"), headers={}, timeout_s=5
    )
    assert answer.status == 200
    assert [s["path"] for s in seen] == ["/landed"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2"])
async def test_redirect_to_another_origin_is_refused(
    service: TestServer, session: aiohttp.ClientSession, seen: Seen, host: str
) -> None:
    elsewhere = f"http://{host}:{service.port}/metadata"
    with pytest.raises(PermanentActionError, match=r"refused a redirect .* to another origin"):
        await client(session, ("127.0.0.1", "localhost", "127.0.0.2")).send(
            method="GET", url=url(service, f"/redirect?to={elsewhere}"), headers={}, timeout_s=5
        )
    assert seen == []


async def test_answers_are_read_up_to_the_bound(service: TestServer, session: aiohttp.ClientSession) -> None:
    answer = await client(session).send(method="GET", url=url(service, "/big"), headers={}, timeout_s=5)
    assert (len(answer.body), answer.truncated) == (1024, True)
    with pytest.raises(ValueError, match="larger than the bound"):
        answer.json()


async def test_an_answer_in_pieces_is_read_whole(service: TestServer, session: aiohttp.ClientSession) -> None:
    answer = await client(session).send(method="GET", url=url(service, "/slow"), headers={}, timeout_s=5)
    assert not answer.truncated
    assert answer.json() == {"ok": True, "pad": "xyz"}


async def test_unreachable_is_transient(session: aiohttp.ClientSession, unused_tcp_port: int) -> None:
    with pytest.raises(TransientActionError, match="ClientConnectorError"):
        await client(session).send(
            method="GET", url=f"http://127.0.0.1:{unused_tcp_port}/x", headers={}, timeout_s=5
        )


async def test_unset_secret_is_permanent_and_named_not_sent(
    service: TestServer, session: aiohttp.ClientSession, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_TOKEN", raising=False)
    with pytest.raises(
        PermanentActionError, match="header Authorization: secret env NOT_SET_TOKEN is not set"
    ):
        await client(session).send(
            method="POST",
            url=url(service, "/x"),
            headers={"Authorization": SecretValue(env="NOT_SET_TOKEN")},
            timeout_s=5,
        )
    assert seen == []
