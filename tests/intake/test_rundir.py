"""The private run directory of the one-port daemon: a killed run's is removed at the next start,
a live run's and anything that may not be ours never are."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest

from remediator.intake.rundir import LOCK_NAME, NAME, run_directory, sweep_stale_run_directories
from tests.intake.test_front import FrontDaemon, write_front_config
from tests.scenarios.daemon import wait_until

HOLD = """
import os, signal, sys
from pathlib import Path
from remediator.intake.rundir import run_directory
with run_directory(Path(sys.argv[1])) as d:
    print(d, flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()
"""


@pytest.fixture
def parent() -> Iterator[Path]:
    """A short temporary directory (a Unix socket's path has at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="rd", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _held(parent: Path, how: str) -> tuple[subprocess.Popen[str], Path]:
    """Another process's run directory: still held ("hold"), or left by a SIGKILLed run ("die")."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(parent), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert proc.stdout is not None
    directory = Path(proc.stdout.readline().strip())
    if how == "die":
        assert proc.wait(timeout=30) == -signal.SIGKILL
    return proc, directory


def _dead(parent: Path, name: str = "remediator-run-deadbeef") -> Path:
    """What a dead run leaves: its directory and an unlocked lock file."""
    directory = parent / name
    directory.mkdir(mode=0o700)
    (directory / LOCK_NAME).touch(mode=0o600)
    (directory / "main.sock").touch()
    return directory


def test_a_run_directory_is_private_locked_and_removed_at_exit(parent: Path) -> None:
    with run_directory(parent) as directory:
        assert NAME.fullmatch(directory.name) and directory.parent == parent
        assert directory.stat().st_mode & 0o777 == 0o700
        assert (directory / LOCK_NAME).is_file()
        assert sweep_stale_run_directories(parent) == []  # our own lock, even from this process
        assert directory.exists()
    assert not directory.exists()


def test_a_killed_runs_directory_is_swept_a_live_runs_is_not(parent: Path) -> None:
    _, dead = _held(parent, "die")
    live_proc, live = _held(parent, "hold")
    try:
        assert dead.exists()  # SIGKILL: nobody removed it
        assert sweep_stale_run_directories(parent) == [dead]
        assert not dead.exists()
        assert live.exists() and (live / LOCK_NAME).exists()
    finally:
        live_proc.communicate("", timeout=30)
    assert not live.exists()  # removed by its own run at exit


def test_nothing_that_may_not_be_ours_is_swept(parent: Path) -> None:
    outside = parent / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")

    wide = _dead(parent, "remediator-run-wideopen")
    wide.chmod(0o755)  # not the mode we make ours with
    other_uid = _dead(parent, "remediator-run-otheruid")
    if os.getuid() == 0:
        os.chown(other_uid, 65534, 65534)  # nobody's
        os.chown(other_uid / LOCK_NAME, 65534, 65534)
    no_lock = _dead(parent, "remediator-run-nolock00")
    (no_lock / LOCK_NAME).unlink()  # an older version's, or one being made
    linked_lock = _dead(parent, "remediator-run-linklock")
    (linked_lock / LOCK_NAME).unlink()
    (linked_lock / LOCK_NAME).symlink_to(outside / "precious")
    (parent / "remediator-run-symlink0").symlink_to(_dead(outside, "remediator-run-target00"))
    _dead(parent, "remediator-run-tooshort"[:-1])  # not the pattern
    _dead(parent, "remediator-deadbeef")  # the old pattern, without a lock
    (parent / "remediator-run-afile000").write_text("x")
    # One that is ours and dead, with a symlink inside pointing out: removed, the target is not.
    dead = _dead(parent)
    (dead / "escape").symlink_to(outside)

    removed = sweep_stale_run_directories(parent)

    expected = [dead] + ([] if os.getuid() == 0 else [other_uid])
    assert removed == expected
    assert (outside / "precious").read_text() == "keep"
    assert (outside / "remediator-run-target00" / LOCK_NAME).exists()
    kept = {p.name for p in parent.iterdir()}
    assert kept == {
        "outside",
        "remediator-run-wideopen",
        *(["remediator-run-otheruid"] if os.getuid() == 0 else []),
        "remediator-run-nolock00",
        "remediator-run-linklock",
        "remediator-run-symlink0",
        "remediator-run-tooshor",
        "remediator-deadbeef",
        "remediator-run-afile000",
    }


def test_a_missing_temporary_directory_is_not_an_error(parent: Path) -> None:
    assert sweep_stale_run_directories(parent / "absent") == []


async def test_serve_removes_a_killed_daemons_directory_and_not_a_live_ones(
    tmp_path: Path, parent: Path
) -> None:
    env = {"TMPDIR": str(parent)}
    daemons = []
    for name in ("killed", "live", "next"):
        (tmp_path / name).mkdir()
        daemons.append(FrontDaemon(write_front_config(tmp_path / name), tmp_path / f"{name}.log", env))
    killed, live, following = daemons
    try:
        await killed.start()
        await live.start()
        killed_dir, live_dir = killed.behind().parent, live.behind().parent
        assert killed_dir.parent == parent == live_dir.parent
        intake = killed.intake_pid()
        killed.stop(signal.SIGKILL)
        await wait_until("the killed daemon's intake process to end", lambda: not _alive(intake))
        assert killed_dir.exists()  # nobody could remove it

        await following.start()

        assert not killed_dir.exists()
        assert live_dir.exists() and live.behind().exists()
        assert following.behind().parent.exists()
        swept = [
            e for e in following.log_lines() if e.get("event", "").startswith("removed the run directory")
        ]
        assert [e["directory"] for e in swept] == [str(killed_dir)]
        async with aiohttp.ClientSession() as s, s.get(f"{live.url}/healthz") as r:
            assert r.status == 200  # the live daemon still reaches its main process
    finally:
        for d in (live, following):
            if d.proc is not None and d.proc.poll() is None:
                d.stop()
    assert not live_dir.exists()
    assert _run_directories(parent) == []


def _run_directories(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if NAME.fullmatch(p.name)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_daemons_starting_together_sweep_each_dead_directory_once(parent: Path) -> None:
    """Several `serve` starting at once: each dead directory is removed by one of them, and none
    of them fails or touches the live one."""
    dead = [_dead(parent, f"remediator-run-dead{n:04d}") for n in range(40)]
    with run_directory(parent) as live, ThreadPoolExecutor(max_workers=4) as pool:
        swept = list(pool.map(lambda _: sweep_stale_run_directories(parent), range(4)))
        assert sorted(p for removed in swept for p in removed) == dead  # each once
        assert _run_directories(parent) == [live]
