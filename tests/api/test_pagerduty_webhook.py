"""POST /webhook/pagerduty: signature first (401, nothing journaled), then 400/202, retries deduplicated."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from remediator.api.pagerduty import PATH, add_pagerduty_route
from remediator.api.state import BODY_TIMEOUT, WEBHOOKS, WebhookState
from remediator.clock import FakeClock
from remediator.config import Settings
from remediator.metrics import Metrics
from remediator.secrets import Secret
from remediator.store.sqlite import SqliteJournal

Client = Callable[..., Awaitable[TestClient]]


def fixture(examples_dir: Path, name: str) -> bytes:
    return (examples_dir / "pagerduty" / name).read_bytes()


def sigs(examples_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((examples_dir / "pagerduty" / "signatures.json").read_text())
    return data


def signed(
    examples_dir: Path, name: str, *, webhook_id: str | None = None, rotation: bool = False
) -> dict[str, str]:
    key = "X-PagerDuty-Signature (during rotation)" if rotation else "X-PagerDuty-Signature"
    headers = {
        "X-PagerDuty-Signature": sigs(examples_dir)["signatures"][name][key],
        "Content-Type": "application/json",
    }
    if webhook_id is not None:
        headers["X-Webhook-Id"] = webhook_id
    return headers


class Harness:
    def __init__(
        self, client: TestClient, journal: SqliteJournal, metrics: Metrics, clock: FakeClock
    ) -> None:
        self.client = client
        self.journal = journal
        self.metrics = metrics
        self.clock = clock

    async def payloads(self) -> list[tuple[str, bytes]]:
        return [(p.source, p.body) for p in await self.journal.pending_payloads(100)]

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def make_app(
    journal: SqliteJournal, metrics: Metrics, clock: FakeClock, secrets: tuple[str, ...]
) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[BODY_TIMEOUT] = Settings().http.body_timeout
    app[WEBHOOKS] = WebhookState(
        settings=Settings(),
        journal=journal,
        metrics=metrics.intake,
        clock=clock,
        webhook_token=Secret("am-token-not-used-here"),
        pagerduty_secrets=tuple(Secret(s) for s in secrets),
        queue_depth=metrics.queue_depth,
    )
    add_pagerduty_route(app, ttl_s=3600)
    return app


@pytest.fixture
async def make_harness(
    tmp_path: Path, aiohttp_client: Client, examples_dir: Path
) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    clock = FakeClock()  # the journal's too: it forgets delivery ids after their time to live
    async with SqliteJournal.open(
        tmp_path / "journal.sqlite", synchronous="normal", max_backlog=5, clock=clock
    ) as journal:

        async def make(secrets: tuple[str, ...] | None = None) -> Harness:
            if secrets is None:
                secrets = (sigs(examples_dir)["secret"],)
            metrics = Metrics()
            client = await aiohttp_client(make_app(journal, metrics, clock, secrets))
            return Harness(client, journal, metrics, clock)

        yield make


@pytest.fixture
async def harness(make_harness: Callable[..., Awaitable[Harness]]) -> Harness:
    return await make_harness()


async def test_signed_trigger_is_journaled_byte_for_byte_and_counted(
    harness: Harness, examples_dir: Path
) -> None:
    body = fixture(examples_dir, "incident-triggered.json")
    resp = await harness.client.post(
        PATH, data=body, headers=signed(examples_dir, "incident-triggered.json", webhook_id="w1")
    )
    assert resp.status == 202
    answer = await resp.json()
    assert answer["status"] == "accepted" and answer["event_type"] == "incident.triggered"
    assert isinstance(answer["payload_id"], int)
    assert await harness.payloads() == [("pagerduty", body)]
    assert harness.metric("remediator_alerts_received_total", source="pagerduty", status="firing") == 1
    assert harness.metric("remediator_webhook_requests_total", route="pagerduty", code="202") == 1
    assert harness.metric("remediator_webhook_request_duration_seconds_count", route="pagerduty") == 1
    assert harness.metric("remediator_queue_depth") == 1


async def test_resolved_counts_as_resolved(harness: Harness, examples_dir: Path) -> None:
    name = "incident-resolved.json"
    resp = await harness.client.post(
        PATH, data=fixture(examples_dir, name), headers=signed(examples_dir, name)
    )
    assert resp.status == 202 and (await resp.json())["status"] == "accepted"
    assert harness.metric("remediator_alerts_received_total", source="pagerduty", status="resolved") == 1


@pytest.mark.parametrize(
    ("name", "event_type", "answered"),
    [
        # no alert, but read off the journal: an acknowledgement stops remediator's own page's ladder
        ("incident-acknowledged.json", "incident.acknowledged", "accepted"),
        ("service-updated.json", "service.updated", "ignored"),
    ],
)
async def test_other_event_types_are_journaled_and_make_no_alert(
    harness: Harness, examples_dir: Path, name: str, event_type: str, answered: str
) -> None:
    body = fixture(examples_dir, name)
    resp = await harness.client.post(PATH, data=body, headers=signed(examples_dir, name))
    assert resp.status == 202
    answer = await resp.json()
    assert (answer["status"], answer["event_type"]) == (answered, event_type)
    assert await harness.payloads() == [("pagerduty", body)]
    for status in ("firing", "resolved"):
        assert harness.metric("remediator_alerts_received_total", source="pagerduty", status=status) == 0


async def test_rotation_header_is_accepted_with_either_secret(
    make_harness: Callable[..., Awaitable[Harness]], examples_dir: Path
) -> None:
    name = "incident-triggered.json"
    for secret in (sigs(examples_dir)["secret"], sigs(examples_dir)["rotated_secret"]):
        h = await make_harness((secret,))
        resp = await h.client.post(
            PATH, data=fixture(examples_dir, name), headers=signed(examples_dir, name, rotation=True)
        )
        assert resp.status == 202, secret


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-PagerDuty-Signature": "v1=" + "0" * 64},
        {"X-PagerDuty-Signature": "garbage"},
        {"Authorization": "Bearer am-token-not-used-here"},
    ],
)
async def test_unsigned_or_wrongly_signed_is_401_and_nothing_journaled(
    harness: Harness, examples_dir: Path, headers: dict[str, str]
) -> None:
    resp = await harness.client.post(
        PATH, data=fixture(examples_dir, "incident-triggered.json"), headers=headers
    )
    assert resp.status == 401
    assert "signature" in (await resp.json())["error"]
    assert await harness.payloads() == []
    assert harness.metric("remediator_webhook_requests_total", route="pagerduty", code="401") == 1
    assert harness.metric("remediator_alerts_received_total", source="pagerduty", status="firing") == 0


async def test_signature_of_another_payload_is_401(harness: Harness, examples_dir: Path) -> None:
    resp = await harness.client.post(
        PATH,
        data=fixture(examples_dir, "incident-triggered.json"),
        headers=signed(examples_dir, "incident-resolved.json"),
    )
    assert resp.status == 401 and await harness.payloads() == []


async def test_no_secret_configured_refuses_even_signed_payloads(
    make_harness: Callable[..., Awaitable[Harness]], examples_dir: Path
) -> None:
    h = await make_harness(())
    name = "incident-triggered.json"
    resp = await h.client.post(PATH, data=fixture(examples_dir, name), headers=signed(examples_dir, name))
    assert resp.status == 401
    assert "no PagerDuty webhook secret" in (await resp.json())["error"]
    assert await h.payloads() == []


async def test_signed_but_malformed_body_is_400_and_not_journaled(
    harness: Harness, examples_dir: Path
) -> None:
    import hashlib
    import hmac

    secret = sigs(examples_dir)["secret"]
    for body in (b"{not json", b'{"event": {"id": "E"}}'):
        sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-PagerDuty-Signature": f"v1={sig}", "Content-Type": "application/json"}
        resp = await harness.client.post(PATH, data=body, headers=headers)
        assert resp.status == 400
        assert (await resp.json())["error"]
    assert await harness.payloads() == []


async def test_retried_delivery_is_journaled_once(harness: Harness, examples_dir: Path) -> None:
    name = "incident-triggered.json"
    body = fixture(examples_dir, name)
    first = await harness.client.post(PATH, data=body, headers=signed(examples_dir, name, webhook_id="dup-1"))
    again = await harness.client.post(PATH, data=body, headers=signed(examples_dir, name, webhook_id="dup-1"))
    assert first.status == again.status == 202
    assert (await again.json()) == {"status": "duplicate", "event_type": "incident.triggered"}
    assert await harness.payloads() == [("pagerduty", body)]
    assert harness.metric("remediator_alerts_received_total", source="pagerduty", status="firing") == 1
    # A different delivery id of the same bytes is a new delivery.
    other = await harness.client.post(PATH, data=body, headers=signed(examples_dir, name, webhook_id="dup-2"))
    assert (await other.json())["status"] == "accepted"
    assert len(await harness.payloads()) == 2


async def test_without_webhook_id_the_event_id_deduplicates(harness: Harness, examples_dir: Path) -> None:
    name = "incident-triggered.json"
    for _ in range(2):
        await harness.client.post(PATH, data=fixture(examples_dir, name), headers=signed(examples_dir, name))
    assert len(await harness.payloads()) == 1


async def test_remembered_ids_expire_after_the_ttl(harness: Harness, examples_dir: Path) -> None:
    name = "incident-triggered.json"
    body = fixture(examples_dir, name)
    await harness.client.post(PATH, data=body, headers=signed(examples_dir, name, webhook_id="w"))
    harness.clock.advance(3599)
    assert (
        await (
            await harness.client.post(PATH, data=body, headers=signed(examples_dir, name, webhook_id="w"))
        ).json()
    )["status"] == "duplicate"
    harness.clock.advance(2)
    assert (
        await (
            await harness.client.post(PATH, data=body, headers=signed(examples_dir, name, webhook_id="w"))
        ).json()
    )["status"] == "accepted"


async def test_overloaded_journal_answers_503_and_the_retry_is_not_a_duplicate(
    harness: Harness, examples_dir: Path
) -> None:
    name = "incident-acknowledged.json"
    body = fixture(examples_dir, name)
    for i in range(5):  # the harness journal holds a backlog of 5
        resp = await harness.client.post(
            PATH, data=body, headers=signed(examples_dir, name, webhook_id=f"fill-{i}")
        )
        assert resp.status == 202
    for _ in range(2):
        resp = await harness.client.post(
            PATH, data=body, headers=signed(examples_dir, name, webhook_id="late")
        )
        assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    assert len(await harness.payloads()) == 5


async def test_a_retry_after_a_restart_is_still_a_duplicate(
    make_harness: Callable[..., Awaitable[Harness]], examples_dir: Path
) -> None:
    """The delivery id is in the journal, not in the app: a new app on the same journal knows it."""
    name = "incident-triggered.json"
    body = fixture(examples_dir, name)
    first = await make_harness()
    resp = await first.client.post(
        PATH, data=body, headers=signed(examples_dir, name, webhook_id="w-restart")
    )
    assert (await resp.json())["status"] == "accepted"
    second = await make_harness()
    again = await second.client.post(
        PATH, data=body, headers=signed(examples_dir, name, webhook_id="w-restart")
    )
    assert (await again.json())["status"] == "duplicate"
    assert len(await second.payloads()) == 1
