"""Run rule tests through the real daemon: `run_rule_tests(paths, out=..., verbose=...)`.

Each test gets a fresh world: a FakeKubeServer seeded with the test's cluster, a journal in a
temporary directory, and `open_app` with `kubernetes.mode: kubeconfig` pointing at the fake,
so normalizing, matching, guards, actions and journaling are the production path, not a model
of it. Alerts enter as Alertmanager v4 payloads through `journal.accept`, exactly where the
webhook puts them.

Time is a FakeClock in manual mode, shared by the engine and the fake API server (object
timestamps, `rolled_out`). Between alert times the runner moves it from one wake-up to the
next, so whatever sleeps on it (retry backoff, verification polls) runs at the simulated time
it asked for, cooldowns, rate limits and verification windows follow simulated time, and an
hour-long test takes milliseconds. After each step the runner waits until the engine has nothing left to do at
that simulated time; after the last step it runs the clock forward (up to a day) until every
execution has finished, and only then compares.

Nothing leaves the process: the runner owns the journal, Kubernetes and every outside service
(PagerDuty, Alertmanager, Prometheus, chat), and leaves the latter unconfigured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any, TextIO

import structlog

from remediator.app import Application, open_app
from remediator.clock import FakeClock
from remediator.config import (
    AlertmanagerSettings,
    AuthSettings,
    JournalSettings,
    KubeSettings,
    PrometheusSettings,
    SchedulerSettings,
    Settings,
)
from remediator.ruletest.cluster import compare, seed
from remediator.ruletest.decisions import GotDecision, align
from remediator.ruletest.loader import RuleTestCase, RuleTestFileError, load_test_file
from remediator.ruletest.outside import (
    Outside,
    compare_incidents,
    compare_messages,
    compare_pages,
    serve_outside,
    settings_for,
)
from remediator.ruletest.report import CaseResult, case_lines, file_errors, summary
from remediator.ruletest.schema import AcknowledgeSpec, AlertSpec, ApprovalSpec
from remediator.ruletest.services import StubResolver, StubServices, compare_requests, serve_stubs
from remediator.store.incidents import IncidentRecord
from remediator.testing.fake_kube import FakeKubeServer

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""Simulated time of `at: 0s`. Fixed, so reasons and timestamps are the same on every run."""

TEST_FILE_SUFFIXES = (".yaml", ".yml")
_SETTLE_TIMEOUT_S = 10.0
"""Real seconds the engine may take to act on one step before the test is reported as stuck."""
_POLL_S = 0.002
_YIELDS = 5
_RUN_OUT_STEP_S = 60.0
_RUN_OUT_HORIZON_S = 86400.0
_MAX_ROWS = 100_000
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"


class RuleTestRunError(Exception):
    """The test's script cannot be played (an approval with nothing pending): the test fails with it."""


class SimClock(FakeClock):
    """A manual FakeClock that knows the deadlines of the sleeps in progress.

    The runner steps it from one deadline to the next itself (`next_deadline`, `advance`), and
    tells an engine waiting for simulated time (verification polls, retry backoff) from one still
    working by comparing `sleeping` with the executions running. A sleep counts from the moment it
    starts until its deadline passes, not until its task resumes, so a task just woken is busy.
    """

    def __init__(self, start: datetime) -> None:
        super().__init__(start, autojump=False)
        self._start = start
        self._deadlines: list[float] = []

    def now(self) -> datetime:
        """Start plus elapsed simulated time, rounded to the microsecond. FakeClock adds each float
        step to a datetime, which drifts by microseconds over many wake-ups; then `at: 5m` would
        read "299.999999s ago" in a reason and stamp restartedAt a second early."""
        return self._start + timedelta(microseconds=round(self.monotonic() * 1_000_000))

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + max(seconds, 0.0)
        self._deadlines.append(deadline)
        try:
            await super().sleep(seconds)
        finally:
            self._deadlines.remove(deadline)

    @property
    def sleeping(self) -> int:
        """Sleeps whose deadline is still ahead."""
        now = self.monotonic()
        return sum(1 for d in self._deadlines if d > now)

    def next_deadline(self) -> float | None:
        now = self.monotonic()
        return min((d for d in self._deadlines if d > now), default=None)


def run_rule_tests(paths: Sequence[Path], *, out: TextIO, verbose: bool = False) -> int:
    """Run every test in `paths` (files, or directories searched for *.yaml); print to `out`.

    Exit status: 0 every test passed, 1 a test failed, 2 a test file is invalid (or missing).
    """
    return asyncio.run(run_rule_tests_async(paths, out=out, verbose=verbose))


async def run_rule_tests_async(paths: Sequence[Path], *, out: TextIO, verbose: bool = False) -> int:
    """`run_rule_tests` for callers that already run an event loop (tests)."""
    passed = failed = invalid = 0
    files, missing = find_test_files(paths)
    for path in missing:
        print(f"{path}: no such test file or directory", file=out)
        invalid += 1
    if not files and not missing:
        print(f"no test files (*.yaml) in {', '.join(str(p) for p in paths) or 'no paths'}", file=out)
        invalid += 1
    for path in files:
        try:
            loaded = load_test_file(path)
        except RuleTestFileError as e:
            _print(out, file_errors(path, e.errors))
            invalid += 1
            continue
        print(f"{path}", file=out)
        for case in loaded.cases:
            result = await run_case(case, verbose=verbose)
            _print(out, case_lines(result, verbose=verbose))
            if result.passed:
                passed += 1
            else:
                failed += 1
    print(file=out)
    print(summary(passed=passed, failed=failed, invalid=invalid), file=out)
    return 2 if invalid else 1 if failed else 0


def find_test_files(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(test files in run order, paths that do not exist). Directories are searched recursively;
    names starting with `.` are skipped, as the rule loader does."""
    files: list[Path] = []
    missing: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in TEST_FILE_SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files.extend(f for f in found if f not in files)
        elif path.is_file():
            if path not in files:
                files.append(path)
        else:
            missing.append(path)
    return files, missing


async def run_case(
    case: RuleTestCase, *, verbose: bool = False, prepare: Callable[[FakeKubeServer], None] | None = None
) -> CaseResult:
    """Run one test in a fresh world. Never raises for a problem in the test or the engine:
    that becomes the result's `error`, so one broken test does not hide the others.

    `prepare` adjusts the fake cluster once it is seeded (tests inject API faults with it)."""
    # The engine logs JSON lines on stdout; captured here they neither interleave with the
    # report nor get lost: `--verbose` prints them under a failing test.
    with (
        structlog.testing.capture_logs() as log,
        tempfile.TemporaryDirectory(prefix="remediator-test-") as tmp,
    ):
        try:
            return await _run(case, Path(tmp), log, prepare)
        except Exception as e:
            error = traceback.format_exc() if verbose else "\n".join(_leaves(e))
            return CaseResult(case=case, error=error.rstrip(), log=[dict(entry) for entry in log])


async def _run(
    case: RuleTestCase,
    tmp: Path,
    log: list[MutableMapping[str, Any]],
    prepare: Callable[[FakeKubeServer], None] | None,
) -> CaseResult:
    clock = SimClock(EPOCH)
    stubs = StubServices(case.services, now=clock.now, start=EPOCH)
    async with (
        FakeKubeServer(clock=clock.now) as kube,
        serve_stubs(stubs) as resolver,
        serve_outside(Outside(now=clock.now, start=EPOCH)) as outside,
    ):
        pagerduty, notify, env = settings_for(case.settings, outside)
        settings = _settings(case, tmp, kube.write_kubeconfig(tmp / "kubeconfig"))
        settings = settings.model_copy(update={"pagerduty": pagerduty, "notify": notify})
        with _environment({**case.secrets, **env}):
            return await _run_world(case, settings, log, prepare, clock, kube, stubs, resolver, outside)


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """The test's `secrets:` as environment variables for its duration, the previous values restored."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


async def _run_world(
    case: RuleTestCase,
    settings: Settings,
    log: list[MutableMapping[str, Any]],
    prepare: Callable[[FakeKubeServer], None] | None,
    clock: SimClock,
    kube: FakeKubeServer,
    stubs: StubServices,
    resolver: StubResolver,
    outside: Outside,
) -> CaseResult:
    seed(kube, case.cluster, start=EPOCH)
    if prepare is not None:
        prepare(kube)
    ticker: asyncio.Task[None] | None = None
    try:
        async with open_app(settings, clock=clock, outbound_resolver=resolver) as app:
            await _settle(app, clock)
            await _play(app, clock, case.alerts, (*case.approvals, *case.acknowledgements))
            finished = await _run_out(app, clock)
            if case.until is not None and case.until > clock.monotonic():
                await _advance(app, clock, case.until - clock.monotonic())
            got = await _decisions(app)
            incidents = await _incidents(app) if case.expect.incidents is not None else []
            # Leaving open_app waits for running executions; keep simulated time moving so an
            # execution still waiting on it (the horizon was reached) ends instead of hanging.
            ticker = asyncio.create_task(_keep_time_moving(clock), name="ruletest-ticker")
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
    error = None
    if not finished:
        error = f"executions still running after {_RUN_OUT_HORIZON_S / 3600:g}h of simulated time"
    return CaseResult(
        case=case,
        got=got,
        rows=align(case.expect.decisions, got) if case.expect.decisions is not None else None,
        cluster_diffs=compare(kube, case.expect.cluster) if case.expect.cluster is not None else [],
        request_diffs=(
            compare_requests(case.expect.requests, stubs.requests) if case.expect.requests is not None else []
        ),
        outside_diffs=[
            *(compare_pages(e.pages, outside.pages) if (e := case.expect).pages is not None else []),
            *(compare_messages(e.notifications, outside.messages) if e.notifications is not None else []),
            *(compare_incidents(e.incidents, incidents) if e.incidents is not None else []),
        ],
        error=error,
        log=[dict(entry) for entry in log],
    )


def _settings(case: RuleTestCase, tmp: Path, kubeconfig: Path) -> Settings:
    return case.settings.model_copy(
        update={
            "journal": JournalSettings(path=tmp / "journal.sqlite", synchronous="normal"),
            "kubernetes": KubeSettings(mode="kubeconfig", kubeconfig=kubeconfig, call_timeout=5.0),
            "rules": tuple(p.resolve() for p in case.rule_paths),
            "auth": AuthSettings(webhook_token=None, api_tokens=()),
            "alertmanager": AlertmanagerSettings(),
            "prometheus": PrometheusSettings(),
            # One process: timers it schedules wake it; no other replica to poll for.
            "scheduler": SchedulerSettings(poll_interval=_RUN_OUT_HORIZON_S),
        }
    )


async def _play(
    app: Application,
    clock: SimClock,
    alerts: Sequence[AlertSpec],
    approvals: Sequence[ApprovalSpec | AcknowledgeSpec] = (),
) -> None:
    """Send the alerts, give the approvals and acknowledgements at their times: at the same time alerts
    first, in file order, each step settled before the next."""
    steps: list[tuple[float, int, AlertSpec | ApprovalSpec | AcknowledgeSpec]] = [
        (t, i, a) for i, a in enumerate(alerts) for t in a.at
    ]
    steps += [(a.at, len(alerts) + i, a) for i, a in enumerate(approvals)]
    timeline = sorted(steps, key=lambda e: (e[0], e[1]))
    episodes: dict[tuple[tuple[str, str], ...], datetime] = {}
    now = 0.0
    for at, step in groupby(timeline, key=lambda e: e[0]):
        if at > now:
            await _advance(app, clock, at - now)  # what is due by `at` happens before its alerts
            now = at
        for _, _, item in step:
            if isinstance(item, ApprovalSpec):
                await _approve(app, item)
            elif isinstance(item, AcknowledgeSpec):
                await _acknowledge(app, item)
            else:
                await app.journal.accept("alertmanager", _payload(item, sent=clock.now(), episodes=episodes))
            await _settle(app, clock)


async def _approve(app: Application, approval: ApprovalSpec) -> None:
    """Approve the oldest pending approval of the rule, as `POST /api/v1/approvals/{id}/approve` does."""
    assert app.operator is not None
    pending = [a for a in await app.journal.approvals(status="pending") if a["rule"] == approval.rule]
    if not pending:
        raise RuleTestRunError(
            f"approve at {approval.at:g}s: no pending approval of rule {approval.rule!r} to approve"
        )
    oldest = min(pending, key=lambda a: int(a["id"]))
    await app.operator.approve(actor=approval.by, approval_id=int(oldest["id"]), reason="rule test")


async def _acknowledge(app: Application, ack: AcknowledgeSpec) -> None:
    """Acknowledge the rule's incident, as `POST /api/v1/incident-board/{id}/acknowledge` does."""
    live = [i for i in app.desk.live() if i.rule == ack.rule and i.state != "resolved"]
    if not live:
        raise RuleTestRunError(f"acknowledge at {ack.at:g}s: no incident of rule {ack.rule!r} to acknowledge")
    await app.desk.acknowledge(live[0].id, by=ack.by, reason="rule test")


async def _incidents(app: Application) -> list[tuple[IncidentRecord, list[str]]]:
    """Every incident, in the order they opened, with its timeline's event kinds."""
    found = list(reversed(await app.journal.incidents(limit=_MAX_ROWS)))
    return [(i, [e.kind for e in await app.journal.incident_events(i.id)]) for i in found]


def _payload(
    alert: AlertSpec, *, sent: datetime, episodes: dict[tuple[tuple[str, str], ...], datetime]
) -> bytes:
    """One Alertmanager v4 webhook body carrying one alert.

    `startsAt` behaves as Alertmanager's: repeats of a firing alert keep the time it started
    firing, its resolution carries it too, and firing again after a resolution starts anew.
    """
    key = tuple(sorted(alert.labels.items()))
    if alert.starts_at is not None:
        starts = EPOCH + timedelta(seconds=alert.starts_at)
    else:
        starts = episodes.get(key, sent)
    if alert.status == "firing":
        episodes.setdefault(key, starts)
    else:
        episodes.pop(key, None)
    name = alert.labels.get("alertname", "")
    body = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "status": alert.status,
        "receiver": "remediator",
        "groupLabels": {"alertname": name},
        "commonLabels": dict(alert.labels),
        "commonAnnotations": dict(alert.annotations),
        "externalURL": "http://alertmanager.test:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": alert.status,
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "startsAt": _rfc3339(starts),
                "endsAt": _rfc3339(sent) if alert.status == "resolved" else _GO_ZERO_TIME,
                "generatorURL": "",
                "fingerprint": "",
            }
        ],
    }
    return json.dumps(body).encode()


async def _settle(app: Application, clock: SimClock) -> bool:
    """Wait until the engine has nothing left to do at the current simulated time.

    True: every accepted alert is decided and every execution has finished. False: every running
    execution is asleep on the clock (verification, retry backoff) and waits for time to move.
    Raises TimeoutError when neither happens within `_SETTLE_TIMEOUT_S` of real time.

    Never gives up on `app.drained()` while executions run: cancelling it would cancel the
    executions too (`ActionRunner.idle()` awaits a gather of them).
    """
    async with asyncio.timeout(_SETTLE_TIMEOUT_S):
        while True:
            await app.processor.drained(_SETTLE_TIMEOUT_S)
            for _ in range(_YIELDS):  # let tasks just woken run up to their next await
                await asyncio.sleep(0)
            if app.journal.backlog():
                continue
            running = app.runner.running()
            if running == 0:
                await app.drained(_SETTLE_TIMEOUT_S)  # escalations; nothing on the clock is left
                if await app.scheduler.due_now():
                    app.scheduler.wake()  # a timer due now (a slot freed): it runs at this time
                    await asyncio.sleep(_POLL_S)
                    continue
                if not app.scheduler.asleep:
                    await asyncio.sleep(_POLL_S)  # its next wake-up is not registered with the clock yet
                    continue
                if app.runner.running() == 0 and not app.journal.backlog():
                    return True
            elif clock.sleeping - app.scheduler.waiting >= running:  # the scheduler's own sleep aside
                await app.desk.idle()  # what the incident desk does at this time happens at this time
                if await app.scheduler.due_now() or not app.scheduler.asleep:
                    app.scheduler.wake()
                    await asyncio.sleep(_POLL_S)
                    continue
                return False
            else:
                await asyncio.sleep(_POLL_S)  # an API call or a journal write is on its way


async def _advance(app: Application, clock: SimClock, seconds: float) -> None:
    """Move simulated time on by `seconds`, stopping at every wake-up on the way so each
    sleeper sees the time it asked for and the engine settles before time moves again."""
    end = clock.monotonic() + seconds
    await _settle(app, clock)
    while True:
        wake = clock.next_deadline()
        step_to = end if wake is None else min(wake, end)
        clock.advance(max(step_to - clock.monotonic(), 0.0))
        await _settle(app, clock)
        if step_to >= end:
            return


async def _run_out(app: Application, clock: SimClock) -> bool:
    """Move simulated time on until every execution has finished (False: the horizon came first)."""
    horizon = clock.monotonic() + _RUN_OUT_HORIZON_S
    while not await _settle(app, clock):
        wake = clock.next_deadline()
        if wake is None or wake > horizon:
            return False
        clock.advance(wake - clock.monotonic())
    return True


async def _keep_time_moving(clock: SimClock) -> None:
    while True:
        await asyncio.sleep(_POLL_S)
        clock.advance(_RUN_OUT_STEP_S)


async def _decisions(app: Application) -> list[GotDecision]:
    """Every decision, oldest first, with how its execution ended."""
    rows = list(reversed(await app.journal.decisions(limit=_MAX_ROWS)))
    executions = {e.decision_id: e for e in await app.journal.executions(limit=_MAX_ROWS)}
    start = EPOCH.timestamp()
    got = []
    for d in rows:
        ex = executions.get(d["id"])
        got.append(
            GotDecision(
                at_s=round(float(d["decided_at"]) - start, 3),
                rule=str(d["rule"]),
                target=d["target"],
                outcome=str(d["outcome"]),
                reason=str(d["reason"]),
                execution=ex.status.value if ex is not None else None,
                execution_error=ex.error if ex is not None else None,
                execution_summary=ex.summary if ex is not None else "",
            )
        )
    return got


def _leaves(e: BaseException) -> list[str]:
    """`Type: message` of each exception a TaskGroup wrapped: the cause, not "unhandled errors"."""
    if isinstance(e, BaseExceptionGroup):
        return [line for sub in e.exceptions for line in _leaves(sub)]
    return [f"{type(e).__name__}: {e}"]


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _print(out: TextIO, lines: Sequence[str]) -> None:
    for line in lines:
        print(line, file=out)
