"""The intake process as a user runs it: `remediator serve` with `intake.processes: 1`.

What it acknowledges, the main process decides; the main process stops serving webhooks itself; a
dead intake process is started again (not ready meanwhile); SIGKILL of either process loses no
acknowledged payload; SIGTERM answers what is in flight, then stops both.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path

import aiohttp

from tests.intake.conftest import IntakeDaemon, write_config
from tests.pgserver import PASSWORD_ENV
from tests.scenarios.daemon import WEBHOOK_TOKEN, wait_until


async def _targets(daemon: IntakeDaemon) -> set[str]:
    body = await daemon.api("GET", "/executions?rule=restart-on-auth-failures&limit=500")
    return {e["target"] for e in body["executions"]}


def _stored(journal: Path) -> set[int]:
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        return {int(r[0]) for r in db.execute("SELECT id FROM payloads")}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (its parent, the killed main process, reaped by init soon) counts as gone too.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def test_what_the_intake_process_acknowledges_the_main_process_decides(daemon: IntakeDaemon) -> None:
    async with aiohttp.ClientSession() as s:
        assert await daemon.post_alert(s, 1) == 1
        # The main process no longer serves webhooks: they are the intake process's.
        hook = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}
        async with s.post(f"{daemon.url}/webhook/alertmanager", data=b"{}", headers=hook) as r:
            assert r.status == 404
    await wait_until("the alert to be decided", lambda: _has(daemon, "shop/Deployment/d1"))
    status, body = await daemon.readyz()
    assert status == 200 and body["checks"]["intake"] == "ok" and body["checks"]["backlog"] == 0
    async with aiohttp.ClientSession() as s, s.get(f"{daemon.hook_url}/metrics") as r:
        text = await r.text()
    assert 'remediator_webhook_requests_total{code="202",route="alertmanager"} 1.0' in text


async def _has(daemon: IntakeDaemon, target: str) -> bool:
    return target in await _targets(daemon)


async def test_a_dead_intake_process_is_started_again_and_not_ready_meanwhile(daemon: IntakeDaemon) -> None:
    mark = daemon.log_size()
    pid = daemon.intake_pid()
    os.kill(pid, signal.SIGKILL)

    async def down() -> bool:
        status, body = await daemon.readyz()
        return status == 503 and body["failing"] == ["intake"]

    await wait_until("/readyz to say the intake is down", down, timeout_s=10)
    await daemon.intake_listening(after=mark)
    assert daemon.intake_pid(after=mark) != pid
    exited = [e for e in daemon.log_lines(after=mark) if e.get("event") == "intake process exited"]
    assert exited and exited[0]["returncode"] == -signal.SIGKILL
    await wait_until("ready again", lambda: _ready(daemon), timeout_s=10)
    async with aiohttp.ClientSession() as s:
        assert await daemon.post_alert(s, 2) is not None
    await wait_until("the alert to be decided", lambda: _has(daemon, "shop/Deployment/d2"))


async def _ready(daemon: IntakeDaemon) -> bool:
    return (await daemon.readyz())[0] == 200


async def _storm(daemon: IntakeDaemon, acked: set[int], stop: asyncio.Event, first: int) -> None:
    """Post alerts from 8 connections until `stop`; the acknowledged payload ids go to `acked`."""
    async with aiohttp.ClientSession() as s:

        async def one_connection(k: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                if (pid := await daemon.post_alert(s, first + k * 100_000 + i)) is not None:
                    acked.add(pid)
                else:
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(one_connection(k) for k in range(8)))


async def test_sigkill_of_the_intake_process_loses_no_acknowledged_payload(daemon: IntakeDaemon) -> None:
    acked: set[int] = set()
    stop = asyncio.Event()
    storm = asyncio.create_task(_storm(daemon, acked, stop, first=1000))
    await wait_until("some alerts acknowledged", lambda: len(acked) >= 50)
    mark = daemon.log_size()
    os.kill(daemon.intake_pid(), signal.SIGKILL)
    await daemon.intake_listening(after=mark)  # the storm goes on into the new process
    count = len(acked)
    await wait_until("more alerts acknowledged", lambda: len(acked) >= count + 50)
    stop.set()
    await storm
    assert acked <= _stored(daemon.config.parent / "journal.sqlite")

    async def drained() -> bool:
        return (await daemon.readyz())[1]["checks"]["backlog"] == 0

    await wait_until("every payload decided", drained)


async def test_sigkill_of_the_main_process_ends_the_intake_and_loses_nothing(tmp_path: Path) -> None:
    daemon = IntakeDaemon(write_config(tmp_path), tmp_path / "daemon.log")
    await daemon.start()
    try:
        child = daemon.intake_pid()
        acked: set[int] = set()
        stop = asyncio.Event()
        storm = asyncio.create_task(_storm(daemon, acked, stop, first=1000))
        await wait_until("some alerts acknowledged", lambda: len(acked) >= 50)
        daemon.stop(signal.SIGKILL)
        await wait_until("the intake process to exit with its parent", lambda: _gone(child), timeout_s=15)
        stop.set()
        await storm
        journal = tmp_path / "journal.sqlite"
        assert acked <= _stored(journal)
        # Started again, it decides everything acknowledged before the crash.
        await daemon.start()
        expected = len(_stored(journal))

        async def all_decided() -> bool:
            body = await daemon.api("GET", "/executions?rule=restart-on-auth-failures&limit=1")
            _, ready = await daemon.readyz()
            return ready["checks"]["backlog"] == 0 and bool(body["executions"])

        await wait_until("the backlog to be decided", all_decided, timeout_s=30)
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
            unprocessed = db.execute("SELECT COUNT(*) FROM payloads WHERE processed_at IS NULL").fetchone()[0]
        assert unprocessed == 0 and expected >= len(acked)
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.stop()


async def test_sigterm_answers_what_is_in_flight_then_stops_both(tmp_path: Path) -> None:
    daemon = IntakeDaemon(write_config(tmp_path), tmp_path / "daemon.log")
    await daemon.start()
    child = daemon.intake_pid()
    acked: set[int] = set()
    stop = asyncio.Event()
    storm = asyncio.create_task(_storm(daemon, acked, stop, first=1000))
    await wait_until("some alerts acknowledged", lambda: len(acked) >= 50)
    await asyncio.to_thread(daemon.stop, signal.SIGTERM)
    stop.set()
    await storm
    assert daemon.proc is not None and daemon.proc.returncode == 0
    assert _gone(child)
    assert acked <= _stored(tmp_path / "journal.sqlite")
    lines = daemon.log_lines()
    [stopped] = [e for e in lines if e.get("event") == "intake process stopped"]
    assert stopped["returncode"] == 0  # a clean stop, not a kill after the timeout
    own = [e["event"] for e in lines if e.get("process") == "intake"]
    assert own[-1] == "stopping"


async def test_on_postgresql_the_intake_process_writes_and_the_main_process_decides(
    tmp_path: Path, pg_url: str
) -> None:
    config = write_config(tmp_path)
    text = config.read_text().replace(
        f"journal: {{path: {tmp_path / 'journal.sqlite'}}}\n",
        f"journal: {{url: '{pg_url}', password: {{env: INTAKE_TEST_PG_PASSWORD}}}}\n",
    )
    config.write_text(text)
    daemon = IntakeDaemon(
        config, tmp_path / "daemon.log", env={"INTAKE_TEST_PG_PASSWORD": os.environ[PASSWORD_ENV]}
    )
    await daemon.start()
    try:
        async with aiohttp.ClientSession() as s:
            assert await daemon.post_alert(s, 7) is not None
        await wait_until("the alert to be decided", lambda: _has(daemon, "shop/Deployment/d7"))
    finally:
        daemon.stop()
