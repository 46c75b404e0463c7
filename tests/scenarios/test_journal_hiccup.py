"""A journal hiccup leaves no phantom guard state.

Guards take in-memory state (the target in flight, the episode seen, the namespace's actions in
flight, the rate window, the cooldown start) when a batch is decided, before its transaction
commits. When the commit fails (`database is locked`, disk full), the processor decides the batch
again: the same alerts must then act as if the failure never happened, not be skipped as their own
`duplicate`, `in_flight` or `concurrency_limited`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from remediator.app import Application
from remediator.testing.fake_kube import FakeKubeServer
from tests.scenarios.conftest import am_alert, am_payload, auth


@pytest.mark.parametrize("error", ["database is locked", "database or disk is full"])
async def test_after_failed_commits_the_same_alerts_act_normally(
    daemon: Application,
    client: TestClient,
    fake_kube: FakeKubeServer,
    monkeypatch: pytest.MonkeyPatch,
    error: str,
) -> None:
    failures = 2
    real = daemon.journal._w

    class Flaky:
        """The writer's connection, refusing the first batches' decisions (sqlite3's is not patchable)."""

        def executemany(self, sql: str, rows: Any) -> Any:
            nonlocal failures
            if sql.startswith("INSERT INTO decisions") and failures > 0:
                failures -= 1
                raise sqlite3.OperationalError(error)  # inside the batch's transaction: it rolls back
            return real.executemany(sql, rows)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(daemon.journal, "_w", Flaky())
    body = am_payload(
        am_alert("AuthFailures", deployment="search", status_code="401", value="3"),
        am_alert("HighLatency", deployment="image-gen", value="7.3"),
    )
    resp = await client.post("/webhook/alertmanager", data=body, headers=auth())
    assert resp.status == 202
    await daemon.drained(timeout_s=30)

    assert failures == 0  # both injected failures happened
    decided = {(d["rule"], d["target"]): d["outcome"] for d in await daemon.journal.decisions()}
    assert decided == {
        ("restart-on-auth-failures", "shop/Deployment/search"): "act",
        ("scale-on-latency", "shop/Deployment/image-gen"): "act",
    }
    writes = {(w.method, w.path) for w in fake_kube.writes}
    assert ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/search") in writes
    assert any(path.startswith("/apis/apps/v1/namespaces/shop/deployments/image-gen") for _, path in writes)
    assert len(daemon.decider.reservations) == 0
    assert daemon.inflight.busy() == 0  # both executions finished; nothing left held


async def test_a_failed_write_gives_back_exactly_what_it_took(
    daemon: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unit level: every guard's record is undone by a failed hand-over, and only that."""
    from remediator.store import JournalUnavailable

    alert_body = am_alert("AuthFailures", deployment="search", status_code="401", value="3")
    from remediator.receivers import alertmanager

    [alert] = alertmanager.normalize(alertmanager.validate(am_payload(alert_body).encode()))
    [first] = await daemon.decider.decide(alert)
    assert first.outcome.value == "act"
    [again] = await daemon.decider.decide(alert)
    assert again.outcome.value == "duplicate"  # the reservation is real while undecided

    async def fail(**_: Any) -> Any:
        raise JournalUnavailable("journal write failed: database is locked")

    monkeypatch.setattr(daemon.journal, "record_batch", fail)
    with pytest.raises(JournalUnavailable):
        await daemon.processor._hand_over.record_batch(
            payload_ids=(), alerts=[alert], decisions=[(0, first)], from_alerts=True
        )
    assert len(daemon.decider.reservations) == 0  # given back; `again` took nothing (it was denied)
    [retried] = await daemon.decider.decide(alert)
    assert retried.outcome.value == "act", retried.reason
