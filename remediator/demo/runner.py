"""`remediator demo`: the daemon, a fake cluster and sample incidents in one process.

Everything is real but the cluster and the outside services: the journal (SQLite in a temporary
directory), the engine and its guards, kubernetes-asyncio talking HTTP to the in-process fake API
server, PagerDuty and chat clients talking HTTP to in-process receivers, the webhook and the
override API on a loopback port. The story (story.py) fires the incidents and narrates; then the
daemon keeps serving until Ctrl-C (or, with `--once`, exits 0 only if every expected step happened).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp
from aiohttp import web

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.config import (
    AlertmanagerSettings,
    ApiToken,
    AuthSettings,
    GuardSettings,
    HttpSettings,
    JournalSettings,
    KubeSettings,
    NotifyChannel,
    NotifySettings,
    PagerDutySettings,
    PrometheusSettings,
    SecretRef,
    Settings,
    is_loopback,
    parse_listen,
)
from remediator.demo.checks import Evidence
from remediator.demo.clock import DemoClock
from remediator.demo.narrator import Narrator
from remediator.demo.outside import OutsideWorld
from remediator.demo.shop import SHOP, seed_shop
from remediator.demo.story import Story, StoryStuck
from remediator.errors import ConfigError, RuleLoadError
from remediator.logs import configure_logging
from remediator.testing import FakeKubeServer

DEMO_RULES = Path(__file__).resolve().parent / "rules"
"""The demo's own rule (a step that waits for approval); the shipped rules come from `rules/`."""
STORY_START_S = 30 * 60.0
"""The story starts this long ago, so that once its minutes have been fast-forwarded the clock
meets the wall clock and the console's ages read true."""
OPERATOR = "oncall"
"""The demo token's name: what the audit trail shows for a change made in the console."""
_SHUTDOWN_TICK_S = 0.01


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    once: bool
    listen: str
    rules: tuple[Path, ...]
    color: bool


def default_rules() -> tuple[Path, ...]:
    """`rules/` in the working directory, else next to the package (a source checkout)."""
    for candidate in (Path("rules"), Path(__file__).resolve().parents[2] / "rules"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return (candidate,)
    raise DemoError(
        "cannot find the shipped rules (rules/*.yaml): run it from the repository, or pass --rules DIR"
    )


def run(options: DemoOptions, out: TextIO) -> int:
    """Exit status: 0 done (with --once: every expected step happened), 1 a step did not, 2 cannot start."""
    try:
        return asyncio.run(_main(options, out))
    except DemoError as e:
        print(f"remediator demo: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _bind(listen: str) -> socket.socket:
    try:
        host, port = parse_listen(listen)
    except (ConfigError, ValueError) as e:
        raise DemoError(f"--listen {listen!r}: {e}") from None
    if not is_loopback(host):
        raise DemoError(f"--listen {listen!r}: the demo listens on loopback only (127.0.0.1 or ::1)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        hint = "; pass --listen 127.0.0.1:0 for any free port" if e.errno == errno.EADDRINUSE else ""
        raise DemoError(f"cannot listen on {listen}: {e.strerror}{hint}") from None
    return sock


def _secret(directory: Path, name: str, value: str) -> SecretRef:
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return SecretRef(file=path)


def _settings(
    *,
    tmp: Path,
    kube: FakeKubeServer,
    outside: OutsideWorld,
    rules: Sequence[Path],
    listen: str,
    url: str,
    webhook_token: str,
    admin_token: str,
) -> Settings:
    return Settings(
        http=HttpSettings(listen=listen, public_url=url),
        auth=AuthSettings(
            webhook_token=_secret(tmp, "webhook-token", webhook_token),
            api_tokens=(
                ApiToken(name=OPERATOR, scope="admin", file=_secret(tmp, "admin-token", admin_token).file),
            ),
        ),
        journal=JournalSettings(path=tmp / "journal.sqlite", synchronous="normal"),
        kubernetes=KubeSettings(
            mode="kubeconfig", kubeconfig=kube.write_kubeconfig(tmp / "kubeconfig"), call_timeout=5.0
        ),
        guards=GuardSettings(approval_expiry=12 * 3600.0),
        pagerduty=PagerDutySettings(
            webhook_secrets=(),
            routing_key=_secret(tmp, "pagerduty-routing-key", secrets.token_hex(16)),
            events_url=outside.pagerduty_url,
        ),
        alertmanager=AlertmanagerSettings(),
        prometheus=PrometheusSettings(),
        notify=NotifySettings(
            channels={"ops": NotifyChannel(kind="slack", url=_secret(tmp, "chat-url", outside.chat_url))}
        ),
        rules=(*rules, DEMO_RULES),
    )


@contextlib.asynccontextmanager
async def _http(app: Application, sock: socket.socket) -> AsyncIterator[None]:
    runner = web.AppRunner(build_web_app(app.api_state()), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield
    finally:
        await runner.cleanup()


async def _main(options: DemoOptions, out: TextIO) -> int:
    width = shutil.get_terminal_size().columns if out.isatty() else None
    narrator = Narrator(out, color=options.color, width=width)
    sock = _bind(options.listen)
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    webhook_token, admin_token = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    with contextlib.ExitStack() as files:
        files.callback(sock.close)
        tmp = Path(files.enter_context(tempfile.TemporaryDirectory(prefix="remediator-demo-")))
        log_path = tmp / "remediator.log"
        configure_logging(stream=files.enter_context(log_path.open("a", encoding="utf-8")))
        clock = DemoClock(start_offset_s=-STORY_START_S)
        async with FakeKubeServer(clock=clock.now) as kube, OutsideWorld() as outside:
            seed_shop(kube, now=clock.now())
            settings = _settings(
                tmp=tmp,
                kube=kube,
                outside=outside,
                rules=options.rules,
                listen=options.listen,
                url=url,
                webhook_token=webhook_token,
                admin_token=admin_token,
            )
            _introduce(narrator, settings, url)
            ticker: asyncio.Task[None] | None = None
            try:
                async with contextlib.AsyncExitStack() as stack:
                    app = await stack.enter_async_context(open_app(settings, clock=clock))
                    await stack.enter_async_context(_http(app, sock))
                    session = await stack.enter_async_context(aiohttp.ClientSession())
                    story = Story(
                        app=app,
                        clock=clock,
                        kube=kube,
                        narrator=narrator,
                        session=session,
                        evidence=Evidence(journal=app.journal, kube=kube, outside=outside, incidents={}),
                        webhook_url=f"{url}/webhook/alertmanager",
                        webhook_token=webhook_token,
                    )
                    try:
                        try:
                            ok = await story.play()
                        except StoryStuck as e:  # caught here, before a TaskGroup wraps it in a group
                            narrator.say(f"the demo got stuck: {e} (daemon log: {log_path})", "red")
                            return 1
                        if options.once:
                            return 0 if ok else 1
                        clock.catch_up()
                        _serve_banner(narrator, url, admin_token, log_path)
                        await _interrupted()
                        narrator.say("stopping the demo (the journal and the fake cluster are thrown away)")
                    finally:
                        # On the way out time flies: executions still verifying end instead of holding
                        # the shutdown for their whole window.
                        ticker = asyncio.get_running_loop().create_task(
                            _time_flies(clock), name="demo-ticker"
                        )
            except RuleLoadError as e:
                raise DemoError(
                    "the rules do not load:\n  " + "\n  ".join(str(err) for err in e.errors)
                ) from None
            finally:
                if ticker is not None:
                    ticker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await ticker
    return 0


async def _time_flies(clock: DemoClock) -> None:
    while True:
        await asyncio.sleep(_SHUTDOWN_TICK_S)
        clock.advance(60.0)


def _introduce(narrator: Narrator, settings: Settings, url: str) -> None:
    narrator.say("remediator demo", "bold")
    narrator.say(
        "The daemon runs in this process with the shipped rules, a real journal and engine, against an "
        "in-process fake Kubernetes cluster; PagerDuty and chat are in-process fakes too. Nothing leaves "
        "this machine."
    )
    narrator.say(
        "Time is fast-forwarded while the incidents play out: minutes of waiting (verification windows) "
        "pass in a moment; the times shown are relative to the first alert.",
        "dim",
    )
    narrator.say()
    narrator.say("The shop (namespace shop):")
    for w in SHOP:
        narrator.say(f"  {w.describe()}")
    narrator.say(f"Rules: {', '.join(str(p) for p in settings.rules)}")
    narrator.say(f"Daemon: {url} (webhook, API, metrics)")


def _serve_banner(narrator: Narrator, url: str, token: str, log_path: Path) -> None:
    narrator.heading("the daemon keeps running until Ctrl-C")
    rows = (
        ("console", f"{url}/ui/   (open it in a browser; log in with the token below)"),
        ("token", f"{token}   (admin; named {OPERATOR!r} in the audit trail)"),
        ("API", f"{url}/api/v1/status   (Authorization: Bearer <token>)"),
        ("ctl", f"REMEDIATOR_URL={url} REMEDIATOR_TOKEN={token} remediator ctl approvals"),
        ("webhook", f"{url}/webhook/alertmanager"),
        ("metrics", f"{url}/metrics"),
        ("log", str(log_path)),
    )
    for name, value in rows:
        narrator.say(f"  {name:<8} {value}")
    narrator.say(
        f"  One action waits for a human: approve or reject it in the console ({url}/ui/approvals).", "yellow"
    )


async def _interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
