"""`remediator serve` on uvloop's event loop, to measure what uvloop would buy (nothing else differs)."""

from __future__ import annotations

import asyncio
import sys

import uvloop

from remediator.cli import main

if __name__ == "__main__":
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.exit(main())
