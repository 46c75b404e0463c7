"""What the numbers were measured on: cores, CPU model, memory, Python and library versions, load."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("aiohttp", "pydantic", "pydantic-core", "aiosqlite", "structlog", "uvloop", "orjson")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_mib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def remediator_source() -> dict[str, Any]:
    """Which remediator was measured: its path and, when it is this repository's, the commit."""
    import remediator

    path = Path(remediator.__file__).resolve().parent
    repo = Path(__file__).resolve().parents[1]
    found: dict[str, Any] = {"path": str(path), "version": remediator.__version__}
    if path.parent == repo and shutil.which("git"):
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "remediator"],
            capture_output=True,
            text=True,
        )
        found["git_head"] = head.stdout.strip() or None
        found["remediator_tree_dirty"] = bool(dirty.stdout.strip())
    return found


def describe() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "memory_mib": _mem_total_mib(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in _PACKAGES},
        "wrk": _wrk_version(),
        "load_average_at_start": load_average(),
    }
