"""The webhook request path's own CPU, without the journal: what an intake process spends on a webhook
besides the write, against the bare handler (bench/bare.py), same load generator, same bodies.

    python -m bench.request_path [--sizes 1,100] [--duration 5] [--rounds 2] [--uvloop]
    PYTHONPATH=/tmp/copy:$PWD python -m bench.request_path   # another copy of the package

The intake application is built as an intake process builds it (`intake.child.build_intake_app`, its
token, limits and metrics) and served by the daemon's runner (`webhook_app.runner_for`), in a process
of its own, on a journal that accepts at once: the journal's commit latency and CPU (row 1 of
`python -m bench` includes them) are left out, so what remains is auth, validation, metrics and
aiohttp. Each server is driven by wrk (or the aiohttp generator without wrk) with 64 connections
for `--duration` seconds after a 1 s warm-up; the CPU per request is the server process's
(/proc/PID/stat) over the requests answered. Not part of `python -m bench`; nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
from pathlib import Path
from tempfile import TemporaryDirectory

from aiohttp import web

from bench import loadgen, procs, workload

PATH = "/webhook/alertmanager"
TOKEN_ENV = "BENCH_REQUEST_PATH_TOKEN"


class InstantJournal:
    """Accepts every payload at once (the request path without the write)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    async def accept(self, source: str, body: bytes) -> int:
        return next(self._ids)

    async def accept_once(self, source: str, body: bytes, *, delivery_id: str, ttl_s: float) -> int:
        return next(self._ids)

    def backlog(self) -> int:
        return 0


async def _serve(port: int, variant: str) -> None:
    if variant == "bare":
        from bench.bare import build_app

        runner = web.AppRunner(build_app(), access_log=None, handle_signals=False)
    else:
        from typing import Any, cast

        from remediator.api.state import WebhookState
        from remediator.api.webhook_app import runner_for
        from remediator.clock import SYSTEM_CLOCK
        from remediator.config import Settings
        from remediator.intake.child import build_intake_app
        from remediator.metrics import IntakeMetrics

        settings = Settings.model_validate(
            {
                "http": {"max_body_bytes": 4 * 1024 * 1024},
                "auth": {"webhook_token": {"env": TOKEN_ENV}, "api_tokens": []},
            }
        )
        token = settings.auth.webhook_token
        state = WebhookState(
            settings=settings,
            journal=cast(Any, InstantJournal()),
            metrics=IntakeMetrics(),
            clock=SYSTEM_CLOCK,
            webhook_token=token.resolve() if token is not None else None,
        )
        runner = runner_for(build_intake_app(state), settings.http)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(
    variant: str, *, uvloop: bool, inputs: dict[str, Path], duration_s: float
) -> tuple[loadgen.LoadResult, float]:
    port = procs.free_port()
    argv = [sys.executable, "-m", "bench.request_path", "--serve", variant, "--port", str(port)]
    env = {**procs.subprocess_env(), TOKEN_ENV: procs.TOKEN}
    server = await asyncio.create_subprocess_exec(
        *argv, *(["--uvloop"] if uvloop else []), stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert server.stdout is not None
        await server.stdout.readline()
        url = f"http://127.0.0.1:{port}{PATH}"

        async def load(seconds: float) -> loadgen.LoadResult:
            if "wrk" in inputs:
                return await loadgen.run_wrk(
                    url=url, script=inputs["wrk"], connections=64, duration_s=seconds
                )
            return await loadgen.run_python(
                url=url, bodies_file=inputs["bodies"], connections=64, duration_s=seconds, token=procs.TOKEN
            )

        await load(1.0)
        before = _cpu_s(server.pid)
        result = await load(duration_s)
        return result, (_cpu_s(server.pid) - before) / max(result.requests, 1)
    finally:
        server.terminate()
        await server.wait()


async def _run(sizes: list[int], *, duration_s: float, rounds: int, uvloop: bool) -> None:
    mix = workload.Mix(rules=1000, active_alertnames=50, targets=5000, unrouted_fraction=0.2)
    with TemporaryDirectory(prefix="bench-request-path-") as tmp:
        for size in sizes:
            bodies = workload.payloads(
                mix, count=2000 if size == 1 else 200, alerts_per_payload=size, first_serial=size * 10_000_000
            )
            inputs = {"bodies": loadgen.write_bodies(Path(tmp) / f"bodies-{size}.jsonl", bodies)}
            if loadgen.wrk_available():
                inputs["wrk"] = loadgen.write_wrk_script(
                    Path(tmp) / f"post-{size}.lua", bodies=bodies, url_path=PATH, token=procs.TOKEN
                )
            for _ in range(rounds):
                for variant in ("bare", "intake"):
                    r, cpu = await _drive(variant, uvloop=uvloop, inputs=inputs, duration_s=duration_s)
                    load = os.getloadavg()
                    print(
                        f"{variant:<7} {size:>3} alerts/payload: {r.requests_per_s:>8,.0f} req/s  "
                        f"{cpu * 1e6:>7.1f} us CPU/request  non-2xx {r.non_2xx}  "
                        f"load {load[0]:.1f}/{load[1]:.1f}",
                        flush=True,
                    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1,100", help="alerts per payload, comma-separated")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--uvloop", action="store_true", help="both servers on uvloop's event loop")
    p.add_argument("--serve", choices=["bare", "intake"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if args.serve:
        asyncio.run(_serve(args.port, args.serve))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    asyncio.run(_run(sizes, duration_s=args.duration, rounds=args.rounds, uvloop=args.uvloop))


if __name__ == "__main__":
    main()
