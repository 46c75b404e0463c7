"""The API server through the environment's proxy (HTTP(S)_PROXY, NO_PROXY), read once at start-up.

kubernetes-asyncio's session would look the environment up on every call, in a worker thread;
the client takes it once, so a proxy is still honored and no call waits for a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from remediator.actions.kube import open_kube
from remediator.clock import FakeClock
from remediator.config import KubeSettings
from remediator.model import ActionSpec, Target
from remediator.testing.fake_kube import FakeKubeServer


class ForwardProxy:
    """A plain-HTTP forward proxy that records what it forwards (request line URL, proxy credentials)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.url = ""

    async def _forward(self, request: web.Request) -> web.Response:
        self.seen.append((str(request.url), request.headers.get("Proxy-Authorization")))
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("proxy-authorization", "host")
        }
        async with (
            aiohttp.ClientSession() as session,
            session.request(request.method, request.url, headers=headers, data=await request.read()) as r,
        ):
            return web.Response(status=r.status, body=await r.read(), content_type=r.content_type)

    async def __aenter__(self) -> ForwardProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


@pytest.fixture
async def proxy() -> AsyncIterator[ForwardProxy]:
    async with ForwardProxy() as p:
        yield p


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _settings(kubeconfig: Path) -> KubeSettings:
    return KubeSettings(mode="kubeconfig", kubeconfig=kubeconfig, call_timeout=2.0)


CART = Target(kind="Deployment", namespace="shop", name="cart")


@pytest.mark.parametrize("credentials", ["", "ops:s3cret@"], ids=["plain", "with-credentials"])
async def test_calls_go_through_the_environments_proxy(
    fake_kube: FakeKubeServer,
    kubeconfig: Path,
    clock: FakeClock,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    credentials: str,
) -> None:
    fake_kube.add_deployment("shop", "cart")
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", f"http://{credentials}"))
    async with open_kube(_settings(kubeconfig), clock=clock) as kube:
        assert kube is not None, "reachable through the proxy"
        result = await kube.plan(ActionSpec(kind="rollout_restart"), CART)
    assert result.summary
    urls = [u for u, _ in proxy.seen]
    assert any(u.startswith(fake_kube.url) and "/deployments/cart" in u for u in urls), urls
    # The proxy's credentials, when the environment gives some, on every request it carries.
    assert all((auth or "").startswith("Basic ") == bool(credentials) for _, auth in proxy.seen)


async def test_no_proxy_bypasses_it(
    fake_kube: FakeKubeServer,
    kubeconfig: Path,
    clock: FakeClock,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_kube.add_deployment("shop", "cart")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with open_kube(_settings(kubeconfig), clock=clock) as kube:
        assert kube is not None
        await kube.plan(ActionSpec(kind="rollout_restart"), CART)
    assert proxy.seen == []


async def test_a_call_waits_for_no_worker_thread(
    fake_kube: FakeKubeServer, kubeconfig: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each hop to a thread and back costs the loop CPU and, on a busy node, a wait for a free core:
    the environment is not looked up again per call (it was twice: the proxy and ~/.netrc)."""
    fake_kube.add_deployment("shop", "cart")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")  # another scheme's: not this server's
    async with open_kube(_settings(kubeconfig), clock=clock) as kube:
        assert kube is not None
        loop = asyncio.get_running_loop()
        hops: list[Any] = []
        original = loop.run_in_executor

        def counting(executor: Any, func: Any, *args: Any) -> Any:
            hops.append(func)
            return original(executor, func, *args)

        monkeypatch.setattr(loop, "run_in_executor", counting)
        for _ in range(5):
            await kube.plan(ActionSpec(kind="rollout_restart"), CART)
    assert hops == []
