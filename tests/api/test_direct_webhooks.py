"""The daemon's runner answers POST /webhook/alertmanager itself (webhook_app.WebhookRunner), before
the application's router and middlewares: its answers, metrics and journal rows are the application's.

The same requests go to the same application twice, once served by aiohttp's own runner (every request
through the router and the error middleware) and once as the daemon serves it; everything a client or
a scrape sees must be the same.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.streams import EmptyStreamReader
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from remediator.api.state import WebhookState
from remediator.api.webhook_app import add_webhook_routes, direct_webhooks, new_app
from remediator.clock import FakeClock
from remediator.config import HttpSettings, Settings
from remediator.intake.child import build_intake_app
from remediator.metrics import IntakeMetrics
from remediator.secrets import Secret
from remediator.store import Intake
from remediator.store.sqlite import SqliteJournal
from tests.conftest import ServedAsTheDaemonServes
from tests.scenarios.conftest import TOKEN, am_alert, am_payload

PATH = "/webhook/alertmanager"
HOOK = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
MAX_BODY = 4096
Served = tuple[TestClient, IntakeMetrics, Path]


def _state(journal: Intake, **http: Any) -> WebhookState:
    """The webhooks' state on `journal`, with the body limit these tests send against (and `http`)."""
    return WebhookState(
        settings=Settings(http=HttpSettings(max_body_bytes=MAX_BODY, **http)),
        journal=journal,
        metrics=IntakeMetrics(),
        clock=FakeClock(),
        webhook_token=Secret(TOKEN),
    )


@pytest.fixture
async def both(tmp_path: Path) -> AsyncIterator[tuple[Served, Served]]:
    """(aiohttp's runner, the daemon's runner), each on a journal of its own."""
    served: list[Served] = []
    async with (
        SqliteJournal.open(tmp_path / "a.sqlite", synchronous="normal") as a,
        SqliteJournal.open(tmp_path / "b.sqlite", synchronous="normal") as b,
    ):
        for journal, path, server_cls in (
            (a, "a.sqlite", TestServer),
            (b, "b.sqlite", ServedAsTheDaemonServes),
        ):
            state = _state(journal)
            client = TestClient(server_cls(build_intake_app(state)))
            await client.start_server()
            served.append((client, state.metrics, tmp_path / path))
        try:
            yield served[0], served[1]
        finally:
            for client, _, _ in served:
                await client.close()


def _requests() -> list[tuple[str, str, str, bytes, dict[str, str]]]:
    """(label, method, path, body, headers): the webhook's answers, good and bad."""
    good = am_payload(am_alert()).encode()
    resolved = am_payload(am_alert(status="resolved"), am_alert("Other", status="resolved")).encode()
    extra = json.loads(good)
    extra["somethingNew"] = {"deep": [1, 2.5, None]}  # decided by the model, not the fast decoder
    too_big = am_payload(am_alert(summary="x" * MAX_BODY)).encode()
    zipped = {**HOOK, "Content-Encoding": "gzip"}
    path = "/webhook/alertmanager"
    return [
        ("accepted", "POST", path, good, HOOK),
        ("resolved", "POST", path, resolved, HOOK),
        ("unknown field", "POST", path, json.dumps(extra).encode(), HOOK),
        ("query string", "POST", path + "?x=1", good, HOOK),
        ("no token", "POST", path, good, {"Content-Type": "application/json"}),
        ("wrong token", "POST", path, good, {**HOOK, "Authorization": "Bearer nope"}),
        ("text/plain", "POST", path, good, {**HOOK, "Content-Type": "text/plain"}),
        ("malformed", "POST", path, b'{"version": "4", ', HOOK),
        ("version 3", "POST", path, good.replace(b'"version": "4"', b'"version": "3"'), HOOK),
        ("no alerts field", "POST", path, b'{"version": "4", "groupKey": "g", "status": "firing"}', HOOK),
        ("a list", "POST", path, b"[]", HOOK),
        ("bad time", "POST", path, good.replace(b"0001-01-01T00:00:00Z", b"0001-01-01T00:00:00"), HOOK),
        ("too large", "POST", path, too_big, HOOK),
        ("gzip", "POST", path, gzip.compress(good), zipped),
        ("corrupt gzip", "POST", path, b"not gzip at all", zipped),
        ("expect 100-continue", "POST", path, good, {**HOOK, "Expect": "100-continue"}),
        ("GET", "GET", path, b"", HOOK),
        ("PUT", "PUT", path, good, HOOK),
        ("trailing slash", "POST", path + "/", good, HOOK),
        ("encoded slash", "POST", "/webhook%2Falertmanager", good, HOOK),
        ("other path", "POST", "/webhook/alertmanagers", good, HOOK),
        ("empty body", "POST", path, b"", HOOK),
    ]


async def _send(client: TestClient, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    async with client.session.request(
        method, client.make_url(path), data=body or None, headers=headers, skip_auto_headers={"Content-Type"}
    ) as resp:
        text = await resp.text()
        kept = {k: v for k, v in resp.headers.items() if k not in ("Date",)}
        return resp.status, text, kept


async def test_the_direct_path_answers_as_the_application_does(both: tuple[Served, Served]) -> None:
    (app_client, app_metrics, app_journal), (direct_client, direct_metrics, direct_journal) = both
    statuses = set()
    for label, method, path, body, headers in _requests():
        via_app = await _send(app_client, method, path, body, headers)
        direct = await _send(direct_client, method, path, body, headers)
        assert direct == via_app, label
        statuses.add(via_app[0])
    assert statuses >= {202, 400, 401, 404, 405, 413, 415}  # the requests did reach every answer

    def samples(metrics: IntakeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in metrics.registry.collect()
            for s in family.samples
            if family.name != "remediator_webhook_request_duration_seconds" or s.name.endswith("_count")
        }

    assert samples(direct_metrics) == samples(app_metrics)
    assert (
        samples(direct_metrics)[
            ("remediator_webhook_requests_total", (("code", "202"), ("route", "alertmanager")))
        ]
        == len([r for r in _requests() if r[0] in ("accepted", "resolved", "unknown field", "query string")])
        + 2
    )

    def rows(path: Path) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT id, source, body FROM payloads ORDER BY id").fetchall()

    assert rows(direct_journal) == rows(app_journal) != []


async def _answered_directly(app: web.Application, request: web.Request) -> bool:
    """Whether the daemon's runner answers `request` without the application."""
    asked: list[str] = []

    async def application(r: web.BaseRequest) -> web.StreamResponse:
        asked.append(r.path)
        return web.Response(status=299)

    await direct_webhooks(app, application)(request)
    return not asked


@pytest.mark.parametrize(
    ("method", "path", "headers", "direct"),
    [
        ("POST", "/webhook/alertmanager", {}, True),
        ("POST", "/webhook/alertmanager?a=b", {}, True),
        ("GET", "/webhook/alertmanager", {}, False),
        ("POST", "/webhook/alertmanager", {"Expect": "100-continue"}, False),
        ("POST", "/webhook/alertmanager/", {}, False),
        ("POST", "/webhook%2Falertmanager", {}, False),
        ("POST", "/webhook/pagerduty", {}, False),
        ("POST", "/healthz", {}, False),
    ],
)
async def test_only_the_alertmanager_webhook_is_answered_directly(
    tmp_path: Path, method: str, path: str, headers: dict[str, str], direct: bool
) -> None:
    async with SqliteJournal.open(tmp_path / "j.sqlite", synchronous="normal") as journal:
        app = build_intake_app(_state(journal))
        request = make_mocked_request(
            method, path, headers={**HOOK, **headers}, app=app, payload=EmptyStreamReader()
        )
        assert await _answered_directly(app, request) is direct


async def test_an_application_behind_the_front_is_always_answered_by_the_application(tmp_path: Path) -> None:
    """Its middlewares (the client named by X-Forwarded-For) are more than the direct path runs."""
    async with SqliteJournal.open(tmp_path / "j.sqlite", synchronous="normal") as journal:
        state = _state(journal)
        app = new_app(state.settings.http, behind_front=True)
        add_webhook_routes(app, state)
        request = make_mocked_request(
            "POST", "/webhook/alertmanager", headers=HOOK, app=app, payload=EmptyStreamReader()
        )
        assert await _answered_directly(app, request) is False


class _StuckJournal:
    """A journal whose write never commits: the handler timeout must answer."""

    async def accept(self, source: str, body: bytes) -> int:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    def backlog(self) -> int:
        return 0


@pytest.mark.parametrize("server_cls", [TestServer, ServedAsTheDaemonServes])
async def test_a_stuck_journal_write_is_a_503_at_the_handler_timeout(server_cls: type[TestServer]) -> None:
    state = _state(cast(Any, _StuckJournal()), handler_timeout=0.3)
    async with TestClient(server_cls(build_intake_app(state))) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(10):  # a failure, not a hang, if nothing times the handler out
            status, text, headers = await _send(client, "POST", PATH, am_payload(am_alert()).encode(), HOOK)
        took = loop.time() - started
        assert (status, json.loads(text)["error"], headers["Retry-After"]) == (
            503,
            "timed out; retry later",
            "5",
        )
        assert 0.3 <= took < 0.3 + 2.0
        # The next request is answered the same way: the first one's deadline left nothing behind.
        assert (await _send(client, "POST", PATH, am_payload(am_alert()).encode(), HOOK))[0] == 503
