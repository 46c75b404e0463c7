"""The bare-aiohttp limit: a handler that only reads the body, parses the JSON and answers 200.

Run as its own process (`python -m bench.bare --port N [--uvloop]`), like the daemon, so the
ingest comparison is the same load generator against two servers on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from aiohttp import web


async def webhook(request: web.Request) -> web.Response:
    json.loads(await request.read())
    return web.Response(status=200, text='{"status":"ok"}', content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def build_app() -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/webhook/alertmanager", webhook)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--uvloop", action="store_true")
    args = p.parse_args()
    if args.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(build_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
