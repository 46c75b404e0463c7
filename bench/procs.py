"""Servers under test, each in its own process: the remediator daemon and the bare aiohttp handler.

The daemon runs exactly as deployed (`python -m remediator serve --config FILE`), with a config
written here: a webhook token, a fresh journal, `synchronous: full`, the given rules directory
and either `kubernetes.mode: none` (every action a dry-run plan) or a kubeconfig. Its stdout
(JSON log lines) goes to a file, as it would to a container's log. `--uvloop` variants start the
same code through `bench._uvloop_serve`, which only installs uvloop's event loop policy first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

TOKEN = "bench-webhook-token"
TOKEN_ENV = "BENCH_WEBHOOK_TOKEN"
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


REPO = Path(__file__).resolve().parents[1]


def subprocess_env() -> dict[str, str]:
    """The environment for child processes: `bench` importable, run from outside the repo.

    The repo root is appended to PYTHONPATH (not used as the working directory), so a PYTHONPATH
    given by the caller still comes first: that is how a scratch copy of `remediator` is measured.
    """
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(REPO)])}


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(errors="replace")[-chars:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int, key: str) -> int | None:
    """A `/proc/<pid>/status` size field in KiB (VmHWM: peak RSS, VmRSS: current RSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def children(pid: int) -> list[int]:
    """The direct children of a process (an intake process of the daemon's)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process, all its threads included."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


@dataclass
class Server:
    """A running server process under test."""

    name: str
    url: str
    process: asyncio.subprocess.Process
    log_path: Path
    journal_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """The server's process and its children (the daemon's intake process): a server's cost is theirs."""
        return [self.pid, *children(self.pid)]

    def _kib(self, key: str) -> float | None:
        sizes = [kib for pid in self.pids() if (kib := proc_status(pid, key)) is not None]
        return sum(sizes) / 1024 if sizes else None

    def peak_rss_mib(self) -> float | None:
        """Peak RSS, summed over the server's processes."""
        return self._kib("VmHWM")

    def rss_mib(self) -> float | None:
        return self._kib("VmRSS")

    def rss_by_process_mib(self) -> list[float]:
        """Current RSS of each process, the main one first."""
        return [kib / 1024 for pid in self.pids() if (kib := proc_status(pid, "VmRSS")) is not None]

    def cpu_seconds(self) -> float | None:
        """CPU time of the server's processes (the main one must be alive)."""
        seconds = [cpu_seconds(pid) for pid in self.pids()]
        if seconds[0] is None:
            return None
        return sum(s for s in seconds if s is not None)

    async def metrics(self) -> dict[str, float]:
        """The daemon's /metrics as {`name{labels}`: value} (remediator only)."""
        async with aiohttp.ClientSession() as s, s.get(f"{self.url}/metrics") as r:
            text = await r.text()
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    found[key] = float(value)
        return found


def webhook_codes(metrics: dict[str, float]) -> dict[str, int]:
    """`remediator_webhook_requests_total{route="alertmanager",code=...}` by code, for the codes
    answered at least once (the daemon exports the common codes at 0 from the start)."""
    codes: dict[str, int] = {}
    for key, value in metrics.items():
        if key.startswith("remediator_webhook_requests_total{") and 'route="alertmanager"' in key and value:
            code = key.split('code="', 1)[1].split('"', 1)[0]
            codes[code] = codes.get(code, 0) + int(value)
    return codes


def daemon_config(
    *,
    port: int,
    journal: Path,
    rules: Path,
    kubeconfig: Path | None = None,
    synchronous: str = "full",
    guards: dict[str, Any] | None = None,
    intake_process: bool = False,
) -> dict[str, Any]:
    """The daemon's config file contents (also validated in-process by `Settings.model_validate`).
    `intake_process`: webhooks acknowledged by an intake process of their own, the front on the port."""
    kube: dict[str, Any] = (
        {"mode": "kubeconfig", "kubeconfig": str(kubeconfig), "call_timeout": "10s"}
        if kubeconfig is not None
        else {"mode": "none"}
    )
    config: dict[str, Any] = {
        "http": {"listen": f"127.0.0.1:{port}", "max_body_bytes": 4 * 1024 * 1024},
        "auth": {"webhook_token": {"env": TOKEN_ENV}, "api_tokens": []},
        "journal": {"path": str(journal), "synchronous": synchronous},
        "kubernetes": kube,
        "log": {"level": "info", "format": "json"},
        "rules": [str(rules)],
    }
    if guards:
        config["guards"] = guards
    if intake_process:
        config["intake"] = {"processes": 1}
    return config


def write_config(path: Path, **kwargs: Any) -> Path:
    path.write_text(json.dumps(daemon_config(**kwargs), indent=2))  # JSON is YAML
    return path


async def _wait_ready(
    url: str, process: asyncio.subprocess.Process, log_path: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                tail = _tail(log_path)
                raise RuntimeError(f"server exited with {process.returncode} before it was ready:\n{tail}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise TimeoutError(f"server at {url} not ready within {timeout_s}s")


async def _stop(process: asyncio.subprocess.Process, timeout_s: float = 30.0) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(timeout_s):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def _spawn(
    name: str, argv: list[str], *, url: str, log_path: Path, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env={**subprocess_env(), **(env or {})},
            cwd=log_path.parent,
        )
        try:
            await _wait_ready(url, process, log_path, timeout_s=60.0)
            yield process
        finally:
            await _stop(process)


@contextlib.asynccontextmanager
async def remediator_server(
    workdir: Path,
    *,
    rules: Path,
    kubeconfig: Path | None = None,
    guards: dict[str, Any] | None = None,
    uvloop: bool = False,
    name: str = "remediator",
    journal: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    intake_process: bool = False,
) -> AsyncIterator[Server]:
    """Start `python -m remediator serve` on a free port with a fresh journal under `workdir`, or
    with `journal` as its journal config (a shared PostgreSQL one: `bench/replicas.py`).
    `intake_process`: the webhooks acknowledged by an intake process (`intake.processes: 1`), the
    front on the same port (it passes everything else to the daemon's process)."""
    ensure_dir(workdir)
    port = free_port()
    journal_path = workdir / "journal.sqlite" if journal is None else None
    config_path = write_config(
        workdir / "remediator.yaml",
        port=port,
        journal=journal_path if journal_path is not None else workdir / "unused.sqlite",
        rules=rules,
        kubeconfig=kubeconfig,
        guards=guards,
        intake_process=intake_process,
    )
    if journal is not None:
        data = json.loads(config_path.read_text())
        data["journal"] = journal
        config_path.write_text(json.dumps(data, indent=2))
    module = "bench._uvloop_serve" if uvloop else "remediator"
    argv = [sys.executable, "-m", module, "serve", "--config", str(config_path)]
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "server.log"
    async with _spawn(
        name, argv, url=url, log_path=log_path, env={TOKEN_ENV: TOKEN, **(env or {})}
    ) as process:
        yield Server(name=name, url=url, process=process, log_path=log_path, journal_path=journal_path)


@contextlib.asynccontextmanager
async def bare_server(workdir: Path, *, uvloop: bool = False, name: str = "bare") -> AsyncIterator[Server]:
    """Start the bare aiohttp handler (`bench.bare`) on a free port."""
    ensure_dir(workdir)
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare", "--port", str(port), *(["--uvloop"] if uvloop else [])]
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "server.log"
    async with _spawn(name, argv, url=url, log_path=log_path) as process:
        yield Server(name=name, url=url, process=process, log_path=log_path)


def journal_counts(path: Path) -> dict[str, Any]:
    """Row counts of a daemon's journal, read-only (WAL lets this run while the daemon writes)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:

        def one(sql: str) -> int:
            return int(db.execute(sql).fetchone()[0])

        return {
            "payloads": one("SELECT COUNT(*) FROM payloads"),
            "unprocessed_payloads": one("SELECT COUNT(*) FROM payloads WHERE processed_at IS NULL"),
            "alerts": one("SELECT COUNT(*) FROM alerts"),
            "decisions": one("SELECT COUNT(*) FROM decisions"),
            "alert_rule_pairs_decided": one(
                "SELECT COUNT(*) FROM"
                " (SELECT DISTINCT alert_id, rule FROM decisions WHERE alert_id IS NOT NULL)"
            ),
            "executions": one("SELECT COUNT(*) FROM executions"),
            "unfinished_executions": one(
                "SELECT COUNT(*) FROM executions WHERE status IN ('pending', 'running')"
            ),
            "outcomes": dict(
                db.execute("SELECT outcome, COUNT(*) FROM decisions GROUP BY outcome").fetchall()
            ),
            "execution_statuses": dict(
                db.execute("SELECT status, COUNT(*) FROM executions GROUP BY status").fetchall()
            ),
        }
    finally:
        db.close()


def journal_payload_alerts(path: Path) -> int:
    """Alerts inside every accepted payload body (what was acknowledged, processed or not)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        total = 0
        for (body,) in db.execute("SELECT body FROM payloads"):
            total += len(json.loads(body)["alerts"])
        return total
    finally:
        db.close()


async def wait_processed(path: Path, *, timeout_s: float, poll_s: float = 0.1) -> dict[str, Any]:
    """Poll the journal until every payload is processed and no execution is pending or running."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = await asyncio.to_thread(journal_counts, path)
        if counts["unprocessed_payloads"] == 0 and counts["unfinished_executions"] == 0:
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"journal not drained within {timeout_s}s: {counts}")
        await asyncio.sleep(poll_s)
