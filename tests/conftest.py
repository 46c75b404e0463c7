"""Fixtures shared by every test package: paths to the repo and its example payloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient, TestServer

from remediator.api.webhook_app import WebhookRunner
from tests.pgserver import PASSWORD_ENV, PgCluster, running_cluster

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def examples_dir() -> Path:
    """examples/: captured Alertmanager payloads (alerts/) and signed PagerDuty webhooks (pagerduty/)."""
    return EXAMPLES


class ServedAsTheDaemonServes(TestServer):
    """An application served by the daemon's runner (`WebhookRunner`: the webhooks' direct path)."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return WebhookRunner(self.app, **kwargs)


@pytest.fixture
def aiohttp_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
) -> Callable[..., Awaitable[TestClient]]:
    """pytest-aiohttp's, with an application served as the daemon serves it, so every test of an
    application's webhooks goes through the path `remediator serve` and an intake process answer on."""

    async def client(
        app: web.Application | BaseTestServer, *, server_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> TestClient:
        if isinstance(app, web.Application):
            app = ServedAsTheDaemonServes(app, **(server_kwargs or {}))
        return await aiohttp_client(app, **kwargs)

    return client


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    """Fail any test that leaves asyncio tasks running: the daemon must stop cleanly."""
    yield
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() if not t.done() and t is not asyncio.current_task()]
    assert not leaked, f"tasks left running: {[t.get_name() for t in leaked]}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL per pytest process (each xdist worker has its own)."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database on the session's cluster; its password is in $REMEDIATOR_TEST_PG_PASSWORD."""
    monkeypatch.setenv(PASSWORD_ENV, pg_cluster.password)
    return pg_cluster.create_database()
