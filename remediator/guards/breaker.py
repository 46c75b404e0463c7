"""Circuit breaker per rule and target.

closed -> open after K consecutive failed or unverified executions -> half-open
after `reset_after`, where one probe may act -> closed on success, open again on
failure. A probe that ends without a result (interrupted by a crash or a
take-over, skipped while acting) frees its slot: the next decision may probe.
An action that keeps failing is a signal for a human, not a reason to try
harder: opening the breaker escalates. State is rebuilt from the journal's
finished executions at start-up, so a restart does not close an open breaker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from remediator.clock import Clock
from remediator.config import BreakerSettings
from remediator.engine import Proposal, Verdict
from remediator.engine.reservations import Undo
from remediator.metrics import Metrics
from remediator.model import Decision, Outcome
from remediator.rules import Rule

CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
_GAUGE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


@dataclass
class _State:
    failures: int = 0
    opened_at: datetime | None = None
    probe_at: datetime | None = None
    """When the half-open probe running now was decided (None: no probe runs): only its end frees it."""
    threshold: int = 3
    reset_after_s: float = 1800.0


@dataclass(frozen=True, kw_only=True)
class BreakerView:
    rule: str
    target: str
    state: str
    failures: int
    opened_at: datetime | None
    half_open_at: datetime | None


class CircuitBreaker:
    name = "breaker"

    def __init__(
        self,
        *,
        settings: BreakerSettings,
        clock: Clock,
        metrics: Metrics,
        on_open: Callable[[Decision, str], None] | None = None,
    ) -> None:
        self._s = settings
        self._clock = clock
        self._metrics = metrics
        self._on_open = on_open
        self._states: dict[tuple[str, str], _State] = {}

    def _policy(self, rule: Rule | None) -> tuple[int, float]:
        own = rule.guards.breaker if rule is not None else None
        if own is not None:
            return own.failures, own.reset_after_s
        return self._s.failures, self._s.reset_after

    def _state_of(self, st: _State, now: datetime) -> str:
        if st.opened_at is None:
            return CLOSED
        if now - st.opened_at >= timedelta(seconds=st.reset_after_s):
            return HALF_OPEN
        return OPEN

    async def check(self, proposal: Proposal) -> Verdict | None:
        return self.verdict(proposal)

    def verdict(self, proposal: Proposal) -> Verdict | None:
        """`check`, answered from memory without awaiting (the decider's fast path)."""
        if proposal.dry_run:
            return None
        st = self._states.get((proposal.rule, proposal.target.key))
        if st is None:
            return None
        now = self._clock.now()
        state = self._state_of(st, now)
        if state == OPEN:
            assert st.opened_at is not None
            at = (st.opened_at + timedelta(seconds=st.reset_after_s)).isoformat()
            return Verdict(
                outcome=Outcome.BREAKER_OPEN,
                reason=f"circuit breaker open for {proposal.target.key}: {st.failures} consecutive failures; "
                f"half-open at {at}",
            )
        if state == HALF_OPEN and st.probe_at is not None:
            return Verdict(
                outcome=Outcome.BREAKER_OPEN,
                reason=f"circuit breaker half-open for {proposal.target.key}: a probe is already running",
            )
        return None

    def record(self, decision: Decision) -> Undo | None:
        if decision.dry_run or decision.target is None:
            return None
        st = self._states.get((decision.rule, decision.target.key))
        at = decision.decided_at
        if st is not None and self._state_of(st, at) == HALF_OPEN and st.probe_at is None:
            st.probe_at = at

            def undo() -> None:
                if st.probe_at == at:
                    st.probe_at = None

            return undo
        return None

    def note_act(self, rule: str, target: str, *, at: datetime) -> None:
        """A real action decided on another replica: if half-open, that one is the probe."""
        st = self._states.get((rule, target))
        if st is not None and self._state_of(st, at) == HALF_OPEN and st.probe_at is None:
            st.probe_at = at

    def forget_probe(self, rule: str, target: str, *, at: datetime) -> bool:
        """The real action decided at `at` ended without a result (interrupted, queued or running;
        skipped while acting): if it was the half-open probe, none runs now and the next decision may
        probe. True when it was the probe: the one running, or, with none running (state rebuilt at
        start-up, which holds no probe), an action decided while half-open, which only a probe is."""
        st = self._states.get((rule, target))
        if st is None:
            return False
        if st.probe_at == at:
            st.probe_at = None
            return True
        return st.probe_at is None and self._state_of(st, at) == HALF_OPEN

    def clear(self) -> None:
        """Before a rebuild from the journal."""
        self._states.clear()

    def result(self, decision: Decision, *, ok: bool, rule: Rule | None, error: str = "") -> None:
        """An execution finished: success closes, failure counts (and opens or re-opens)."""
        if decision.dry_run or decision.target is None:
            return
        self._apply(
            decision.rule,
            decision.target.key,
            ok=ok,
            at=self._clock.now(),
            rule=rule,
            decision=decision,
            error=error,
        )

    def _apply(
        self,
        rule_name: str,
        target: str,
        *,
        ok: bool,
        at: datetime,
        rule: Rule | None,
        decision: Decision | None = None,
        error: str = "",
    ) -> None:
        threshold, reset_after = self._policy(rule)
        st = self._states.setdefault((rule_name, target), _State())
        st.threshold, st.reset_after_s = threshold, reset_after
        was_probe = st.probe_at is not None
        st.probe_at = None
        if ok:
            st.failures, st.opened_at = 0, None
        else:
            st.failures += 1
            if was_probe or (st.opened_at is None and st.failures >= threshold):
                st.opened_at = at
                if decision is not None and self._on_open is not None:
                    self._on_open(
                        decision, f"circuit breaker opened after {st.failures} consecutive failures: {error}"
                    )
        self.refresh_metrics()

    def load(
        self,
        outcomes: list[tuple[str, str, bool, datetime]],
        rules: Callable[[str], Rule | None],
        *,
        resets: Mapping[tuple[str, str], datetime] | None = None,
    ) -> None:
        """Replay finished real executions (rule, target, ok, finished_at), oldest first. Those that
        finished before a human reset that breaker (`resets`, from the journal) no longer count."""
        resets = resets or {}
        for rule_name, target, ok, at in outcomes:
            reset_at = resets.get((rule_name, target))
            if reset_at is not None and at <= reset_at:
                continue
            self._apply(rule_name, target, ok=ok, at=at, rule=rules(rule_name))

    def reset(self, rule: str, target: str) -> bool:
        return self._states.pop((rule, target), None) is not None

    def views(self) -> list[BreakerView]:
        now = self._clock.now()
        out = []
        for (rule, target), st in sorted(self._states.items()):
            state = self._state_of(st, now)
            half = st.opened_at + timedelta(seconds=st.reset_after_s) if st.opened_at else None
            out.append(
                BreakerView(
                    rule=rule,
                    target=target,
                    state=state,
                    failures=st.failures,
                    opened_at=st.opened_at,
                    half_open_at=half,
                )
            )
        return out

    def refresh_metrics(self) -> None:
        """Per rule, the worst state among its targets (time moves open breakers to half-open)."""
        worst: dict[str, int] = {}
        for view in self.views():
            worst[view.rule] = max(worst.get(view.rule, 0), _GAUGE[view.state])
        for rule, value in worst.items():
            self._metrics.set_breaker_state(rule, value)
