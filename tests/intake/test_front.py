"""One port (`intake.processes: 1`, `intake.listen` unset): everything a user points at http.listen
works through the intake process, which answers the webhooks itself and passes the rest to the main
process on its private Unix socket. Real `remediator serve` processes, as deployed."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from remediator import ctl
from tests.api.console_client import Console, text
from tests.intake.conftest import RULES, IntakeDaemon
from tests.scenarios.daemon import ADMIN_TOKEN, Daemon, wait_until

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


class FrontDaemon(IntakeDaemon):
    """The intake process is the front: webhooks and everything else on the one port."""

    @property
    def hook_url(self) -> str:
        return self.url

    async def start(self, timeout_s: float = 30.0) -> None:
        await Daemon.start(self, timeout_s)

    def behind(self) -> Path:
        """The main process's Unix socket, from its "listening" line."""
        lines = [e for e in self.log_lines() if e.get("event") == "listening" and "process" not in e]
        return Path(lines[-1]["behind"])


def write_front_config(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "r.yaml").write_text(textwrap.dedent(RULES))
    config = tmp_path / "remediator.yaml"
    config.write_text(
        f"journal: {{path: {tmp_path / 'journal.sqlite'}}}\n"
        "kubernetes: {mode: none}\n"
        "intake: {processes: 1, restart_backoff: 0.2s}\n"
        f"rules: [{rules}]\n"
    )
    return config


@pytest.fixture
async def front(tmp_path: Path) -> AsyncIterator[FrontDaemon]:
    d = FrontDaemon(write_front_config(tmp_path), tmp_path / "daemon.log")
    await d.start()
    try:
        yield d
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.stop()


async def _decided(daemon: FrontDaemon, target: str) -> bool:
    body = await daemon.api("GET", "/executions?rule=restart-on-auth-failures&limit=50")
    return target in {e["target"] for e in body["executions"]}


async def test_webhooks_api_readiness_and_one_scrape_on_one_port(front: FrontDaemon) -> None:
    async with aiohttp.ClientSession() as s:
        assert await front.post_alert(s, 1) == 1  # answered by the intake process
    await wait_until("the alert to be decided", lambda: _decided(front, "shop/Deployment/d1"))

    status = await front.api("GET", "/status")
    assert status["caller"]["name"] == "admin"
    await front.api("POST", "/pause", {"reason": "through the front"})
    assert (await front.api("GET", "/status"))["paused"]["reason"] == "through the front"
    await front.api("POST", "/resume", {"reason": "done"})
    assert (await front.api("GET", "/status"))["paused"] is None
    rules = await front.api("GET", "/rules")
    assert [r["name"] for r in rules["rules"]] == ["restart-on-auth-failures"]
    # `remediator ctl`, pointed at http.listen as the README says.
    out, env = io.StringIO(), {ctl.ENV_URL: front.url, ctl.ENV_TOKEN: ADMIN_TOKEN}
    code = await asyncio.to_thread(ctl.main, ["status", "-o", "json"], out=out, environ=env)
    assert code == 0 and json.loads(out.getvalue())["caller"]["name"] == "admin"

    code, ready = await front.readyz()
    assert code == 200 and ready["checks"]["intake"] == "ok"

    async with aiohttp.ClientSession() as s, s.get(f"{front.url}/metrics") as r:
        assert r.status == 200
        exposition = await r.text()
    families = [f.name for f in text_string_to_metric_families(exposition)]
    assert len(families) == len(set(families)), "a family exposed twice fails the whole scrape"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(exposition)
        for s in f.samples
    }
    # The intake process's webhook counts and the main process's decisions, in one scrape.
    assert samples[("remediator_webhook_requests_total", (("code", "202"), ("route", "alertmanager")))] == 1
    assert any(name == "remediator_decisions_total" and v >= 1 for (name, _), v in samples.items())
    assert ("remediator_rules_loaded", ()) in samples
    checked = await asyncio.to_thread(
        subprocess.run, [PROMTOOL, "check", "metrics"], input=exposition.encode(), capture_output=True
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


async def test_console_login_keeps_its_cookie_through_the_front(front: FrontDaemon) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, as a browser keeps them
    async with aiohttp.ClientSession(base_url=front.url, cookie_jar=jar) as s:
        console = Console(client=s)  # type: ignore[arg-type]  # the same get/post a TestClient has
        resp = await console.login(ADMIN_TOKEN)
        assert resp.status == 303
        assert "remediator_session" in {c.key for c in jar}
        code, page = await console.get("/ui/")
        assert code == 200 and "admin" in text(page)
    async with aiohttp.ClientSession(base_url=front.url) as s, s.get("/ui/", allow_redirects=False) as r:
        assert r.status in (302, 303) and "/ui/login" in r.headers["Location"]  # no cookie: log in


async def test_the_main_process_listens_only_on_a_private_socket(front: FrontDaemon) -> None:
    socket_path = front.behind()
    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(socket_path.stat().st_mode)
    # Only one TCP port listens for the daemon's two processes: the front's.
    assert _listening_ports(front) == {front.port}
    front.stop()
    assert not socket_path.parent.exists()  # removed at exit


async def test_the_port_stays_bound_while_the_intake_process_restarts(front: FrontDaemon) -> None:
    pid = front.intake_pid()
    os.kill(pid, signal.SIGKILL)
    # Asked at once: the request waits in the kernel's queue for the next intake process (never a
    # refused connection), and the main process answers it through the front.
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.get(f"{front.url}/healthz") as r:
        assert r.status == 200
    assert front.intake_pid() != pid


def _listening_ports(daemon: Daemon) -> set[int]:
    """TCP ports in LISTEN held by the daemon's processes (the main and its children)."""
    assert daemon.proc is not None
    pids = {daemon.proc.pid}
    children = Path(f"/proc/{daemon.proc.pid}/task/{daemon.proc.pid}/children")
    pids |= {int(p) for p in children.read_text().split()} if children.exists() else set()
    inodes: set[str] = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
