"""Guard tests: each guard alone, with literal proposals (one file per guard)."""

from __future__ import annotations

from datetime import UTC, datetime

from remediator.engine import Proposal
from remediator.model import ActionSpec, Alert, Decision, Outcome, RuleName, Target
from remediator.rules import Rule, load_rules_text

T0 = datetime(2026, 11, 23, tzinfo=UTC)
ALERT = Alert(
    source="alertmanager", fingerprint="f", status="firing", labels={}, annotations={}, starts_at=T0
)
CHECKOUT = Target(kind="Deployment", namespace="shop", name="checkout")


def make_rule(name: str = "r1", guards: str = "{}", extra: str = "") -> Rule:
    text = f"""
rules:
  - name: {name}
    match: ['alertname = "X"']
    target: {{kind: Deployment, namespace: shop, name: checkout}}
    actions: [{{rollout_restart: {{}}}}]
    guards: {guards}
{extra}
"""
    [r] = load_rules_text(text)
    return r


def proposal(
    target: Target = CHECKOUT,
    *,
    rule: str = "r1",
    dry_run: bool = False,
    cooldown_s: float | None = None,
    guards: str | None = None,
    definition: Rule | None = None,
    alert: Alert = ALERT,
) -> Proposal:
    if guards is None:
        guards = "{}" if cooldown_s is None else f"{{cooldown: {cooldown_s}}}"
    return Proposal(
        alert=alert,
        rule=RuleName(rule),
        target=target,
        actions=(ActionSpec(kind="rollout_restart"),),
        dry_run=dry_run,
        definition=definition or make_rule(rule, guards),
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
