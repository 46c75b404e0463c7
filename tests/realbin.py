"""Real Prometheus and Alertmanager binaries for tests: find, start on a free port, wait until ready, stop.

The Debian packages `prometheus-alertmanager` and `prometheus` provide them. A missing binary skips the
test locally and fails it in CI (`CI=true`), where the packages must be installed. Each process gets
its own storage under the test's tmp_path, listens on 127.0.0.1 only, and Alertmanager runs without
clustering (`--cluster.listen-address=` empty), so it is ready in a fraction of a second instead of
waiting for gossip to settle.

    async with start_alertmanager(tmp_path) as am:
        await session.get(f"{am.url}/api/v2/silences")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import textwrap
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

ALERTMANAGER = "prometheus-alertmanager"
PROMETHEUS = "prometheus"

DEFAULT_ALERTMANAGER_CONFIG = textwrap.dedent(
    """\
    # Routes everything to a receiver with no integrations: alerts are kept, nothing is sent.
    route:
      receiver: blackhole
      group_wait: 1s
      group_interval: 1s
      repeat_interval: 1h
    receivers:
      - name: blackhole
    """
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def find_binary(name: str, *, package: str) -> str:
    """Path of `name` (on PATH or in /usr/bin). Missing: skip locally, fail in CI."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    if path:
        return path
    message = f"{name} not found on PATH (Debian package {package})"
    if in_ci():
        pytest.fail(f"{message}: CI must install it")
    pytest.skip(message)


def free_port() -> int:
    """A port free right now on 127.0.0.1. Another process may take it before the binary binds it;
    `_start` retries on a new port when that happens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening_port(log: Path, *, after: int = 0, process: str | None = None) -> int | None:
    """The port a `remediator serve --listen 127.0.0.1:0` names in its "listening" log line (JSON
    lines), reading `log` from byte `after` (the log of an earlier start of the same daemon comes
    before). None until it listens. Port 0 leaves the choice to the kernel at bind time: a port picked
    free beforehand can be taken by a parallel test's process, whose /readyz would then answer.
    `process`: the line of that process (`intake`: the intake process's), not the main process's."""
    try:
        with log.open("rb") as f:
            f.seek(after)
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if '"listening"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "listening" and entry.get("process") == process:
            return int(str(entry["address"]).rpartition(":")[2])
    return None


@dataclass(frozen=True, kw_only=True)
class RunningBinary:
    name: str
    url: str
    """Base URL, e.g. http://127.0.0.1:40123 (no trailing slash)."""
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


async def _wait_ready(running: RunningBinary, timeout_s: float) -> bool:
    """True once GET /-/ready answers 200; False if the process exits first. Fails the test on timeout."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if running.process.poll() is not None:
                return False
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{running.url}/-/ready") as resp:
                    if resp.status == 200:
                        return True
            await asyncio.sleep(0.05)
    await asyncio.to_thread(_stop, running.process)
    pytest.fail(f"{running.name} not ready within {timeout_s:g}s; log tail:\n{running.log_tail()}")


def _spawn(name: str, binary: str, args: Sequence[str], *, workdir: Path) -> RunningBinary:
    """Start the process on a fresh free port (`{port}` in `args`), its output in `workdir/<name>.log`."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [binary, *(a.replace("{port}", str(port)) for a in args)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
        )
    return RunningBinary(
        name=name,
        url=f"http://127.0.0.1:{port}",
        port=port,
        process=process,
        log_path=log_path,
        workdir=workdir,
    )


def _write_files(workdir: Path, files: Mapping[str, str]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for filename, text in files.items():
        (workdir / filename).write_text(text)


@contextlib.asynccontextmanager
async def _start(
    name: str,
    binary: str,
    args: Sequence[str],
    *,
    workdir: Path,
    ready_timeout_s: float,
    port_attempts: int = 3,
) -> AsyncIterator[RunningBinary]:
    """Start `binary`, wait for /-/ready, stop it at exit.

    Stopping runs in a thread: a binary shutting down may still call a test server served by this
    event loop (Alertmanager flushing notifications), which must not be blocked meanwhile.
    """
    for attempt in range(1, port_attempts + 1):
        running = _spawn(name, binary, args, workdir=workdir)
        try:
            ready = await _wait_ready(running, ready_timeout_s)
        except BaseException:
            await asyncio.to_thread(_stop, running.process)
            raise
        if not ready:
            tail = running.log_tail()
            if "address already in use" in tail and attempt < port_attempts:
                continue  # lost the port race: try another
            pytest.fail(
                f"{name} exited with code {running.process.returncode} before it was ready; log:\n{tail}"
            )
        try:
            yield running
        finally:
            await asyncio.to_thread(_stop, running.process)
        return


@contextlib.asynccontextmanager
async def start_alertmanager(
    tmp_path: Path,
    *,
    config: str = DEFAULT_ALERTMANAGER_CONFIG,
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = 15.0,
) -> AsyncIterator[RunningBinary]:
    """A real Alertmanager on 127.0.0.1 with `config` (YAML text), storage under `tmp_path/alertmanager`."""
    binary = find_binary(ALERTMANAGER, package="prometheus-alertmanager")
    workdir = tmp_path / "alertmanager"
    config_file = workdir / "alertmanager.yml"
    _write_files(workdir, {config_file.name: config})
    args = [
        f"--config.file={config_file}",
        f"--storage.path={workdir / 'data'}",
        "--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=info",
        *extra_args,
    ]
    async with _start("alertmanager", binary, args, workdir=workdir, ready_timeout_s=ready_timeout_s) as am:
        yield am


def prometheus_config(
    *,
    scrape_targets: Sequence[str] = (),
    alertmanager_urls: Sequence[str] = (),
    rule_files: Sequence[str] = (),
    interval_s: float = 1.0,
) -> str:
    """A Prometheus config: one `test` job over `scrape_targets` (host:port), alerts to `alertmanager_urls`
    (http://host:port), `rule_files` relative to the working directory; scrape and evaluate every
    `interval_s` so alerts fire within seconds."""
    lines = [
        "global:",
        f"  scrape_interval: {interval_s:g}s",
        f"  evaluation_interval: {interval_s:g}s",
    ]
    if rule_files:
        lines.append("rule_files:")
        lines += [f"  - {f!r}" for f in rule_files]
    if alertmanager_urls:
        lines += ["alerting:", "  alertmanagers:"]
        for url in alertmanager_urls:
            scheme, _, host = url.partition("://")
            lines += [
                f"    - scheme: {scheme}",
                "      static_configs:",
                f"        - targets: [{host.rstrip('/')!r}]",
            ]
    if scrape_targets:
        lines += [
            "scrape_configs:",
            "  - job_name: test",
            "    static_configs:",
            f"      - targets: [{', '.join(repr(t) for t in scrape_targets)}]",
        ]
    return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def start_prometheus(
    tmp_path: Path,
    *,
    config: str | None = None,
    rules: Mapping[str, str] | None = None,
    alert_resend_delay_s: float = 1.0,
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = 30.0,
) -> AsyncIterator[RunningBinary]:
    """A real Prometheus on 127.0.0.1, storage under `tmp_path/prometheus`.

    `rules` maps file names to rule-file YAML; they are written next to the config, so `config` (see
    `prometheus_config`) can list them by name. Default config: no rule files but those in `rules`.

    Timing: Prometheus learns its Alertmanagers through service discovery, which publishes updates every
    5 s, so alerts reach Alertmanager about 5 s after start at the earliest. It re-sends firing alerts
    every `alert_resend_delay_s` (Prometheus' default is 1m, which would hide the first alerts sent
    before discovery finished).
    """
    binary = find_binary(PROMETHEUS, package="prometheus")
    workdir = tmp_path / "prometheus"
    workdir.mkdir(parents=True, exist_ok=True)
    for filename, text in (rules or {}).items():
        (workdir / filename).write_text(text)
    config_file = workdir / "prometheus.yml"
    config_file.write_text(
        config if config is not None else prometheus_config(rule_files=sorted(rules or {}))
    )
    args = [
        f"--config.file={config_file}",
        f"--storage.tsdb.path={workdir / 'data'}",
        "--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        f"--rules.alert.resend-delay={alert_resend_delay_s:g}s",
        "--log.level=info",
        *extra_args,
    ]
    async with _start("prometheus", binary, args, workdir=workdir, ready_timeout_s=ready_timeout_s) as prom:
        yield prom
