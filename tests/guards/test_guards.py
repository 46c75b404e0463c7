"""Cooldown, one-at-a-time and namespace guards, each alone with literal proposals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from remediator.clock import FakeClock
from remediator.engine import Proposal
from remediator.guards.cooldown import CooldownGuard
from remediator.guards.inflight import InFlightGuard
from remediator.guards.namespaces import NamespaceGuard
from remediator.model import ActionSpec, Alert, Decision, Outcome, RuleName, Target
from remediator.rules import Rule, load_rules_text

T0 = datetime(2026, 11, 23, tzinfo=UTC)
ALERT = Alert(
    source="alertmanager", fingerprint="f", status="firing", labels={}, annotations={}, starts_at=T0
)
CHECKOUT = Target(kind="Deployment", namespace="shop", name="checkout")


def rule(name: str = "r1", guards: str = "{}") -> Rule:
    text = f"""
rules:
  - name: {name}
    match: ['alertname = "X"']
    target: {{kind: Deployment, namespace: shop, name: checkout}}
    actions: [{{rollout_restart: {{}}}}]
    guards: {guards}
"""
    [r] = load_rules_text(text)
    return r


def proposal(
    target: Target = CHECKOUT, *, rule: str = "r1", dry_run: bool = False, cooldown_s: float | None = None
) -> Proposal:
    guards = "{}" if cooldown_s is None else f"{{cooldown: {cooldown_s}}}"
    return Proposal(
        alert=ALERT,
        rule=RuleName(rule),
        target=target,
        actions=(ActionSpec(kind="rollout_restart"),),
        dry_run=dry_run,
        definition=globals()["rule"](rule, guards),
    )


def acted(p: Proposal, at: datetime) -> Decision:
    return Decision(
        alert=p.alert,
        rule=p.rule,
        target=p.target,
        actions=p.actions,
        outcome=Outcome.ACT,
        reason="",
        dry_run=p.dry_run,
        decided_at=at,
    )


async def test_cooldown_denies_until_it_expires() -> None:
    clock = FakeClock(T0)
    guard = CooldownGuard(default_s=900, clock=clock)
    p = proposal()
    assert await guard.check(p) is None
    guard.record(acted(p, clock.now()))
    clock.advance(60)
    verdict = await guard.check(p)
    assert verdict is not None and verdict.outcome is Outcome.COOLDOWN
    assert verdict.reason == "cooldown: acted on shop/Deployment/checkout 1m ago, cooldown 15m"
    clock.advance(840)
    assert await guard.check(p) is None


async def test_cooldown_is_per_rule_target_and_mode() -> None:
    clock = FakeClock(T0)
    guard = CooldownGuard(default_s=900, clock=clock)
    guard.record(acted(proposal(), T0))
    assert await guard.check(proposal(rule="r2")) is None
    assert await guard.check(proposal(replace(CHECKOUT, name="search"))) is None
    assert await guard.check(proposal(dry_run=True)) is None, (
        "a real action must not block a dry-run, nor vice versa"
    )


async def test_rule_cooldown_overrides_default_and_state_loads_from_journal() -> None:
    clock = FakeClock(T0)
    guard = CooldownGuard(default_s=900, clock=clock)
    guard.load([("r1", CHECKOUT.key, False, T0)])
    clock.advance(120)
    assert await guard.check(proposal()) is not None
    assert await guard.check(proposal(cooldown_s=60)) is None


async def test_inflight_allows_one_action_per_target_across_rules() -> None:
    guard = InFlightGuard()
    p = proposal()
    guard.record(acted(p, T0))
    verdict = await guard.check(proposal(rule="other"))
    assert verdict is not None and verdict.outcome is Outcome.IN_FLIGHT and "'r1'" in verdict.reason
    guard.release(acted(p, T0))
    assert await guard.check(proposal(rule="other")) is None


async def test_namespace_guard() -> None:
    deny = NamespaceGuard(allowed=(), denied=("kube-system",))
    assert await deny.check(proposal()) is None
    v = await deny.check(proposal(replace(CHECKOUT, namespace="kube-system")))
    assert v is not None and v.outcome is Outcome.OUTSIDE_ALLOWED_NAMESPACES and "denied" in v.reason
    allow = NamespaceGuard(allowed=("prod",), denied=())
    v = await allow.check(proposal())
    assert v is not None and v.reason == "namespace 'shop' is not allowed (prod)"
