"""The main process's side of the intake process: start it, keep it running, stop it first.

`remediator serve` opens this after its own start-up. The intake process gets the settings in its
environment (references to secrets only) and one end of a channel (channel.py); what it reports
there wakes the processor (`PayloadSink.payloads_written`), and every `poll_s` the journal is polled
for payloads whose wake-up was lost and the intake process is told the backlog, which it sheds by.
A process that exits is logged and started again after a back-off that doubles up to a minute;
/readyz says "intake" is not ready meanwhile. `stop` sends SIGTERM and waits: the requests in flight
are answered and their writes committed before the main process closes anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from remediator.clock import Clock
from remediator.config import Settings
from remediator.intake.channel import Channel, Handlers, socket_pair
from remediator.intake.front import Front
from remediator.logs import get_logger

log = get_logger("remediator")

SETTINGS_ENV = "REMEDIATOR_INTAKE_SETTINGS"
CHANNEL_ENV = "REMEDIATOR_INTAKE_FD"
PARENT_ENV = "REMEDIATOR_INTAKE_PARENT"
MAX_BACKOFF_S = 60.0
STEADY_S = 60.0
"""A process that ran this long before it died starts again after the first back-off, not a longer one."""


@runtime_checkable
class PayloadSink(Protocol):
    """The journal's side of the wake-up (SQLite; PostgreSQL wakes its processors with NOTIFY)."""

    def payloads_written(self, highest: int, *, waiting: int = 0) -> None: ...

    async def poll_payloads(self) -> None: ...

    def backlog_mark(self) -> tuple[int, int]: ...


class IntakeProcess:
    def __init__(
        self,
        *,
        settings: Settings,
        sink: PayloadSink | None,
        clock: Clock,
        poll_s: float = 1.0,
        front: Front | None = None,
    ) -> None:
        """`front`: the intake process is the front on http.listen (front.py), else it listens on
        intake.listen."""
        self._settings = settings
        self._front = front
        self._sink = sink
        self._clock = clock
        self._poll_s = poll_s
        self._proc: asyncio.subprocess.Process | None = None
        self._channel: Channel | None = None
        self._stopping = asyncio.Event()
        self._listening = asyncio.Event()
        self._state = "starting"
        self.port: int | None = None
        """Where the intake process listens, once it said so."""
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def status(self) -> str:
        """ "ok" while it listens; otherwise why not (readiness shows it)."""
        return self._state

    async def listening(self) -> int:
        """Wait until the (current) process listens; its port."""
        await self._listening.wait()
        assert self.port is not None
        return self.port

    # -- running -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start the process and start it again whenever it exits, until `stop` (which it waits on)."""
        backoff = self._settings.intake.restart_backoff
        while not self._stopping.is_set():
            started = self._clock.monotonic()
            proc = await self._spawn()
            exited = asyncio.ensure_future(proc.wait())
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not exited.done():
                await self._terminate(proc)
            code = await exited
            if self._stopping.is_set():
                log.info("intake process stopped", pid=proc.pid, returncode=code)
            self._ended()
            if self._stopping.is_set():
                return
            if self._clock.monotonic() - started >= STEADY_S:
                backoff = self._settings.intake.restart_backoff
            self._state = f"down: exited with status {code}; starting again in {backoff:g}s"
            log.error("intake process exited", returncode=code, restart_in_s=backoff)
            await self._sleep_unless_stopped(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _spawn(self) -> asyncio.subprocess.Process:
        ours, theirs = socket_pair()
        env = {
            **os.environ,
            SETTINGS_ENV: self._settings.model_dump_json(),
            CHANNEL_ENV: str(theirs.fileno()),
            PARENT_ENV: str(os.getpid()),
            **(self._front.env() if self._front is not None else {}),
        }
        fds = (theirs.fileno(),) + ((self._front.listener.fileno(),) if self._front is not None else ())
        try:
            # From the event loop's thread: PR_SET_PDEATHSIG fires when the thread that forked exits.
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "remediator.intake",
                pass_fds=fds,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._proc = proc
        self.starts += 1
        self._state = "starting"
        self._channel = Channel(ours)
        self._channel.start(Handlers(committed=self._committed, listening=self._listens))
        listen = self._settings.intake.listen or f"{self._settings.http.listen} (the front)"
        log.info("intake process started", pid=proc.pid, listen=listen)
        return proc

    def _committed(self, highest: int, waiting: int) -> None:
        if self._sink is not None:
            self._sink.payloads_written(highest, waiting=waiting)

    def _listens(self, port: int) -> None:
        self.port = port
        self._state = "ok"
        self._listening.set()

    def _ended(self) -> None:
        self._listening.clear()
        self._state = "stopped"
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._sink is not None:
            self._sink.payloads_written(0, waiting=0)  # nothing waits in a process that is gone

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        sleep = asyncio.ensure_future(self._clock.sleep(seconds))
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleep, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleep, stopped):
                task.cancel()
            await asyncio.gather(sleep, stopped, return_exceptions=True)

    async def poll(self) -> None:
        """Forever: count payloads whose wake-up was lost; tell the intake process the backlog."""
        if self._sink is None:
            return
        while not self._stopping.is_set():
            await self._sleep_unless_stopped(self._poll_s)
            try:
                await self._sink.poll_payloads()
            except Exception as e:  # the journal hiccups: the next turn tries again
                log.warning("intake: polling the journal for payloads failed", error=str(e))
            if self._channel is not None:
                backlog, as_of = self._sink.backlog_mark()
                self._channel.backlog(backlog, as_of=as_of)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[IntakeProcess]:
        """The process, running (and started again) while the block runs; stopped first at its end."""
        async with asyncio.TaskGroup() as tg:
            run = tg.create_task(self.run(), name="intake-process")
            tg.create_task(self.poll(), name="intake-poll")
            try:
                yield self
            finally:
                self.stop()
                await asyncio.shield(run)  # even when cancelled: the process is stopped, not left behind

    def stop(self) -> None:
        """Ask `run` to stop the process (SIGTERM) and return; await `run`'s task to know it did."""
        self._stopping.set()

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        """SIGTERM, then wait for it to answer what it holds (at most the handler timeout, and some)."""
        log.info("stopping the intake process", pid=proc.pid)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(self._settings.http.handler_timeout + 5.0):
                await proc.wait()
        except TimeoutError:
            log.error("the intake process did not stop in time: killed", pid=proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
