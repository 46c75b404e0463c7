"""The README's commands (`scripts/serve`, `scripts/demo`): on an up-to-date `.venv` they start at once,
without reinstalling, and pass their arguments on; a changed pyproject.toml makes them install again."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _checkout(repo: Path, tmp_path: Path) -> Path:
    """A copy of the scripts and pyproject.toml with a `.venv` whose `remediator` records its argv."""
    work = tmp_path / "checkout"
    shutil.copytree(repo / "scripts", work / "scripts")
    shutil.copy(repo / "pyproject.toml", work / "pyproject.toml")
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    # pip would run through this python: a stand-in that records the call instead of installing
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "pip $*" >> "{work}/calls"\n')
    (bin_dir / "remediator").write_text(f'#!/bin/sh\necho "remediator $*" >> "{work}/calls"\n')
    for exe in bin_dir.iterdir():
        exe.chmod(0o755)
    return work


def _stamp(work: Path, extra: str) -> None:
    digest = hashlib.sha256((work / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (work / ".venv" / ".installed").write_text(f"{digest}-{extra}\n")


def _run(work: Path, script: str, *args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    done = subprocess.run(
        ["bash", str(work / "scripts" / script), *args],
        cwd=work.parent,  # the scripts find their checkout themselves
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return (work / "calls").read_text().splitlines()


@pytest.mark.parametrize(("script", "command"), [("serve", "serve"), ("demo", "demo")])
def test_script_starts_at_once_on_an_installed_venv(
    repo: Path, tmp_path: Path, script: str, command: str
) -> None:
    work = _checkout(repo, tmp_path)
    _stamp(work, "dev")  # scripts/test's install serves the daemon too
    assert _run(work, script, "--once") == [f"remediator {command} --once"]


def test_a_changed_pyproject_installs_again(repo: Path, tmp_path: Path) -> None:
    work = _checkout(repo, tmp_path)
    _stamp(work, "")
    with (work / "pyproject.toml").open("a") as f:
        f.write("\n# a new dependency\n")
    calls = _run(work, "demo")
    assert [c.split()[0] for c in calls] == ["pip", "pip", "remediator"]
    assert calls[1].endswith("install -q --disable-pip-version-check -e .")
    assert calls[-1] == "remediator demo"
