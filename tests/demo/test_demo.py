"""`remediator demo` as a new user runs it: one command, no cluster, and every runbook step visible."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from remediator.demo.clock import DemoClock


def _env(repo: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(repo), "NO_COLOR": "1"}


def _demo(repo: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "remediator", "demo", *args],
        cwd=repo,
        env=_env(repo),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_once_shows_every_runbook_step_and_exits_0(repo: Path) -> None:
    done = _demo(repo, "--once")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    # what was decided, with the reason
    assert "rollback-on-5xx-after-deploy -> act: value 42.5/min > 10/min" in out
    # what changed in the cluster, as kubectl diff shows it
    assert "--- live/apps.v1.Deployment.shop.checkout" in out
    assert re.search(r"^\s+-\s+- image: checkout:v2$", out, re.M)
    assert re.search(r"^\s+\+\s+- image: checkout:v1$", out, re.M)
    assert re.search(r"^\s+\+\s+value: queue$", out, re.M)
    assert re.search(r"^\s+\+\s+replicas: 4$", out, re.M)
    assert re.search(r"^\s+pod/checkout-\S+ deleted$", out, re.M)
    # what was verified, and what was escalated
    assert "verified: rollout complete, alert resolved" in out
    assert "not verified: alert still firing 10m after the action" in out
    assert re.search(r"escalated\s+pagerduty \(trigger\) -> accepted", out)
    assert "needs_approval" in out
    assert "every expected step happened (8 checks)" in out
    assert "FAILED" not in out.split("== what the demo expected")[1]
    assert done.stderr == ""  # the daemon's log goes to a file, not over the story


def test_demo_once_exits_1_when_an_expected_step_does_not_happen(repo: Path) -> None:
    """Only the 5xx runbook loaded: the other incidents find no rule, and --once says which steps failed."""
    done = _demo(repo, "--once", "--rules", "rules/api-errors.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    summary = done.stdout.split("== what the demo expected")[1]
    assert "ok      5xx after a deploy: checkout rolled back to checkout:v1, verified" in summary
    assert "FAILED  429s: image-gen switched to RATE_LIMIT_MODE=queue, verified: no decision by" in summary
    assert "some expected steps did not happen" in summary


def test_demo_refuses_a_non_loopback_address(repo: Path) -> None:
    done = _demo(repo, "--once", "--listen", "0.0.0.0:0")
    assert done.returncode == 2
    assert "loopback only" in done.stderr


def test_demo_serves_until_interrupted(repo: Path) -> None:
    """Without --once: after the story the API answers with the printed token, and Ctrl-C stops it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", "demo", "--listen", "127.0.0.1:0"],
        cwd=repo,
        env=_env(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while not any("One action waits for a human" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            line = proc.stdout.readline()
            assert line, "".join(lines) + (proc.stderr.read() if proc.stderr else "")
            lines.append(line)
        text = "".join(lines)
        url = re.search(r"API\s+(http://127\.0\.0\.1:\d+)/api/v1/status", text)
        token = re.search(r"token\s+(\S+)\s+\(admin", text)
        assert url and token, text
        request = urllib.request.Request(
            f"{url.group(1)}/api/v1/approvals?status=pending",
            headers={"Authorization": f"Bearer {token.group(1)}"},
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            pending = json.load(r)["approvals"]
        assert [(a["rule"], a["target"]) for a in pending] == [
            ("stop-workers-on-poison-message", "shop/Deployment/image-gen-worker")
        ]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "stopping the demo" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_demo_clock_jumps_wake_sleepers_and_time_never_goes_back() -> None:
    clock = DemoClock(start_offset_s=-600)
    before = clock.now()
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(300)
        woke.append(clock.monotonic())

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0.01)
    assert clock.sleeping == 1 and not woke
    deadline = clock.next_deadline()
    assert deadline is not None
    clock.advance(deadline - clock.monotonic())
    await asyncio.wait_for(task, 1)
    assert woke and woke[0] >= deadline
    assert 299 <= (clock.now() - before).total_seconds() < 305
    clock.catch_up()
    assert abs(clock.offset_s) < 1e-9 or clock.offset_s > 0
    assert clock.sleeping == 0


def test_readme_try_it_starts_with_the_demo(repo: Path) -> None:
    """The first command a new user reads is the one the tests above run."""
    readme = (repo / "README.md").read_text()
    section = readme[readme.index("## Try it") :]
    block = section[
        section.index("```sh\n") + len("```sh\n") : section.index("```", section.index("```sh\n") + 5)
    ]
    assert block.split("#")[0].strip() == "scripts/demo"
    # ...which is `remediator demo` once .venv holds the install (tests/test_scripts.py runs it)
    assert 'exec .venv/bin/remediator demo "$@"' in (repo / "scripts" / "demo").read_text()
