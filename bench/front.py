"""What the one-port front costs: the same API requests through the front and straight to the main
process's Unix socket, in alternating rounds against one daemon, so both see the same machine.

    python -m bench.front [--rounds 10] [--requests 200] [--concurrency 32]

Starts `remediator serve` with `intake.processes: 1` (the intake process is the front on
http.listen, the main process behind it on its private socket) and `kubernetes.mode: none`. Per
round and path: `--requests` sequential `GET /api/v1/status` (latency, a real handler reading the
journal) and `GET /healthz` (the smallest answer: the proxy's own cost shows most), then the same
number of `/healthz` with `--concurrency` in flight (throughput). Prints medians over rounds and
the load average; nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

TOKEN = "bench-front-admin-token-0123456789"


def _listening(log: Path) -> tuple[int, str] | None:
    for line in log.read_text(errors="replace").splitlines():
        if '"listening"' in line:
            entry = json.loads(line)
            if entry.get("event") == "listening" and "behind" in entry:
                return int(entry["address"].rpartition(":")[2]), str(entry["behind"])
    return None


async def _sequential(
    session: aiohttp.ClientSession, url: str, n: int, headers: dict[str, str]
) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        async with session.get(url, headers=headers) as r:
            await r.read()
            assert r.status == 200, r.status
        times.append(time.perf_counter() - started)
    return times


async def _concurrent(session: aiohttp.ClientSession, url: str, n: int, concurrency: int) -> float:
    """Requests per second with `concurrency` in flight."""
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with session.get(url) as r:
                await r.read()
                assert r.status == 200, r.status

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def measure(
    port: int, behind: str, *, rounds: int, requests: int, concurrency: int
) -> dict[str, dict[str, float]]:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    paths: dict[str, Callable[[], aiohttp.ClientSession]] = {
        "front": lambda: aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}", connector=aiohttp.TCPConnector(limit=concurrency)
        ),
        "direct": lambda: aiohttp.ClientSession(
            base_url="http://remediator", connector=aiohttp.UnixConnector(path=behind, limit=concurrency)
        ),
    }
    got: dict[str, dict[str, list[float]]] = {p: {"status": [], "healthz": [], "rps": []} for p in paths}
    for i in range(rounds):
        order = list(paths) if i % 2 == 0 else list(reversed(paths))
        for name in order:
            async with paths[name]() as s:
                await _sequential(s, "/healthz", 20, {})  # warm the connection
                got[name]["status"] += await _sequential(s, "/api/v1/status", requests, auth)
                got[name]["healthz"] += await _sequential(s, "/healthz", requests, {})
                got[name]["rps"].append(await _concurrent(s, "/healthz", requests * 2, concurrency))
    summary: dict[str, dict[str, float]] = {}
    for name, series in got.items():
        summary[name] = {
            "status_p50_ms": statistics.median(series["status"]) * 1000,
            "status_p99_ms": statistics.quantiles(series["status"], n=100)[98] * 1000,
            "healthz_p50_ms": statistics.median(series["healthz"]) * 1000,
            "healthz_p99_ms": statistics.quantiles(series["healthz"], n=100)[98] * 1000,
            "healthz_rps": statistics.median(series["rps"]),
        }
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=32)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="remediator-bench-front-") as tmp:
        d = Path(tmp)
        (d / "rules").mkdir()
        config = d / "remediator.yaml"
        config.write_text(
            f"journal: {{path: {d / 'journal.sqlite'}}}\nkubernetes: {{mode: none}}\n"
            f"intake: {{processes: 1}}\nrules: [{Path(__file__).resolve().parents[1] / 'rules'}]\n"
        )
        log = d / "daemon.log"
        env = {**os.environ, "REMEDIATOR_ADMIN_TOKEN": TOKEN}
        cmd = [
            sys.executable,
            "-m",
            "remediator",
            "serve",
            "--config",
            str(config),
            "--listen",
            "127.0.0.1:0",
        ]
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while (found := _listening(log)) is None:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the daemon did not start; see {log}:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
            port, behind = found
            load_before = os.getloadavg()
            summary = asyncio.run(
                measure(
                    port, behind, rounds=args.rounds, requests=args.requests, concurrency=args.concurrency
                )
            )
            load_after = os.getloadavg()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min); {os.cpu_count()} CPUs"
    )
    heads = ("status p50", "status p99", "healthz p50", "healthz p99", "healthz rps")
    print(f"{'':8} " + " ".join(f"{h:>11}" for h in heads))
    for name, s in summary.items():
        print(
            f"{name:8} {s['status_p50_ms']:9.2f}ms {s['status_p99_ms']:9.2f}ms {s['healthz_p50_ms']:9.2f}ms "
            f"{s['healthz_p99_ms']:9.2f}ms {s['healthz_rps']:11.0f}"
        )
    f, dr = summary["front"], summary["direct"]
    print(
        f"front - direct: status p50 +{f['status_p50_ms'] - dr['status_p50_ms']:.2f}ms, healthz p50 "
        f"+{f['healthz_p50_ms'] - dr['healthz_p50_ms']:.2f}ms, healthz throughput "
        f"{f['healthz_rps'] / dr['healthz_rps']:.0%} of direct"
    )


if __name__ == "__main__":
    main()
