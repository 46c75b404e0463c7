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

import logging
import re
import sys
from typing import Any, TextIO

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
    return _CREDENTIAL.sub(lambda m: m.group("scheme") + REDACTED, redact(line))


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
        structlog.processors.JSONRenderer()
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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # The access log duplicates remediator_webhook_requests_total; keep it at debug.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING if level != "debug" else logging.DEBUG)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
