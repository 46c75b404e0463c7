"""Silences against a real Alertmanager: create, see it silence a matching alert, expire it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from remediator.actions.retry import RetryPolicy
from remediator.clock import SYSTEM_CLOCK, FakeClock
from remediator.errors import PermanentActionError, TransientActionError
from remediator.escalate.silence import AlertmanagerSilences
from tests.realbin import RunningBinary, find_binary, start_alertmanager

pytestmark = pytest.mark.slow

POLICY = RetryPolicy(attempts=2, backoff_min_s=0.05, backoff_max_s=0.1, deadline_s=5.0)
LABELS = {"alertname": "HighErrorRate", "namespace": "shop", "deployment": "checkout"}


@pytest.fixture
async def alertmanager(tmp_path: Path) -> AsyncIterator[RunningBinary]:
    async with start_alertmanager(tmp_path) as am:
        yield am


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def silences(session: aiohttp.ClientSession, alertmanager: RunningBinary) -> AlertmanagerSilences:
    # Alertmanager stamps silences with its own wall clock, so this test speaks in real time.
    return AlertmanagerSilences(
        session=session, base_url=alertmanager.url + "/", clock=SYSTEM_CLOCK, retry=POLICY
    )


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def silence_by_id(session: aiohttp.ClientSession, am: RunningBinary, silence_id: str) -> dict[str, Any]:
    [found] = [s for s in await get_json(session, f"{am.url}/api/v2/silences") if s["id"] == silence_id]
    return dict(found)


async def test_create_silences_a_matching_alert_until_expired(
    silences: AlertmanagerSilences, session: aiohttp.ClientSession, alertmanager: RunningBinary
) -> None:
    silence_id = await silences.create(
        labels=LABELS, duration_s=600, comment="auto-remediation: rollout_undo shop/checkout (run 42)"
    )
    s = await silence_by_id(session, alertmanager, silence_id)
    assert s["status"]["state"] == "active"
    assert s["createdBy"] == "remediator"
    assert s["comment"] == "auto-remediation: rollout_undo shop/checkout (run 42)"
    assert sorted(
        (m["name"], m["value"], m["isRegex"], m.get("isEqual", True)) for m in s["matchers"]
    ) == sorted((k, v, False, True) for k, v in LABELS.items())
    ends = datetime.fromisoformat(s["endsAt"].replace("Z", "+00:00"))
    assert timedelta(seconds=590) < ends - datetime.now(UTC) <= timedelta(seconds=600)

    # An alert carrying those labels (and more) is silenced by it.
    now = datetime.now(UTC)
    alert = {
        "labels": {**LABELS, "severity": "page", "pod": "checkout-7d9f"},
        "annotations": {"summary": "5xx above 10/min"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }
    async with session.post(f"{alertmanager.url}/api/v2/alerts", json=[alert]) as resp:
        assert resp.status == 200, await resp.text()
    [shown] = await get_json(session, f"{alertmanager.url}/api/v2/alerts")
    assert shown["status"]["state"] == "suppressed"
    assert shown["status"]["silencedBy"] == [silence_id]

    await silences.expire(silence_id)
    assert (await silence_by_id(session, alertmanager, silence_id))["status"]["state"] == "expired"
    [shown] = await get_json(session, f"{alertmanager.url}/api/v2/alerts")
    assert shown["status"]["silencedBy"] == []


async def test_expiring_twice_or_an_unknown_silence_is_fine(
    silences: AlertmanagerSilences, session: aiohttp.ClientSession, alertmanager: RunningBinary
) -> None:
    silence_id = await silences.create(labels={"alertname": "X"}, duration_s=60, comment="c", created_by="me")
    assert (await silence_by_id(session, alertmanager, silence_id))["createdBy"] == "me"
    await silences.expire(silence_id)
    await silences.expire(silence_id)
    await silences.expire("00000000-0000-0000-0000-000000000000")


async def test_refused_requests_are_permanent_errors(silences: AlertmanagerSilences) -> None:
    with pytest.raises(PermanentActionError, match="HTTP 4"):
        await silences.expire("not-a-uuid")
    with pytest.raises(PermanentActionError, match="no labels"):
        await silences.create(labels={}, duration_s=60, comment="c")
    with pytest.raises(PermanentActionError, match="must be positive"):
        await silences.create(labels={"a": "b"}, duration_s=0, comment="c")
    with pytest.raises(PermanentActionError, match="HTTP 4"):
        await silences.create(labels={"not a label name": "b"}, duration_s=60, comment="c")


async def test_an_unreachable_alertmanager_is_transient(session: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    silences = AlertmanagerSilences(session=session, base_url="http://127.0.0.1:1", clock=clock, retry=POLICY)
    with pytest.raises(TransientActionError, match="alertmanager silence create: ClientConnectorError") as e:
        await silences.create(labels={"a": "b"}, duration_s=60, comment="c")
    assert getattr(e.value, "attempts", None) == 2


def test_a_missing_binary_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Debian package nothing-here"):
        find_binary("remediator-no-such-binary", package="nothing-here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install it"):
        find_binary("remediator-no-such-binary", package="nothing-here")
