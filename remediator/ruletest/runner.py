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
execution has finished, and only then compares. Moving time is `timeline`'s job, playing the
test's alerts and approvals `playback`'s; this module builds the world and compares the outcome.

Nothing leaves the process: the runner owns the journal, Kubernetes and every outside service
(PagerDuty, Alertmanager, Prometheus, chat), and leaves the latter unconfigured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import structlog

from remediator.app import Application, open_app
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
from remediator.ruletest.playback import play
from remediator.ruletest.report import CaseResult, case_lines, file_errors, summary
from remediator.ruletest.services import StubResolver, StubServices, compare_requests, serve_stubs
from remediator.ruletest.timeline import (
    EPOCH,
    RUN_OUT_HORIZON_S,
    SimClock,
    advance,
    keep_time_moving,
    run_out,
    settle,
)
from remediator.store.incidents import IncidentRecord
from remediator.testing.fake_kube import FakeKubeServer

__all__ = ["EPOCH", "find_test_files", "run_case", "run_rule_tests", "run_rule_tests_async"]

TEST_FILE_SUFFIXES = (".yaml", ".yml")
_MAX_ROWS = 100_000


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
            await settle(app, clock)
            await play(app, clock, case.alerts, (*case.approvals, *case.acknowledgements))
            finished = await run_out(app, clock)
            if case.until is not None and case.until > clock.monotonic():
                await advance(app, clock, case.until - clock.monotonic())
            got = await _decisions(app)
            incidents = await _incidents(app) if case.expect.incidents is not None else []
            # Leaving open_app waits for running executions; keep simulated time moving so an
            # execution still waiting on it (the horizon was reached) ends instead of hanging.
            ticker = asyncio.create_task(keep_time_moving(clock), name="ruletest-ticker")
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
    error = None
    if not finished:
        error = f"executions still running after {RUN_OUT_HORIZON_S / 3600:g}h of simulated time"
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
            "scheduler": SchedulerSettings(poll_interval=RUN_OUT_HORIZON_S),
        }
    )


async def _incidents(app: Application) -> list[tuple[IncidentRecord, list[str]]]:
    """Every incident, in the order they opened, with its timeline's event kinds."""
    found = list(reversed(await app.journal.incidents(limit=_MAX_ROWS)))
    return [(i, [e.kind for e in await app.journal.incident_events(i.id)]) for i in found]


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


def _print(out: TextIO, lines: Sequence[str]) -> None:
    for line in lines:
        print(line, file=out)
