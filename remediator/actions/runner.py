"""The executor: runs an acting decision's actions off the decision path and journals the outcome.

Dry-run decisions record a plan (the diff `execute` would apply, read from the
live cluster when there is one). Real ones are marked running before the first
call, so a crash mid-action shows as interrupted and is decided again, never
replayed blindly; before every attempt the runner asks the journal whether the execution
is still its own (a replica whose lease lapsed may have had it taken over and decided again),
and applies nothing more once it is not. Transient errors are retried by the rule's retry policy; a
success is then verified as the rule asks. Failures (and unverified successes)
feed the circuit breaker and run the rule's `on_failure` steps.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from remediator.actions.attempts import Attempts
from remediator.actions.canary import Resolutions, canary_window_s, undo_if_still_firing
from remediator.actions.dispatch import ActionRouter
from remediator.actions.evidence import EvidenceRecorder
from remediator.actions.lease_fence import LeaseFence, TakenOver
from remediator.actions.protocols import Escalation, IncidentMessages, Verifier
from remediator.actions.retry import RetryPolicy, attempts_of, call_with_retries
from remediator.clock import Clock
from remediator.errors import (
    TRY_LATER,
    NotApplicableError,
    PermanentActionError,
    TransientActionError,
    TryLaterError,
)
from remediator.kube.fence import fenced
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import (
    ActionResult,
    ActionSpec,
    Change,
    Decision,
    ExecutionId,
    ExecutionStatus,
    Target,
)
from remediator.rules import Rule
from remediator.store import ExecutionUpdate, PipelineJournal
from remediator.tasks import TaskSet

log = get_logger("remediator.actions")

Finished = Callable[[Decision, ExecutionUpdate], None]


class ActionRunner:
    def __init__(
        self,
        *,
        journal: PipelineJournal,
        actions: ActionRouter,
        metrics: Metrics,
        clock: Clock,
        retry: RetryPolicy,
        rules: Callable[[str], Rule | None] = lambda name: None,
        verifier: Verifier | None = None,
        escalator: Escalation | None = None,
        comms: IncidentMessages | None = None,
        max_pods_per_delete: int = 3,
        on_finished: Sequence[Finished] = (),
        resolutions: Resolutions | None = None,
        poll_s: float = 5.0,
        evidence: EvidenceRecorder | None = None,
    ) -> None:
        self._journal = journal
        self._actions = actions
        self._metrics = metrics
        self._clock = clock
        self._retry = retry
        self._rules = rules
        self._verifier = verifier
        self._escalator = escalator
        self._comms = comms
        self._max_pods = max_pods_per_delete
        self._on_finished = list(on_finished)
        self._resolutions = resolutions
        self._poll_s = poll_s
        self._evidence = evidence
        self._tasks = TaskSet()

    def on_finished(self, hook: Finished) -> None:
        """Call `hook` with each execution's decision and outcome once it is journaled."""
        self._on_finished.append(hook)

    def submit(self, execution_id: ExecutionId, decision: Decision) -> None:
        self._tasks.spawn(self._run(execution_id, decision), f"execution-{execution_id}")

    def running(self) -> int:
        return len(self._tasks)

    async def idle(self) -> None:
        await self._tasks.idle()

    async def aclose(self, timeout_s: float = 30.0) -> None:
        await self._tasks.aclose(timeout_s)

    def _policy(self, rule: Rule | None) -> RetryPolicy:
        own = rule.guards.retry if rule is not None else None
        if own is None:
            return self._retry
        return replace(
            self._retry,
            attempts=own.attempts,
            backoff_min_s=own.backoff_min_s if own.backoff_min_s is not None else self._retry.backoff_min_s,
            backoff_max_s=own.backoff_max_s if own.backoff_max_s is not None else self._retry.backoff_max_s,
        )

    def _clamp(self, spec: ActionSpec) -> ActionSpec:
        """The blast-radius cap on pods per delete applies whatever the rule asks."""
        if spec.kind == "delete_pod" and int(spec.params.get("max") or 1) > self._max_pods:
            return replace(spec, params={**spec.params, "max": self._max_pods})
        return spec

    async def _run(self, execution_id: ExecutionId, decision: Decision) -> None:
        assert decision.target is not None
        structlog.contextvars.bind_contextvars(
            execution_id=execution_id,
            rule=decision.rule,
            alert=decision.alert.fingerprint,
            target=decision.target.key,
        )
        rule = self._rules(decision.rule)
        action = "+".join(a.kind for a in decision.actions)
        started = time.perf_counter()
        started_at = self._clock.now()
        try:
            if decision.dry_run:
                update = await self._plan(decision)
            else:
                if not await self._journal.start_execution(execution_id):
                    self._not_started(decision)
                    return
                if self._comms is not None:
                    self._comms.acting(decision, rule, execution_id=execution_id)
                update = await self._execute(execution_id, decision, rule)
                verifying = rule is not None and rule.verify is not None and self._verifier is not None
                if update.status is ExecutionStatus.SUCCEEDED and verifying:
                    # Said now: verification can take minutes, and on-call should not wait that long
                    # to learn that the cluster was changed.
                    log.info("applied, verifying", attempts=update.attempts, summary=update.summary)
                    update = await self._verify_silenced(execution_id, decision, rule, update, started_at)
        except asyncio.CancelledError:
            raise  # left running in the journal: start-up marks it interrupted and decides again
        except Exception as e:  # a bug must not kill the daemon: journal it as a failure and say so
            log.exception("execution failed with an internal error")
            update = ExecutionUpdate(status=ExecutionStatus.FAILED, error=f"internal error: {e!r}")
        journaled = await self._journal.finish_execution(execution_id, update)
        if journaled or update.status is ExecutionStatus.INTERRUPTED:  # as the journal has it
            for hook in self._on_finished:
                hook(decision, update)
        else:
            self._taken_over_meanwhile(decision, action, update)
        self._metrics.executions.labels(action=action, status=update.status.value).inc()
        if not decision.dry_run:
            self._metrics.action_duration.labels(action=action).observe(time.perf_counter() - started)
        log.info(
            "execution finished",
            status=update.status.value,
            dry_run=decision.dry_run,
            attempts=update.attempts,
            summary=update.summary,
            error=update.error,
        )
        if not decision.dry_run and self._comms is not None:
            self._comms.finished(decision, rule, update, execution_id=execution_id)
        if not journaled:
            return  # the replica that took it over decided it again: escalating is its call now
        if update.status is ExecutionStatus.FAILED and not decision.dry_run and self._escalator is not None:
            self._escalator.escalate(
                decision, rule, reason=update.error or "failed", execution_id=execution_id
            )

    def _taken_over_meanwhile(self, decision: Decision, action: str, update: ExecutionUpdate) -> None:
        """It ended after another replica took it over (this one's lease lapsed while it ran): the
        journal keeps it interrupted, counted as possibly applied, and decided again there. The hooks
        learn what the journal says, not how it ended here: a try-later end must not drop a cooldown
        the journal still counts, nor a failure count toward a breaker the journal never fed. What
        this replica did is said in the log, for on-call."""
        log.error(
            "execution ended after another replica took it over; its end is not journaled",
            status=update.status.value,
            attempts=update.attempts,
            summary=update.summary,
            error=update.error,
        )
        self._metrics.execution_ends_unjournaled.labels(action=action, status=update.status.value).inc()
        journaled = ExecutionUpdate(
            status=ExecutionStatus.INTERRUPTED,
            error=f"taken over by another replica while running: it ended {update.status.value} here",
        )
        for hook in self._on_finished:
            hook(decision, journaled)

    def _not_started(self, decision: Decision) -> None:
        """The journal no longer has it pending: another replica took it over (this one was presumed
        dead) and decided it again. Running it now could apply it twice: free its slots, do nothing."""
        log.warning("execution not started: another replica took it over")
        update = ExecutionUpdate(status=ExecutionStatus.INTERRUPTED, error="taken over by another replica")
        for hook in self._on_finished:
            hook(decision, update)

    async def _verify_silenced(
        self,
        execution_id: ExecutionId,
        decision: Decision,
        rule: Rule | None,
        update: ExecutionUpdate,
        started_at: datetime,
    ) -> ExecutionUpdate:
        """Verify with the alert silenced (if the rule asks), and lift the silence however it ends."""
        silence_id = None
        if self._comms is not None and rule is not None and rule.verify is not None:
            window = rule.verify.window_s or 900.0
            silence_id = await self._comms.silence(decision, rule, execution_id=execution_id, window_s=window)
        try:
            verified = await self._verify(decision, rule, update, started_at)
            if verified.status is ExecutionStatus.FAILED:
                await self._capture(decision, execution_id, "when verification gave up")
            return verified
        finally:
            if silence_id is not None and self._comms is not None:
                await self._comms.unsilence(silence_id, decision, rule, execution_id=execution_id)

    async def _verify(
        self, decision: Decision, rule: Rule | None, update: ExecutionUpdate, started_at: datetime
    ) -> ExecutionUpdate:
        assert self._verifier is not None
        result = await self._verifier.verify(decision, rule, started_at=started_at)
        if result is None:
            return update
        if not result.ok:
            return replace(update, status=ExecutionStatus.FAILED, error=result.detail)
        self._metrics.time_to_remediate.observe(
            max(0.0, (self._clock.now() - decision.alert.starts_at).total_seconds())
        )
        return replace(update, summary=f"{update.summary}; {result.detail}")

    async def preview(self, decision: Decision) -> ExecutionUpdate:
        """What `decision` would change, read from the live cluster as a dry-run plans it, changing and
        journaling nothing: the console shows it on a pending approval before a human decides."""
        return await self._plan(decision)

    async def _capture(self, decision: Decision, execution_id: ExecutionId, moment: str) -> None:
        if self._evidence is not None:
            await self._evidence.capture(decision, execution_id=execution_id, moment=moment)

    async def _plan(self, decision: Decision) -> ExecutionUpdate:
        assert decision.target is not None
        results: list[ActionResult] = []
        try:
            for spec in decision.actions:
                results.append(await self._actions.plan(self._clamp(spec), decision.target))
        except NotApplicableError as e:
            return _update(ExecutionStatus.SKIPPED, results, error=f"would skip: {e}")
        except (PermanentActionError, TransientActionError) as e:
            return _update(ExecutionStatus.FAILED, results, error=f"plan failed: {e}")
        return _update(ExecutionStatus.PLANNED, results)

    async def _attempt(
        self, execution_id: ExecutionId, spec: ActionSpec, target: Target, scope: Attempts
    ) -> ActionResult:
        """One attempt of one action, only while the execution is still this replica's to run.

        Asked before every attempt, retries included: a replica starved long enough for its lease
        to lapse may have had this execution taken over and decided again by another, and whatever
        it applied now would be applied a second time. Each write is fenced too (actions/lease_fence):
        sent only while the lease covers its whole timeout, so it cannot land after a take-over."""
        fence = LeaseFence(
            journal=self._journal, clock=self._clock, execution_id=execution_id, action=spec.kind
        )
        try:
            await fence.renew()
        except TakenOver:
            log.warning("execution taken over by another replica: not applied", action=spec.kind)
            raise
        try:
            with fenced(fence):
                return await self._actions.execute(spec, target, attempts=scope)
        except TakenOver:
            log.warning("execution taken over by another replica: its next write not sent", action=spec.kind)
            raise
        except TransientActionError:
            # A timeout, a reset or a 5xx after the write went out says nothing about whether it
            # landed; a definite refusal (403, 422, a failed Job) is a PermanentActionError.
            if scope.sent:
                scope.answer_lost = True
            raise

    async def _execute(
        self, execution_id: ExecutionId, decision: Decision, rule: Rule | None
    ) -> ExecutionUpdate:
        assert decision.target is not None
        target = decision.target
        policy = self._policy(rule)
        results: list[ActionResult] = []
        attempts = 0
        started_at = self._clock.now()
        await self._capture(decision, execution_id, "before acting")
        for index, spec in enumerate(decision.actions):
            spec = self._clamp(spec)
            if spec.kind == "run_job":
                # One name per execution and step: a retry finds the Job it created instead of a second.
                name = f"rmd-{execution_id}-{index}-{decision.rule}"[:63].rstrip("-")
                spec = replace(spec, params={**spec.params, "job_name": name})
            # One scope per action, shared by its retries: a retry must not apply a landed write again.
            scope = Attempts(execution_id=execution_id, started_at=started_at)
            try:
                result, used = await call_with_retries(
                    functools.partial(self._attempt, execution_id, spec, target, scope),
                    policy=policy,
                    clock=self._clock,
                )
            except TakenOver as e:
                return _update(ExecutionStatus.INTERRUPTED, results, attempts=attempts, error=str(e))
            except TryLaterError as e:
                error = f"{TRY_LATER}{e}"
                return _update(ExecutionStatus.SKIPPED, results, attempts=attempts + 1, error=error)
            except NotApplicableError as e:
                return _update(ExecutionStatus.SKIPPED, results, attempts=attempts + 1, error=str(e))
            except (PermanentActionError, TransientActionError) as e:
                used = getattr(e, "attempts", 1)
                await self._capture(decision, execution_id, f"after {spec.kind} failed")
                error = str(e)
                if scope.answer_lost:
                    # Failed is not "nothing changed": on-call must check the target, not assume.
                    error += f" ({MAY_HAVE_LANDED})"
                return _update(ExecutionStatus.FAILED, results, attempts=attempts + used, error=error)
            attempts += used
            results.append(result)
            await self._capture(decision, execution_id, f"after {spec.kind}")
        window_s = canary_window_s(decision.actions)
        if window_s is None or self._resolutions is None:
            return _update(ExecutionStatus.SUCCEEDED, results, attempts=attempts)

        async def run(spec: ActionSpec) -> ActionResult:
            nonlocal attempts
            scope = Attempts(execution_id=execution_id, started_at=self._clock.now())
            result, used = await call_with_retries(
                functools.partial(self._attempt, execution_id, spec, target, scope),
                policy=policy,
                clock=self._clock,
            )
            attempts += used
            return result

        try:
            undone, note = await undo_if_still_firing(
                decision,
                window_s=window_s,
                started_at=self._clock.now(),
                clock=self._clock,
                resolutions=self._resolutions,
                poll_s=self._poll_s,
                run=run,
            )
        except TakenOver as e:
            return _update(ExecutionStatus.INTERRUPTED, results, attempts=attempts, error=str(e))
        except (NotApplicableError, PermanentActionError, TransientActionError) as e:
            # Still bad and no way back: the canary stays paused, and a human must hear of it.
            error = f"canary still firing after the pause; rollback not possible: {e}"
            return _update(ExecutionStatus.FAILED, results, attempts=attempts + attempts_of(e), error=error)
        if undone is not None:
            results.append(undone)
        return _update(ExecutionStatus.SUCCEEDED, results, attempts=attempts, note=note)


MAY_HAVE_LANDED = "a write was sent and its answer lost: it may have been applied"


def _update(
    status: ExecutionStatus,
    results: list[ActionResult],
    *,
    attempts: int = 0,
    error: str | None = None,
    note: str | None = None,
) -> ExecutionUpdate:
    changes: tuple[Change, ...] = tuple(c for r in results for c in r.changes)
    summaries = [r.summary for r in results if not (note and r.summary in note)]
    return ExecutionUpdate(
        status=status,
        attempts=attempts,
        error=error,
        changes=changes,
        summary="; ".join([*summaries, *([note] if note else [])]),
    )
