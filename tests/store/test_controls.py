"""Human decisions, delivery ids and approvals in the journal: durable, and asked for once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from remediator.clock import FakeClock
from remediator.model import ActionSpec, Alert, Decision, Outcome, RuleName, Target
from remediator.store.incidents import OpenEscalation
from tests.store.conftest import Backend

T0 = datetime(2026, 11, 23, tzinfo=UTC)


async def test_controls_replace_each_other_and_survive_a_reopen(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        await j.set_control("pause", "", {"reason": "migration", "until": None}, actor="ana")
        await j.set_control("pause", "", {"reason": "migration, longer", "until": None}, actor="bo")
        await j.set_control("dry_run", "rollback", {"enabled": True, "reason": "new threshold"}, actor="ana")
        assert await j.clear_control("dry_run", "rollback")
        assert not await j.clear_control("dry_run", "rollback"), "nothing left to lift"
        await j.set_control("breaker_reset", "r1:shop/Deployment/x", {"reason": "fixed by hand"}, actor="bo")
    async with backend.open(clock=clock) as j:
        got = {(c.kind, c.key): (c.actor, dict(c.value)) for c in await j.controls()}
        assert got == {
            ("pause", ""): ("bo", {"reason": "migration, longer", "until": None}),
            ("breaker_reset", "r1:shop/Deployment/x"): ("bo", {"reason": "fixed by hand"}),
        }


async def test_a_repeated_delivery_id_is_not_journaled_again_even_after_a_reopen(backend: Backend) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock) as j:
        first, same_commit = await asyncio.gather(
            j.accept_once("pagerduty", b"{}", delivery_id="w-1", ttl_s=3600),
            j.accept_once("pagerduty", b"{}", delivery_id="w-1", ttl_s=3600),
        )
        assert first is not None and same_commit is None, "two copies in one commit: one is written"
    async with backend.open(clock=clock) as j:
        assert await j.accept_once("pagerduty", b"{}", delivery_id="w-1", ttl_s=3600) is None
        assert await j.accept_once("pagerduty", b"{}", delivery_id="w-2", ttl_s=3600) is not None
        clock.advance(3601)
        assert await j.accept_once("pagerduty", b"{}", delivery_id="w-1", ttl_s=3600) is not None, (
            "forgotten after its time to live"
        )
        assert await j.count("payloads") == 3


def needs_approval(starts_at: datetime, fp: str = "abc") -> tuple[Alert, Decision]:
    a = Alert(
        source="alertmanager",
        fingerprint=fp,
        status="firing",
        labels={"alertname": "CacheCorrupted"},
        annotations={},
        starts_at=starts_at,
    )
    d = Decision(
        alert=a,
        rule=RuleName("flush-cache"),
        target=Target(kind="Deployment", namespace="shop", name="redis"),
        actions=(ActionSpec(kind="rollout_restart"),),
        outcome=Outcome.NEEDS_APPROVAL,
        reason="needs approval",
        dry_run=False,
        decided_at=starts_at,
    )
    return a, d


async def test_one_pending_approval_per_episode_with_its_notify_remind_and_expire_timers(
    backend: Backend,
) -> None:
    clock = FakeClock(T0)
    async with backend.open(clock=clock, approval_expiry_s=3600, approval_remind_before_s=900) as j:
        a, d = needs_approval(T0)
        await j.record_batch(payload_ids=[], alerts=[a, a], decisions=[(0, d), (1, d)])
        clock.advance(300)
        await j.record_batch(payload_ids=[], alerts=[a], decisions=[(0, replace(d, decided_at=clock.now()))])
        [approval] = await j.approvals()
        timers = {(t.kind, t.key): t.due_at for t in await j.timers()}
        assert timers == {
            ("approval_notify", str(approval["id"])): T0,
            ("approval_remind", str(approval["id"])): T0 + timedelta(minutes=45),
            ("approval_expire", str(approval["id"])): T0 + timedelta(hours=1),
        }
        later, d2 = needs_approval(T0 + timedelta(minutes=10))
        await j.record_batch(payload_ids=[], alerts=[later], decisions=[(0, d2)])
        assert len(await j.approvals()) == 2, "a new episode (fired again) asks again"
        assert await j.count("decisions") == 4, "every decision is still on record"


async def test_open_escalations_outlive_a_reopen_and_know_when_their_alert_resolved(backend: Backend) -> None:
    clock = FakeClock(T0)
    firing, _ = needs_approval(T0, fp="fp-1")
    resolved = replace(firing, status="resolved")
    async with backend.open(clock=clock) as j:
        await j.record_batch(payload_ids=[], alerts=[firing, needs_approval(T0, fp="fp-2")[0]], decisions=[])
        for key, fp in (("remediator/r/a", "fp-1"), ("remediator/r/b", "fp-2")):
            opened = OpenEscalation(
                dedup_key=key,
                rule="r",
                target="shop/Deployment/x",
                fingerprint=fp,
                pagerduty=True,
                opened_at=T0,
            )
            assert await j.open_escalation(opened)
        assert not await j.open_escalation(opened), "one open escalation per dedup key"
        await j.record_batch(payload_ids=[], alerts=[resolved], decisions=[])
    async with backend.open(clock=clock) as j:
        got = {e.dedup_key: (e.fingerprint, e.pagerduty, e.resolved) for e in await j.open_escalations()}
        assert got == {"remediator/r/a": ("fp-1", True, True), "remediator/r/b": ("fp-2", True, False)}
        assert await j.close_escalation("remediator/r/a")
        assert [e.dedup_key for e in await j.open_escalations()] == ["remediator/r/b"]
