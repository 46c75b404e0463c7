"""Runs the benchmarks in order, collects results and targets, prints the table, writes JSON."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import (
    backlog,
    drivers,
    ingest,
    journal,
    latency,
    machine,
    matching,
    processing,
    replicas,
    report,
    storm,
)
from bench.config import BenchConfig

BENCHMARKS: dict[str, ModuleType] = {
    "ingest": ingest,
    "processing": processing,
    "matching": matching,
    "storm": storm,
    "latency": latency,
    "journal": journal,
    "replicas": replicas,
    "drivers": drivers,
    "backlog": backlog,
}

Say = Callable[[str], None]


async def run_all(
    config: BenchConfig,
    *,
    only: list[str] | None = None,
    output: Path | None = None,
    workdir: Path | None = None,
    keep: bool = False,
    say: Say = print,
) -> dict[str, Any]:
    """Run the selected benchmarks (all by default) in one process; a failing one is recorded, not fatal."""
    names = only or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine.describe(),
        "remediator": machine.remediator_source(),
        "config": {k: v for k, v in dataclasses.asdict(config).items()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    targets: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="remediator-bench-", dir=workdir))
    results["workdir"] = str(tmp) if keep else None
    try:
        for name in names:
            module = BENCHMARKS[name]
            say(f"== {name}")
            t0 = time.perf_counter()
            load_at_start = list(machine.load_average())
            try:
                run: Callable[[BenchConfig, Path, Say], Awaitable[dict[str, Any]]] = module.run
                result = await run(config, tmp / name, say)
                load = list(machine.load_average())
                # What the machine was doing while each figure was taken: a noisy row is visible.
                targets += [{**t, "load_average": load} for t in module.targets(result)]
                result["load_average_at_start"] = load_at_start
                result["load_average_at_end"] = load
            except Exception as e:  # one broken benchmark must not lose the others' numbers
                say(f"  {name} failed: {e!r}")
                result = {"error": repr(e), "traceback": traceback.format_exc()}
            result["seconds"] = time.perf_counter() - t0
            results[name] = result
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    results["targets"] = targets
    results["machine"]["load_average_at_end"] = machine.load_average()
    results["duration_s"] = time.perf_counter() - started
    if output is not None:
        report.write(results, output)
    return results
