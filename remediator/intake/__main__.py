"""`python -m remediator.intake`: the intake process, as the main process starts it (supervisor.py).

Its settings come in the environment as JSON (references to secrets, never their values), its end of
the channel as an inherited file descriptor. Log lines carry `process: intake`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import structlog

from remediator.clock import SYSTEM_CLOCK, clock_from_env
from remediator.config import Settings
from remediator.intake.channel import Channel
from remediator.intake.child import serve_intake
from remediator.intake.front import front_from_env
from remediator.intake.lifeline import die_with_parent
from remediator.intake.supervisor import CHANNEL_ENV, PARENT_ENV, SETTINGS_ENV
from remediator.logs import configure_logging, get_logger

log = get_logger("remediator.intake")


def main() -> int:
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    configure_logging(level=settings.log.level, fmt=settings.log.format)
    structlog.contextvars.bind_contextvars(process="intake")
    if not die_with_parent(int(os.environ[PARENT_ENV])):
        log.warning("the main process is gone before the intake process started")
        return 0
    channel = Channel(socket.socket(fileno=int(os.environ[CHANNEL_ENV])))
    try:
        asyncio.run(
            serve_intake(
                settings,
                channel=channel,
                clock=clock_from_env(os.environ) or SYSTEM_CLOCK,
                front=front_from_env(os.environ),
            )
        )
    except Exception as e:
        log.exception("intake process failed", error=str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
