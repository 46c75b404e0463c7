"""Decide, for one alert, what each matching rule does: act, dry-run, or skip with a reason.

Pure decision logic on in-memory state; the processor journals the result.
Order of checks: alert status, the rule's `when` condition, the target rendered
from the alert's labels, then the guard chain (first denial wins), then the mode
(dry-run). Every path yields a Decision, so every skip has its reason on record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from remediator.clock import Clock
from remediator.engine.mode import Mode
from remediator.engine.protocols import Guard, Proposal, QuickGuard, Verdict
from remediator.engine.reservations import Reservations
from remediator.model import Alert, Decision, Outcome, RuleName, Target
from remediator.rules import Rule, RuleSet


class Decider:
    def __init__(
        self,
        *,
        rules: Callable[[], RuleSet],
        guards: Sequence[Guard],
        mode: Mode,
        clock: Clock,
        reservations: Reservations | None = None,
        defer: bool = True,
    ) -> None:
        self._rules = rules
        self._guards = list(guards)
        self._chain: list[tuple[Guard, Callable[[Proposal], Verdict | None] | None]] = [
            (g, g.verdict if isinstance(g, QuickGuard) else None) for g in self._guards
        ]
        """Each guard with its answer from memory, when it has one (`QuickGuard`)."""
        self.reservations = reservations if reservations is not None else Reservations()
        """Guard state held for decisions until their journal write settles or releases it."""
        self._mode = mode
        self._clock = clock
        self._defer = defer
        """A transient denial becomes `deferred` (decided again when a slot frees) rather than final."""

    def matching(self, alert: Alert) -> list[Rule]:
        return self._rules().match(alert)  # the index holds enabled rules only

    async def decide(self, alert: Alert) -> list[Decision]:
        return [await self.decide_rule(alert, rule) for rule in self.matching(alert)]

    async def decide_rule(
        self,
        alert: Alert,
        rule: Rule,
        *,
        force_dry_run: bool = False,
        skip_guards: frozenset[str] = frozenset(),
    ) -> Decision:
        now = self._clock.now()
        name = RuleName(rule.name)
        severity = rule.severity or alert.labels.get("severity", "")

        def skip(outcome: Outcome, reason: str, target: Target | None = None) -> Decision:
            return Decision(
                alert=alert,
                rule=name,
                target=target,
                actions=rule.actions,
                outcome=outcome,
                reason=reason,
                dry_run=False,
                decided_at=now,
                severity=severity,
                skipped_guards=skip_guards,
            )

        if rule.status != "any" and alert.status != rule.status:
            return skip(Outcome.RESOLVED, f"alert is {alert.status}; rule acts on {rule.status} alerts")
        if rule.condition is not None:
            cond = rule.check_condition(alert)
            if not cond.holds:
                return skip(Outcome.CONDITION_FALSE, f"condition false: {cond.reason}")
            why = cond.reason
        else:
            why = "matched"
        target = rule.render_target(alert)
        if isinstance(target, str):
            return skip(Outcome.INVALID_TARGET, target)
        actions = rule.render_actions(alert)
        if isinstance(actions, str):
            return skip(Outcome.INVALID_TARGET, actions, target)
        dry_run, dry_reason = self._mode.dry_run_for(rule.name, rule_dry_run=rule.guards.dry_run)
        if force_dry_run and not dry_run:
            dry_run, dry_reason = True, "dry-run: requested"
        proposal = Proposal(
            alert=alert,
            rule=name,
            target=target,
            actions=actions,
            dry_run=dry_run,
            dry_run_reason=dry_reason,
            definition=rule,
            skip_guards=skip_guards,
        )
        for guard, quick in self._chain:
            if skip_guards and guard.name in skip_guards:
                continue
            verdict = quick(proposal) if quick is not None else await guard.check(proposal)
            if verdict is not None:
                outcome, reason = verdict.outcome, verdict.reason
                if verdict.transient and self._defer:
                    outcome, reason = Outcome.DEFERRED, f"deferred until {verdict.until}: {reason}"
                return Decision(
                    alert=alert,
                    rule=name,
                    target=target,
                    actions=actions,
                    outcome=outcome,
                    reason=reason,
                    dry_run=dry_run,
                    decided_at=now,
                    severity=severity,
                    skipped_guards=skip_guards,
                )
        decision = Decision(
            alert=alert,
            rule=name,
            target=target,
            actions=actions,
            outcome=Outcome.DRY_RUN if dry_run else Outcome.ACT,
            reason=f"{dry_reason} ({why})" if dry_run else why,
            dry_run=dry_run,
            decided_at=now,
            severity=severity,
            skipped_guards=skip_guards,
        )
        undos = [undo for guard in self._guards if (undo := guard.record(decision)) is not None]
        self.reservations.hold(decision, undos)
        return decision
