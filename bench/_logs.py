"""The daemon's logging, configured in-process for the in-process benchmarks, to a file.

`remediator serve` logs JSON lines to stdout; the in-process benchmarks do the same work
(`configure_logging`) but into a file, and put the previous configuration back afterwards so
the benchmark's own output (and pytest's capture, in the smoke test) is left as it was.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import structlog

from remediator.logs import configure_logging


@contextlib.contextmanager
def daemon_logging(path: Path) -> Iterator[Path]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_structlog = structlog.get_config()
    configure_logging(level="info", fmt="json")
    with path.open("a") as stream:
        for handler in root.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)
        try:
            yield path
        finally:
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
            structlog.configure(**saved_structlog)
