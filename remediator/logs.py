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

import json
import logging
import math
import re
import sys
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
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # No caching: a cached logger keeps its processors forever, so capture_logs() and a later
        # configure_logging() would not reach loggers already used.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # JSON carries tracebacks as data; the console renderer formats them itself.
                *([_TRACEBACKS] if fmt == "json" else []),
                renderer,
                scrub,
            ],
        )
    )
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
