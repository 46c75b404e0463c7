"""The executor: runs an acting decision's actions off the decision path and journals the outcome.

Dry-run decisions record a plan (the diff `execute` would apply, read from the
live cluster when there is one). Real ones are marked running before the first
call, so a crash mid-action shows as interrupted and is decided again, never
replayed blindly. Transient errors are retried by the rule's retry policy.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence

import structlog

from remediator.actions.kube import KubeActions, static_plan
from remediator.actions.retry import RetryPolicy, call_with_retries
from remediator.clock import Clock
from remediator.errors import NotApplicableError, PermanentActionError, TransientActionError
from remediator.logs import get_logger
from remediator.metrics import Metrics
from remediator.model import ActionResult, Change, Decision, ExecutionId, ExecutionStatus
from remediator.store import ExecutionUpdate, Journal

log = get_logger("remediator.actions")


class ActionRunner:
    def __init__(
        self,
        *,
        journal: Journal,
        kube: KubeActions | None,
        metrics: Metrics,
        clock: Clock,
        retry: RetryPolicy,
        on_finished: Sequence[Callable[[Decision], None]] = (),
    ) -> None:
        self._journal = journal
        self._kube = kube
        self._metrics = metrics
        self._clock = clock
        self._retry = retry
        self._on_finished = list(on_finished)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, execution_id: ExecutionId, decision: Decision) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run(execution_id, decision), name=f"execution-{execution_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def running(self) -> int:
        return len(self._tasks)

    async def idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self, timeout_s: float = 30.0) -> None:
        """Let running executions finish; past the timeout cancel them (they show as interrupted)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _run(self, execution_id: ExecutionId, decision: Decision) -> None:
        assert decision.target is not None
        structlog.contextvars.bind_contextvars(
            execution_id=execution_id,
            rule=decision.rule,
            alert=decision.alert.fingerprint,
            target=decision.target.key,
        )
        action = "+".join(a.kind for a in decision.actions)
        started = time.perf_counter()
        try:
            update = (
                await self._plan(decision)
                if decision.dry_run
                else await self._execute(execution_id, decision)
            )
        except asyncio.CancelledError:
            raise  # left running in the journal: start-up marks it interrupted and decides again
        except Exception as e:  # a bug must not kill the daemon: journal it as a failure and say so
            log.exception("execution failed with an internal error")
            update = ExecutionUpdate(status=ExecutionStatus.FAILED, error=f"internal error: {e!r}")
        finally:
            for hook in self._on_finished:
                hook(decision)
        await self._journal.finish_execution(execution_id, update)
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

    async def _plan(self, decision: Decision) -> ExecutionUpdate:
        assert decision.target is not None
        results: list[ActionResult] = []
        try:
            for spec in decision.actions:
                if self._kube is None:
                    results.append(static_plan(spec, decision.target))
                else:
                    results.append(await self._kube.plan(spec, decision.target))
        except NotApplicableError as e:
            return _update(ExecutionStatus.SKIPPED, results, error=f"would skip: {e}")
        except (PermanentActionError, TransientActionError) as e:
            return _update(ExecutionStatus.FAILED, results, error=f"plan failed: {e}")
        return _update(ExecutionStatus.PLANNED, results)

    async def _execute(self, execution_id: ExecutionId, decision: Decision) -> ExecutionUpdate:
        assert decision.target is not None and self._kube is not None
        kube, target = self._kube, decision.target
        await self._journal.start_execution(execution_id)
        results: list[ActionResult] = []
        attempts = 0
        for spec in decision.actions:
            try:
                result, used = await call_with_retries(
                    functools.partial(kube.execute, spec, target), policy=self._retry, clock=self._clock
                )
            except NotApplicableError as e:
                return _update(ExecutionStatus.SKIPPED, results, attempts=attempts + 1, error=str(e))
            except (PermanentActionError, TransientActionError) as e:
                used = getattr(e, "attempts", 1)
                return _update(ExecutionStatus.FAILED, results, attempts=attempts + used, error=str(e))
            attempts += used
            results.append(result)
        return _update(ExecutionStatus.SUCCEEDED, results, attempts=attempts)


def _update(
    status: ExecutionStatus, results: list[ActionResult], *, attempts: int = 0, error: str | None = None
) -> ExecutionUpdate:
    changes: tuple[Change, ...] = tuple(c for r in results for c in r.changes)
    return ExecutionUpdate(
        status=status,
        attempts=attempts,
        error=error,
        changes=changes,
        summary="; ".join(r.summary for r in results),
    )
