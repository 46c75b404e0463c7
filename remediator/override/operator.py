"""The Operator: what an on-call human can do to the running daemon, with their name on it.

Called by the override API's handlers (api/control.py) and by `serve`'s SIGHUP handler; built
by `app.open_app` with the live pieces it needs (journal, decider, hand-over, mode, breaker,
metrics, clock and the rule book). Its own stage, above the pipeline:
pausing and dry-run flip the shared `Mode` that the guards read on the next decision; reload,
trigger and approve go through the same Decider and hand-over as an alert, so every guard stays
in force and nothing runs that is not journaled first.

Every change is journaled in the audit table with the caller's token name and reason, after it
took effect (an audit row never claims a change that did not happen). Refusals raise an
`OperationRefused` subclass (override/errors.py); the API maps each to its HTTP status.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from remediator.clock import Clock
from remediator.engine import Decider
from remediator.engine.handover import HandOver, Recorded
from remediator.engine.mode import Mode, Pause
from remediator.errors import RuleLoadError
from remediator.escalate.desk import IncidentDesk
from remediator.guards.breaker import BreakerView, CircuitBreaker
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import ActionSpec, Alert, Change, Decision, Outcome, RuleName
from remediator.override.errors import BadRequest, Conflict, NotFound, ReloadFailed
from remediator.override.restore import pause_value
from remediator.rules import Rule, RuleBook, RuleSet, load_rules
from remediator.store import ExecutionUpdate, Journal, JournalUnavailable
from remediator.store.controls import GLOBAL
from remediator.store.incidents import IncidentRecord
from remediator.tasks import TaskSet

log = get_logger("remediator.operator")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadResult:
    rules: int
    files: int
    added: list[str]
    removed: list[str]
    changed: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    """What approving a pending action would change, planned against the live cluster now."""

    target: str | None
    actions: tuple[ActionSpec, ...]
    status: str
    """`planned` (the changes below), `skipped` (its precondition fails now), `failed` (the plan could
    not be read), `unavailable` (the rule, the alert or the target is gone)."""
    summary: str
    error: str | None
    changes: tuple[Change, ...]


Planner = Callable[[Decision], Awaitable[ExecutionUpdate]]


class Operator:
    def __init__(
        self,
        *,
        journal: Journal,
        decider: Decider,
        hand_over: HandOver,
        mode: Mode,
        metrics: Metrics,
        breaker: CircuitBreaker,
        clock: Clock,
        rules: RuleBook,
        rule_paths: Sequence[Path],
        planner: Planner | None = None,
        incidents: IncidentDesk | None = None,
    ) -> None:
        """`planner` plans a decision without acting (the executor's dry-run), for `preview`."""
        self.journal = journal
        self._planner = planner
        self.incidents = incidents
        self.mode = mode
        self.breaker = breaker
        self._decider = decider
        self._hand_over = hand_over
        self._metrics = metrics
        self._clock = clock
        self._book = rules
        self._rule_paths = tuple(rule_paths)
        self._reload_lock = asyncio.Lock()
        self.last_reload: dict[str, Any] | None = None
        """When, by whom and how the last reload ended (status shows it)."""
        self._closing = TaskSet()
        """Manual incidents being closed (journal writes after their execution ended)."""

    async def idle(self) -> None:
        await self._closing.idle()

    async def aclose(self, timeout_s: float = 10.0) -> None:
        await self._closing.aclose(timeout_s)

    # -- reading -----------------------------------------------------------------------------------

    def rules(self) -> RuleSet:
        return self._book.current()

    def rule(self, name: str) -> Rule:
        rules = self._book.current()
        rule = rules.get(name)
        if rule is None:
            close = difflib.get_close_matches(name, rules.names(), n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise NotFound(f"no rule named {name[:200]!r} is loaded{hint}", detail={"did_you_mean": close})
        return rule

    def active_pauses(self) -> tuple[Pause | None, dict[str, Pause]]:
        """The global pause and the per-rule pauses in force now (expired ones are dropped)."""
        now = self._clock.now()
        for name in list(self.mode.paused_rules):
            self.mode.pause_for(name, now)
        self.mode.pause_for("", now)
        return self.mode.paused, dict(self.mode.paused_rules)

    def refresh_metrics(self) -> None:
        """The pause and dry-run gauges, as of now: a pause with an expiry ends without anyone calling."""
        paused, _ = self.active_pauses()
        self._metrics.paused.set(1 if paused is not None else 0)
        self._metrics.dry_run.set(1 if self.mode.dry_run or self.mode.no_cluster else 0)

    # -- pause, dry-run, breakers --------------------------------------------------------------------

    async def pause(
        self, *, actor: str, reason: str, rule: str | None = None, for_s: float | None = None
    ) -> Pause:
        """Pause everything or one rule, until resumed or for `for_s` seconds. Replaces a pause in force."""
        if rule is not None:
            self.rule(rule)
        until = None
        if for_s is not None:
            try:
                until = self._clock.now() + timedelta(seconds=for_s)
            except OverflowError:
                raise BadRequest(f"pause duration {for_s}s is too long") from None
        pause = Pause(by=actor, reason=reason, until=until)
        await self.journal.set_control("pause", rule or GLOBAL, pause_value(pause), actor=actor)
        if rule is None:
            self.mode.paused = pause
        else:
            self.mode.paused_rules[rule] = pause
        self.refresh_metrics()
        log.warning("paused", by=actor, rule=rule, reason=reason, until=until.isoformat() if until else None)
        await self._audit(actor, "pause", reason, rule=rule, until=until.isoformat() if until else None)
        return pause

    async def resume(self, *, actor: str, reason: str, rule: str | None = None) -> Pause | None:
        """Lift the global pause or one rule's; returns the pause lifted (None: nothing was paused)."""
        if rule is not None and rule not in self.mode.paused_rules:
            self.rule(rule)  # 404 for a name that is neither loaded nor paused
        paused, per_rule = self.active_pauses()
        lifted = paused if rule is None else per_rule.get(rule)
        await self.journal.clear_control("pause", rule or GLOBAL)
        if rule is None:
            self.mode.paused = None
        else:
            self.mode.paused_rules.pop(rule, None)
        self.refresh_metrics()
        log.warning("resumed", by=actor, rule=rule, reason=reason, was_paused=lifted is not None)
        await self._audit(actor, "resume", reason, rule=rule, was_paused=lifted is not None)
        return lifted

    async def set_dry_run(self, *, actor: str, reason: str, enabled: bool, rule: str | None = None) -> bool:
        """Global or per-rule dry-run on or off; returns whether anything changed."""
        if rule is not None and (enabled or rule not in self.mode.dry_run_rules):
            self.rule(rule)
        if rule is None or enabled:
            # The global switch is kept either way: it overrides the config file's `dry_run`.
            value = {"enabled": enabled, "reason": reason}
            await self.journal.set_control("dry_run", rule or GLOBAL, value, actor=actor)
        else:
            await self.journal.clear_control("dry_run", rule)
        if rule is None:
            changed = self.mode.dry_run != enabled
            self.mode.dry_run = enabled
        else:
            changed = (rule in self.mode.dry_run_rules) != enabled
            if enabled:
                self.mode.dry_run_rules.add(rule)
            else:
                self.mode.dry_run_rules.discard(rule)
        self.refresh_metrics()
        log.warning("dry-run set", by=actor, rule=rule, enabled=enabled, reason=reason, changed=changed)
        await self._audit(actor, "dry_run", reason, rule=rule, enabled=enabled, changed=changed)
        return changed

    def breaker_views(self) -> list[BreakerView]:
        return self.breaker.views()

    async def reset_breaker(self, *, actor: str, reason: str, key: str) -> BreakerView:
        """Close one breaker (`rule:namespace/Kind/name`): a human says the target is healthy again."""
        rule, sep, target = key.partition(":")
        view = next((v for v in self.breaker.views() if v.rule == rule and v.target == target), None)
        if not sep or view is None:
            raise NotFound(
                f"no circuit breaker {key[:300]!r}; GET /api/v1/breakers lists them (rule:ns/Kind/name)"
            )
        # Journaled first: after a restart the failures before this moment no longer count.
        await self.journal.set_control(
            "breaker_reset", key, {"reason": reason, "was": view.state}, actor=actor
        )
        self.breaker.reset(rule, target)
        # refresh_metrics only rewrites rules that still have breakers: zero this one first.
        self._metrics.set_breaker_state(rule, 0)
        self.breaker.refresh_metrics()
        log.warning("breaker reset", by=actor, rule=rule, target=target, reason=reason, was=view.state)
        await self._audit(actor, "breaker_reset", reason, rule=rule, target=target, was=view.state)
        return view

    # -- reload ------------------------------------------------------------------------------------------

    async def reload(self, *, actor: str, reason: str) -> ReloadResult:
        """Load every rule file into a new RuleSet and swap it in; any invalid file keeps the old one.

        Serialized: a SIGHUP and an API call at once must not race two swaps.
        """
        async with self._reload_lock:
            old = self._book.current()
            try:
                # File reads and YAML parsing off the event loop: webhooks keep being answered.
                new = await asyncio.to_thread(load_rules, list(self._rule_paths))
            except RuleLoadError as e:
                errors = [str(err) for err in e.errors]
                self._metrics.config_reloads.labels(result="failure").inc()
                log.error("rule reload failed; previous rules stay active", by=actor, errors=errors)
                self.last_reload = self._reload_note(actor, "failure", errors=len(errors))
                await self._audit(actor, "reload", reason, result="failure", errors=errors)
                raise ReloadFailed(
                    f"{len(errors)} error(s) in the rule files; the previous {len(old)} rules stay active",
                    detail=errors,
                ) from None
            old_by_name = {r.name: r for r in old}
            new_by_name = {r.name: r for r in new}
            result = ReloadResult(
                rules=len(new),
                files=len(new.files),
                added=sorted(set(new_by_name) - set(old_by_name)),
                removed=sorted(set(old_by_name) - set(new_by_name)),
                changed=sorted(
                    n for n in set(new_by_name) & set(old_by_name) if new_by_name[n] != old_by_name[n]
                ),
            )
            self._book.swap(new)  # the atomic switch: its subscribers declare the rules' metrics
            self._metrics.config_reloads.labels(result="success").inc()
            self.last_reload = self._reload_note(actor, "success", rules=len(new))
            log.info(
                "rules reloaded",
                by=actor,
                rules=len(new),
                added=result.added,
                removed=result.removed,
                changed=result.changed,
            )
            await self._audit(
                actor,
                "reload",
                reason,
                result="success",
                rules=len(new),
                added=result.added,
                removed=result.removed,
                changed=result.changed,
            )
            return result

    def _reload_note(self, actor: str, result: str, **extra: Any) -> dict[str, Any]:
        return {"at": self._clock.now().isoformat(), "by": actor, "result": result, **extra}

    # -- trigger and approvals ---------------------------------------------------------------------------

    async def trigger(
        self, *, actor: str, reason: str, rule_name: str, alert: Alert, dry_run: bool, by_target: bool
    ) -> Recorded:
        """Run one rule by hand through the real decider; dry-run unless the caller said otherwise.

        `by_target`: the alert was made up from a target, so it carries no value for the rule's `when`
        condition; the human's request stands in for it (every guard still applies).
        """
        rule = self.rule(rule_name)
        if not by_target:
            failing = [str(m) for m in rule.matchers if not m.matches(alert.labels)]
            if failing:
                raise BadRequest(
                    f"the alert does not match rule {rule.name!r}: {', '.join(failing)} does not hold",
                    detail=failing,
                )
        definition = replace(rule, condition=None) if by_target else rule
        mode = "dry-run" if dry_run else "real"
        if by_target and rule.condition is not None:
            mode += f", for a target: `when: {rule.condition}` not evaluated"
        async with self._hand_over.turn() as turn:  # the guards see every replica's actions
            decision = await self._decider.decide_rule(alert, definition, force_dry_run=dry_run)
            decision = replace(
                decision,
                reason=f"manual trigger by {actor} ({mode}): {reason or 'no reason given'}; "
                f"{decision.reason}",
            )
            [recorded] = await turn.record_batch(
                payload_ids=(), alerts=[alert], decisions=[(0, decision)], from_alerts=False
            )
        if not (recorded.execution_id is not None and decision.acts):
            await self._close_manual(alert, f"closed: the manual trigger decided {decision.outcome.value}")
        await self._audit(
            actor,
            "trigger",
            reason,
            rule=rule.name,
            target=decision.target.key if decision.target else None,
            dry_run=dry_run,
            outcome=decision.outcome.value,
            alert_id=recorded.alert_id,
            decision_id=recorded.decision_id,
            execution_id=recorded.execution_id,
        )
        return recorded

    async def approve(self, *, actor: str, approval_id: int, reason: str) -> tuple[dict[str, Any], Recorded]:
        """Approve a pending action: decide again with the stored alert and the loaded rule, with every
        guard but `approval` in force, journal that decision and hand its execution to the runner."""
        approval = await self._pending(approval_id)
        rule = self._book.current().get(approval["rule"])
        if rule is None:
            raise Conflict(
                f"approval #{approval_id}: rule {approval['rule']!r} is no longer loaded; reject it instead"
            )
        alert_id = approval["alert_id"]
        alert = await self.journal.get_alert(alert_id) if alert_id is not None else None
        if alert is None:
            raise Conflict(f"approval #{approval_id}: its alert is not in the journal; reject it instead")
        if not await self.journal.decide_approval(approval_id, status="approved", by=actor, note=reason):
            raise Conflict(f"approval #{approval_id} is no longer pending (decided or expired meanwhile)")
        async with self._hand_over.turn() as turn:  # the guards see every replica's actions
            decision = await self._decider.decide_rule(alert, rule, skip_guards=frozenset({"approval"}))
            decision = replace(
                decision,
                reason=f"approved by {actor} (approval #{approval_id}): {reason or 'no reason given'}; "
                f"{decision.reason}",
            )
            [recorded] = await turn.record([(alert_id, decision)])
        log.warning(
            "approved", by=actor, approval=approval_id, rule=rule.name, outcome=decision.outcome.value
        )
        await self._audit(
            actor,
            "approve",
            reason,
            approval_id=approval_id,
            rule=rule.name,
            target=approval["target"],
            outcome=decision.outcome.value,
            decision_id=recorded.decision_id,
            execution_id=recorded.execution_id,
        )
        updated = await self.journal.get_approval(approval_id)
        return updated or approval, recorded

    async def preview(self, approval: dict[str, Any]) -> Preview:
        """What approving `approval` (a journal approval row) would change if approved now: the loaded
        rule's actions on the target rendered from the stored alert, planned against the cluster. The
        guards are not asked (asking records nothing, but their verdict can change by the time a human
        approves); approving decides again with every guard but `approval`."""

        def unavailable(why: str, target: str | None = None, actions: tuple[ActionSpec, ...] = ()) -> Preview:
            return Preview(
                target=target, actions=actions, status="unavailable", summary="", error=why, changes=()
            )

        rule = self._book.get(approval["rule"])
        if rule is None:
            return unavailable(f"rule {approval['rule']!r} is no longer loaded")
        alert_id = approval.get("alert_id")
        alert = await self.journal.get_alert(alert_id) if alert_id is not None else None
        if alert is None:
            return unavailable("its alert is not in the journal", actions=rule.actions)
        target = rule.render_target(alert)
        if isinstance(target, str):
            return unavailable(target, actions=rule.actions)
        actions = rule.render_actions(alert)
        if isinstance(actions, str):
            return unavailable(actions, target=target.key, actions=rule.actions)
        if self._planner is None:
            return unavailable("no planner wired in this process", target=target.key, actions=actions)
        decision = Decision(
            alert=alert,
            rule=RuleName(rule.name),
            target=target,
            actions=actions,
            outcome=Outcome.DRY_RUN,
            reason=f"preview of approval #{approval['id']}",
            dry_run=True,
            decided_at=self._clock.now(),
        )
        update = await self._planner(decision)
        return Preview(
            target=target.key,
            actions=actions,
            status=update.status.value,
            summary=update.summary,
            error=update.error,
            changes=update.changes,
        )

    async def reject(self, *, actor: str, approval_id: int, reason: str) -> dict[str, Any]:
        approval = await self._pending(approval_id)
        if not await self.journal.decide_approval(approval_id, status="rejected", by=actor, note=reason):
            raise Conflict(f"approval #{approval_id} is no longer pending (decided or expired meanwhile)")
        log.warning("rejected", by=actor, approval=approval_id, rule=approval["rule"], reason=reason)
        await self._audit(
            actor, "reject", reason, approval_id=approval_id, rule=approval["rule"], target=approval["target"]
        )
        return await self.journal.get_approval(approval_id) or approval

    async def _pending(self, approval_id: int) -> dict[str, Any]:
        approval = await self.journal.get_approval(approval_id) if 0 < approval_id < 2**63 else None
        if approval is None:
            raise NotFound(f"no approval #{approval_id}")
        if approval["status"] != "pending":
            when = (
                datetime.fromtimestamp(approval["decided_at"], UTC).isoformat()
                if approval["decided_at"] is not None
                else "?"
            )
            by = f" by {approval['decided_by']}" if approval["decided_by"] else ""
            raise Conflict(
                f"approval #{approval_id} is {approval['status']}{by} at {when}, not pending",
                detail={"status": approval["status"], "decided_by": approval["decided_by"], "at": when},
            )
        return approval

    def execution_finished(self, decision: Decision, update: ExecutionUpdate) -> None:
        """The executor's hook. A manual trigger's incident closes when its execution ends: no
        Alertmanager will ever resolve an alert that a human made up, and an incident left firing
        would sit on the on-call's list forever."""
        if decision.alert.source != "manual":
            return
        action = "+".join(a.kind for a in decision.actions)
        target = decision.target.key if decision.target else "no target"
        note = f"closed: the manual trigger's {action} on {target} ended {update.status.value}"
        self._closing.spawn(self._close_manual(decision.alert, note), f"close-manual-{decision.rule}")

    async def _close_manual(self, alert: Alert, note: str) -> None:
        """Journal the resolution of a manual alert: its episode (fingerprint, startsAt), resolved now."""
        closed = replace(
            alert,
            status="resolved",
            ends_at=self._clock.now(),
            annotations={**alert.annotations, "summary": note},
            payload_id=None,
        )
        try:
            await self.journal.record_batch(payload_ids=(), alerts=[closed], decisions=[])
        except JournalUnavailable as e:
            log.error("manual incident not closed", fingerprint=alert.fingerprint, error=str(e))

    # -- incidents ------------------------------------------------------------------------------------

    async def acknowledge_incident(self, *, actor: str, incident_id: str, reason: str) -> IncidentRecord:
        """A human has the incident: its escalation ladder stops (its updates go on while it is open)."""
        found = (
            await self.incidents.acknowledge(incident_id, by=actor, reason=reason) if self.incidents else None
        )
        if found is None:
            raise NotFound(f"no open incident {incident_id[:64]!r}; GET /api/v1/incident-board lists them")
        log.warning("incident acknowledged", by=actor, incident=incident_id, reason=reason)
        await self._audit(actor, "acknowledge", reason, incident=incident_id)
        return found

    async def resolve_incident(self, *, actor: str, incident_id: str, reason: str) -> IncidentRecord:
        """A human declares the incident over: ladder, updates and watch stop, its pages are resolved."""
        desk = self.incidents
        found = await desk.resolve(incident_id, by=actor, reason=reason) if desk else None
        if found is None:
            raise NotFound(f"no open incident {incident_id[:64]!r}; GET /api/v1/incident-board lists them")
        log.warning("incident resolved by hand", by=actor, incident=incident_id, reason=reason)
        await self._audit(actor, "resolve_incident", reason, incident=incident_id)
        return found

    async def _audit(self, actor: str, action: str, reason: str, **detail: Any) -> None:
        await self.journal.record_audit(actor=actor, action=action, detail={**detail, "reason": reason})
