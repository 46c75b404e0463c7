"""The intake process's endpoints get the hostile run of the daemon's own (tests/api/test_hostile.py):
the same requests, a 4xx for each (never a 5xx), nobody let in without the token or signature, and no
configured secret in its log. Built as the intake process builds its application, on its journal.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from remediator.api.state import WebhookState
from remediator.clock import FakeClock
from remediator.config import Settings
from remediator.intake.child import build_intake_app
from remediator.metrics import IntakeMetrics
from remediator.secrets import Secret
from remediator.store.sqlite import SqliteJournal
from remediator.store.sqlite_intake import SqliteIntake
from tests.api.conftest import TOKEN, am_alert, am_payload
from tests.api.test_hostile import (
    HOOK,
    PD_SECRET,
    SECRETS,
    Harness,
    Sent,
    _encodings_and_content_types,
    _every_endpoint_with_bad_auth_and_bodies,
    _raw_http,
    _times,
    captured_log,  # noqa: F401 (the fixture)
)
from tests.api.test_hostile import (
    test_bad_input_is_a_4xx_with_a_one_line_reason as inline_case,
)


class IntakeHarness(Harness):
    """The intake process serves the webhooks only: another route is a 404, except that aiohttp drops
    the connection instead when the body of a request to an unknown route cannot be decoded (a corrupt
    `Content-Encoding`, as the daemon's own process does). Recorded as status 0, only on those routes."""

    async def send(self, label: str, method: str, path: str, **kw: Any) -> Sent:
        try:
            return await super().send(label, method, path, **kw)
        except aiohttp.ServerDisconnectedError:
            assert not path.startswith("/webhook/"), f"{method} {path} [{label}]: disconnected"
            sent = Sent(label=f"{method} {path[:80]} [{label}]", status=0, body="")
            self.answers.append(sent)
            return sent


WEBHOOK_CASES = [
    case for case in cast(Any, inline_case).pytestmark[0].args[1] if str(case[0]).startswith("/webhook/")
]


@pytest.fixture
async def intake(tmp_path: Path, captured_log: io.StringIO) -> AsyncIterator[SqliteIntake]:  # noqa: F811
    path = tmp_path / "journal.sqlite"
    async with (
        SqliteJournal.open(path, synchronous="normal"),
        SqliteIntake.open(path, synchronous="normal") as journal,
    ):
        yield journal


@pytest.fixture
async def hostile(intake: SqliteIntake, aiohttp_client: Callable[..., Awaitable[TestClient]]) -> Harness:
    state = WebhookState(
        settings=Settings(),
        journal=intake,
        metrics=IntakeMetrics(),
        clock=FakeClock(),
        webhook_token=Secret(TOKEN),
        pagerduty_secrets=(Secret(PD_SECRET),),
    )
    client = await aiohttp_client(build_intake_app(state))
    return IntakeHarness(client=client, app=cast(Any, None))  # the intake process has no Application


async def test_hostile_requests_get_4xx_never_5xx_and_no_secret_is_logged(
    hostile: Harness,
    intake: SqliteIntake,
    captured_log: io.StringIO,  # noqa: F811
) -> None:
    h = hostile
    await _every_endpoint_with_bad_auth_and_bodies(h)
    await _encodings_and_content_types(h)
    await _times(h)
    await _raw_http(h)

    assert len(h.answers) >= 300
    assert [a for a in h.answers if a.status >= 500] == []
    assert [a for a in h.answers if a.status == 0 and "/webhook/" in a.label] == []
    let_in = [
        a.label
        for a in h.answers
        if 0 < a.status < 300
        and "/metrics" not in a.label
        and any(f"[{x}]" in a.label for x in ("no auth", "wrong token", "basic", "token twice"))
    ]
    assert let_in == []
    log = captured_log.getvalue()
    assert "webhook payload rejected" in log  # the log did capture the run...
    assert [s for s in SECRETS if s in log] == []  # ...and no configured secret is in it
    accepted = len([a for a in h.answers if a.status == 202])
    resp = await h.client.post("/webhook/alertmanager", data=am_payload(am_alert()), headers=HOOK)
    assert resp.status == 202  # still up, still correct
    assert intake.backlog() == accepted + 1


@pytest.mark.parametrize(("path", "body", "headers", "status", "reason"), WEBHOOK_CASES)
async def test_bad_input_is_a_4xx_with_a_one_line_reason(
    hostile: Harness,
    intake: SqliteIntake,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    sent = await hostile.send("case", "POST", path, data=body, headers=headers)
    assert sent.status == status, sent.body
    error = json.loads(sent.body)["error"]
    assert reason in error and "\n" not in error and len(error) <= 400
    assert intake.backlog() == 0
