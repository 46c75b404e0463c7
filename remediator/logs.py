"""structlog set-up: JSON lines on stdout, one per stage outcome.

Context (alert fingerprint, rule, execution id) is bound with contextvars by the
stage that knows it, so every line below it carries it. Library loggers (aiohttp,
kubernetes_asyncio) go through the same renderer so the output stays one format.
Secrets never reach the output: settings keep references, resolved values are `Secret`s (redacted
repr), tracebacks are rendered without frame locals, and the last step of every line, remediator's own
and every library's (aiohttp's bad-request and access lines included), masks each configured secret
and any `Authorization` credential it still finds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import msgspec
import structlog
import structlog.tracebacks

from remediator.secrets import REDACTED, redact

_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)
"""Tracebacks as data, without each frame's local variables: those hold resolved tokens and
secrets (a handler's state holds every API token), and a log line must never carry one."""
_CREDENTIAL = re.compile(
    r"(?P<scheme>\b(?:Bearer|BEARER|bearer|Basic|BASIC)\s+|(?i:\btoken=))(?P<value>[^\s\"',;&<>]+)"
)
"""An `Authorization` credential (or a `token=` parameter) in free text: masked even when it is not a
configured secret (a client's wrong guess is still somebody's password)."""
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def scrub(_logger: Any, _name: str, line: Any) -> Any:
    """The renderer's output with every secret masked: the last processor, for every logger."""
    if not isinstance(line, str):
        line = line.decode("utf-8", "replace")
    line = redact(line)
    # The credential pattern can only match where one of its words is (its `(?i)` letters all
    # lower-case to ASCII); most lines have none, and the search costs more than the line's rendering.
    lowered = line.lower()
    if "bearer" not in lowered and "basic" not in lowered and "token=" not in lowered:
        return line
    return _CREDENTIAL.sub(lambda m: m.group("scheme") + REDACTED, line)


_FAST_JSON = msgspec.json.Encoder()
_INT64 = range(-(2**63), 2**63)
_EXACT = frozenset({str, int, bool, type(None)})
"""Values msgspec writes as `json.dumps` does, as long as the line it writes is ASCII without DEL
(msgspec writes those raw where `json.dumps` escapes them)."""
_KEYS = frozenset({str})


def _plain(value: Any) -> bool:
    """A value msgspec writes exactly as `json.dumps` does (bar float exponents): an ASCII string
    without DEL, a 64-bit int, a finite float, a bool or None."""
    kind = type(value)
    if kind is str:
        return bool(value.isascii()) and "\x7f" not in value
    if kind is int:
        return value in _INT64
    if kind is float:
        return math.isfinite(value)
    return value is None or kind is bool


def dumps(event: dict[str, Any], **kw: Any) -> str:
    """One JSON line (compact). A log line of plain values (nearly all) is written by msgspec, a
    twentieth of `json.dumps`'s time; anything else (tracebacks, objects shown by their repr) by
    `json.dumps` as before, so nothing is encoded in a form `scrub` would not recognise. The common
    line (strings, ints, bools, None) is checked by type and then once as a whole, not value by value
    (the checks cost more than the encoding)."""
    if _EXACT.issuperset(map(type, event.values())) and _KEYS.issuperset(map(type, event)):
        line = _FAST_JSON.encode(event)
        if line.isascii() and b"\x7f" not in line:
            return line.decode()
    elif all(type(k) is str and _plain(k) and _plain(v) for k, v in event.items()):
        return _FAST_JSON.encode(event).decode()
    return json.dumps(event, separators=(",", ":"), **kw)


class _JsonLines(structlog.stdlib.ProcessorFormatter):
    """structlog's own events rendered straight from their event dict.

    `ProcessorFormatter.format` copies each record (a second `LogRecord`) and formats the copy with
    `%(message)s` after the processors; for remediator's own events the processors' string is that
    message. Library lines (no event dict) take the parent's path."""

    fused: _Fused | None = None
    """The whole chain in one step, for the structlog chain it was configured with (`_Fused`)."""

    def format(self, record: logging.LogRecord) -> str:
        logger = getattr(record, "_logger", None)
        method = getattr(record, "_name", None)
        if logger is None or method is None or self.logger is not None or not isinstance(record.msg, dict):
            return super().format(record)
        return self.render(logger, method, record.msg.copy(), record)

    def render(self, logger: Any, method: str, event: Any, record: Any) -> str:
        """The line for `event` (consumed: the processors change it)."""
        event["_record"] = record
        event["_from_structlog"] = True
        for processor in self.processors:
            event = processor(logger, method, event)
        return str(event)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Fused:
    """Both halves of the JSON chain run as one, for `_BoundLogger`'s straight path: the structlog
    side's adders, then the formatter's renderer and `scrub`. Left out, because on that path they
    do nothing: `ExtraAdder` (no record to copy from), `wrap_for_formatter` and
    `remove_processors_meta` (no record), the traceback renderer (no `exc_info`)."""

    chain: list[Any]
    """The structlog chain this stands for: used only when a logger's processors are this list."""
    adders: tuple[Any, ...]
    renderer: Any

    def line(self, logger: logging.Logger, method: str, event: dict[str, Any]) -> str:
        for adder in self.adders:
            event = adder(logger, method, event)
        return str(scrub(logger, method, self.renderer(logger, method, event)))


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that flushes once per event-loop iteration, not once per line.

    On the event loop, a batch's lines (thousands in a storm) are written through the stream's
    buffer and flushed together when the loop next runs its callbacks; off a loop (threads, start-up,
    the CLI) every line is flushed as it is written, as `StreamHandler` does."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._queued_on: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(self.format(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def write_event(
        self, logger: logging.Logger, method: str, level: int, event_dict: dict[str, Any]
    ) -> None:
        """`event_dict` (a structlog event, processed) written as `emit` writes its record, without the
        record: see `_BoundLogger`."""
        formatter = self.formatter
        assert isinstance(formatter, _JsonLines)
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            try:
                self._write(formatter.render(logger, method, event_dict, None))
            except RecursionError:
                raise
            except Exception:
                self.handleError(
                    logger.makeRecord(logger.name, level, "(unknown file)", 0, event_dict, (), None)
                )

    def write_fused(
        self, fused: _Fused, logger: logging.Logger, method: str, level: int, event_dict: dict[str, Any]
    ) -> None:
        """`event_dict` (a structlog event, unprocessed) written as `write_event` writes one."""
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            try:
                self._write(fused.line(logger, method, event_dict))
            except RecursionError:
                raise
            except Exception:
                self.handleError(logger.makeRecord(logger.name, level, "(unknown file)", 0, "", (), None))

    def _write(self, line: str) -> None:
        self.stream.write(line + self.terminator)
        loop = asyncio._get_running_loop()
        if loop is None:
            self.flush()
        elif self._queued_on is not loop:
            # Also when a flush is queued on another loop: that loop may never run it.
            self._queued_on = loop
            loop.call_soon(self._flush_queued, loop)

    def _flush_queued(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._queued_on is loop:
            self._queued_on = None
        self.flush()


_WRAP = structlog.stdlib.ProcessorFormatter.wrap_for_formatter
_METHOD_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _direct_handler(logger: logging.Logger, level: int) -> _LineHandler | None:
    """The one handler a record from `logger` would reach, when nothing between (no other handler, no
    filter) could see the record: then the line can be written without building it."""
    node: logging.Logger | None = logger
    while node is not None:
        if node.filters or node.disabled:
            return None
        if node.parent is None:  # the root
            handlers = node.handlers
            if len(handlers) != 1:
                return None
            handler = handlers[0]
            if type(handler) is not _LineHandler or handler.filters or level < handler.level:
                return None
            return handler if type(handler.formatter) is _JsonLines else None
        if node.handlers or not node.propagate:
            return None
        node = node.parent
    return None


class _BoundLogger(structlog.stdlib.BoundLogger):
    """structlog's stdlib logger, writing the daemon's own JSON lines straight to its handler.

    A line through `logging` builds a `LogRecord`, walks the logger tree and takes the handler's lock
    to reach the one handler the daemon configures; a storm writes two lines per dry-run plan, and
    that walk was half of each. When the record could reach nothing else (`_direct_handler`: no other
    handler or filter, structlog's chain ending with `wrap_for_formatter`), the processed event goes
    straight to the handler's renderer: the same processors, the same line. Anything else (tracebacks,
    positional arguments, a test's capturing handler, another configuration) takes the stdlib path."""

    def _proxy_to_logger(
        self, method_name: str, event: str | None = None, *event_args: str, **event_kw: Any
    ) -> Any:
        level = _METHOD_LEVELS.get(method_name)
        processors: Any = self._processors  # the configured list
        if (
            level is None
            or event_args
            or "exc_info" in event_kw
            or "stack_info" in event_kw
            or not processors
            or processors[-1] is not _WRAP
        ):
            return super()._proxy_to_logger(method_name, event, *event_args, **event_kw)
        logger: logging.Logger = self._logger
        if not logger.isEnabledFor(level):
            return None  # what logging would do with it, after the same processors (none with effects)
        handler = _direct_handler(logger, level)
        if handler is None:
            return super()._proxy_to_logger(method_name, event, **event_kw)
        fused = handler.formatter.fused if isinstance(handler.formatter, _JsonLines) else None
        if fused is not None and processors is fused.chain:
            # `_process_event`'s event dict, then the chain as one step.
            event_dict: Any = self._context.copy()
            event_dict.update(**event_kw)
            if event is not None:
                event_dict["event"] = event
            if "exc_info" not in event_dict and "stack_info" not in event_dict:
                handler.write_fused(fused, logger, method_name, level, event_dict)
                return None
        try:
            args, kw = self._process_event(method_name, event, event_kw)
        except structlog.DropEvent:
            return None
        event_dict = args[0] if len(args) == 1 else None
        if type(event_dict) is not dict or "exc_info" in event_dict or "stack_info" in event_dict:
            return getattr(logger, method_name)(*args, **kw)
        handler.write_event(logger, method_name, level, event_dict)
        return None


def configure_logging(*, level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Route every logger through structlog to `stream` (default: stdout; the demo sends it to a file)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=dumps)
        if fmt == "json"
        # plain tracebacks: rich's would print each frame's locals, secrets among them
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    chain = [*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter]
    structlog.configure(
        processors=chain,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=_BoundLogger,
        # No caching: a cached logger keeps its processors forever, so capture_logs() and a later
        # configure_logging() would not reach loggers already used.
        cache_logger_on_first_use=False,
    )
    handler = _LineHandler(stream if stream is not None else sys.stdout)
    formatter = (_JsonLines if fmt == "json" else structlog.stdlib.ProcessorFormatter)(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # JSON carries tracebacks as data; the console renderer formats them itself.
            *([_TRACEBACKS] if fmt == "json" else []),
            renderer,
            scrub,
        ],
    )
    if isinstance(formatter, _JsonLines):
        merge, level_of, name_of, stamp, _extra = shared
        formatter.fused = _Fused(chain=chain, adders=(merge, level_of, name_of, stamp), renderer=renderer)
    handler.setFormatter(formatter)
    # No line shows where a call was made, or the thread or process: the logging HOWTO's
    # "Optimization" settings skip collecting them (a stack walk per line was 15% of logging).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # The access log duplicates remediator_webhook_requests_total; keep it at debug.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING if level != "debug" else logging.DEBUG)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
