"""The channel between the main process and its intake process: one socketpair, small datagrams.

SOCK_SEQPACKET keeps message boundaries and reports the peer's end as an empty read, so the intake
process learns that the main process died even when no signal tells it. Every send is non-blocking and
dropped when the peer's buffer is full: each message says a whole state (the highest payload id, the
backlog), so a later one replaces a lost one, and the main process polls the journal besides.

intake -> main: `C` the highest payload id committed and the webhook writes still waiting; `L` the
port it listens on. main -> intake: `B` the backlog and the highest payload id counted in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

_COMMITTED = struct.Struct(">cQI")
_LISTENING = struct.Struct(">cI")
_BACKLOG = struct.Struct(">cQQ")


def socket_pair() -> tuple[socket.socket, socket.socket]:
    """(the main process's end, the intake process's end)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


@dataclass(kw_only=True)
class Handlers:
    """What to do with each message; `closed` when the other end is gone."""

    committed: Callable[[int, int], None] = lambda highest, waiting: None
    listening: Callable[[int], None] = lambda port: None
    backlog: Callable[[int, int], None] = lambda backlog, as_of: None
    closed: Callable[[], None] = lambda: None


class Channel:
    """One end of the pair, read on the event loop (`start`), written without ever blocking."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._handlers = Handlers()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0
        """Messages not sent because the peer's buffer was full (or it was gone)."""

    def start(self, handlers: Handlers) -> None:
        self._handlers = handlers
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._read)

    def close(self) -> None:
        if self._loop is not None and self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    # -- sending -----------------------------------------------------------------------------------

    def committed(self, highest: int, *, waiting: int) -> None:
        self._send(_COMMITTED.pack(b"C", highest, waiting))

    def listening(self, port: int) -> None:
        self._send(_LISTENING.pack(b"L", port))

    def backlog(self, backlog: int, *, as_of: int) -> None:
        self._send(_BACKLOG.pack(b"B", max(0, backlog), as_of))

    def _send(self, message: bytes) -> None:
        try:
            self._sock.send(message, socket.MSG_DONTWAIT)
        except OSError:  # full (the next message says it again) or gone (`closed` tells the reader)
            self.dropped += 1

    # -- receiving ---------------------------------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                message = self._sock.recv(64)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:
                self.close()
                self._handlers.closed()
                return
            with contextlib.suppress(struct.error):  # a message of another version: ignored
                self._dispatch(message)

    def _dispatch(self, message: bytes) -> None:
        kind = message[:1]
        if kind == b"C":
            _, highest, waiting = _COMMITTED.unpack(message)
            self._handlers.committed(highest, waiting)
        elif kind == b"L":
            _, port = _LISTENING.unpack(message)
            self._handlers.listening(port)
        elif kind == b"B":
            _, backlog, as_of = _BACKLOG.unpack(message)
            self._handlers.backlog(backlog, as_of)
