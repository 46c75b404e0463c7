"""The decider: for one alert and rule, act, dry-run, or skip with a reason, in a fixed order of checks."""

from __future__ import annotations

from datetime import UTC, datetime

from remediator.clock import FakeClock
from remediator.engine import Decider, Proposal, Verdict
from remediator.engine.mode import Mode, Pause
from remediator.guards.paused import PausedGuard
from remediator.model import Alert, Decision, Outcome
from remediator.rules import RuleBook, load_rules_text

T0 = datetime(2026, 11, 23, tzinfo=UTC)
RULES = """
rules:
  - name: restart-on-errors
    match: ['alertname = "HighErrorRate"']
    when: value > 10/min
    target: {kind: Deployment, namespace: "{{ labels.namespace }}", name: "{{ labels.deployment }}"}
    actions: [{rollout_restart: {}}]
"""


def alert(*, value: str = "42", status: str = "firing", **labels: str) -> Alert:
    base = {"alertname": "HighErrorRate", "namespace": "shop", "deployment": "checkout"}
    return Alert(
        source="alertmanager",
        fingerprint="fp",
        status=status,  # type: ignore[arg-type]
        labels={**base, **labels},
        annotations={"value": value},
        starts_at=T0,
    )


class Recording:
    """A guard that denies what it is told to and remembers what it was asked to record."""

    name = "recording"

    def __init__(self, deny: Verdict | None = None) -> None:
        self.deny = deny
        self.checked: list[Proposal] = []
        self.recorded: list[Decision] = []

    async def check(self, proposal: Proposal) -> Verdict | None:
        self.checked.append(proposal)
        return self.deny

    def record(self, decision: Decision) -> None:
        self.recorded.append(decision)


def decider(*guards: object, mode: Mode | None = None) -> Decider:
    book = RuleBook(load_rules_text(RULES))
    return Decider(rules=book.current, guards=list(guards), mode=mode or Mode(), clock=FakeClock(T0))  # type: ignore[arg-type]


async def test_a_matching_alert_acts_and_every_guard_records_it() -> None:
    guard = Recording()
    [d] = await decider(guard).decide(alert())
    assert d.outcome is Outcome.ACT and d.target is not None and d.target.key == "shop/Deployment/checkout"
    assert "42" in d.reason and guard.recorded == [d]


async def test_checks_in_order_resolved_condition_target_then_guards() -> None:
    guard = Recording()
    [d] = await decider(guard).decide(alert(status="resolved"))
    assert d.outcome is Outcome.RESOLVED
    [d] = await decider(guard).decide(alert(value="3"))
    assert d.outcome is Outcome.CONDITION_FALSE and d.reason.startswith("condition false:")
    [d] = await decider(guard).decide(alert(deployment="Not_A_Name"))
    assert d.outcome is Outcome.INVALID_TARGET and "not a valid Kubernetes name" in d.reason
    assert guard.checked == [] and guard.recorded == [], "no guard is asked before the target is known"


async def test_the_first_denial_wins_and_nothing_is_recorded() -> None:
    first = Recording(Verdict(outcome=Outcome.COOLDOWN, reason="cooldown: acted 1m ago"))
    second = Recording()
    [d] = await decider(first, second).decide(alert())
    assert (d.outcome, d.reason) == (Outcome.COOLDOWN, "cooldown: acted 1m ago")
    assert second.checked == [] and first.recorded == second.recorded == []


async def test_dry_run_comes_from_the_mode_and_says_why() -> None:
    [d] = await decider(mode=Mode(dry_run=True)).decide(alert())
    assert d.outcome is Outcome.DRY_RUN and d.dry_run and d.reason.startswith("dry-run: global dry-run is on")
    [d] = await decider(mode=Mode(no_cluster="kubernetes.mode is none")).decide(alert())
    assert d.outcome is Outcome.DRY_RUN and "no Kubernetes cluster reachable" in d.reason


async def test_a_paused_rule_is_recorded_as_paused() -> None:
    mode = Mode(paused_rules={"restart-on-errors": Pause(by="alice", reason="migration")})
    [d] = await decider(PausedGuard(mode=mode, clock=FakeClock(T0)), mode=mode).decide(alert())
    assert d.outcome is Outcome.PAUSED and d.reason == "paused by alice: migration"


class Quick(Recording):
    """A guard that answers from memory: the decider asks `verdict`, never awaits `check`."""

    def verdict(self, proposal: Proposal) -> Verdict | None:
        self.checked.append(proposal)
        return self.deny

    async def check(self, proposal: Proposal) -> Verdict | None:
        raise AssertionError("a guard with an answer from memory is not awaited")


async def test_guards_answering_from_memory_and_awaited_ones_keep_their_order() -> None:
    awaited, quick = (
        Recording(),
        Quick(Verdict(outcome=Outcome.IN_FLIGHT, reason="in flight", transient=True)),
    )
    [d] = await decider(awaited, quick).decide(alert())
    assert d.outcome is Outcome.DEFERRED and d.reason == "deferred until a slot frees: in flight"
    assert len(awaited.checked) == len(quick.checked) == 1
    first, later = Quick(Verdict(outcome=Outcome.COOLDOWN, reason="cooldown")), Recording()
    [d] = await decider(first, later).decide(alert())
    assert d.outcome is Outcome.COOLDOWN and later.checked == []


async def test_every_shipped_guard_without_io_answers_the_same_from_memory() -> None:
    """The guards the decider calls without awaiting: their `check` and `verdict` agree, denying or not."""
    from remediator.config import GuardSettings
    from remediator.engine.protocols import QuickGuard
    from remediator.guards.cooldown import CooldownGuard
    from remediator.guards.inflight import InFlightGuard
    from remediator.guards.namespaces import NamespaceGuard
    from remediator.guards.ratelimit import RateLimitGuard

    clock = FakeClock(T0)
    mode = Mode(paused_rules={"restart-on-errors": Pause(by="alice", reason="migration")})
    guards: list[QuickGuard] = [
        PausedGuard(mode=mode, clock=clock),
        NamespaceGuard(allowed=("prod-*",), denied=()),
        CooldownGuard(default_s=900, clock=clock),
        InFlightGuard(),
        RateLimitGuard(settings=GuardSettings(max_actions_per_target=None), clock=clock),
    ]
    [acted] = await decider().decide(alert())
    for guard in guards:
        assert isinstance(guard, QuickGuard)
        guard.record(acted)
    for a in (alert(), alert(namespace="prod-eu")):
        [d] = await decider().decide(a)
        assert d.target is not None
        p = Proposal(
            alert=a,
            rule=d.rule,
            target=d.target,
            actions=d.actions,
            dry_run=False,
            definition=decider().matching(a)[0],
        )
        answers = [(await g.check(p), g.verdict(p)) for g in guards]
        assert [checked == quick for checked, quick in answers] == [True] * len(guards)
        assert any(checked is not None for checked, _ in answers)
