"""Opening the cluster: which configuration to load, and whether anything answers.

`app.py` opens the client once at start-up (through `actions.kube.open_kube`). No cluster is not
an error: the daemon still runs, with every action a dry-run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp.helpers import get_env_proxy_for_url
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config.incluster_config import SERVICE_HOST_ENV_NAME, SERVICE_TOKEN_FILENAME
from kubernetes_asyncio.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION
from yarl import URL

from remediator.clock import Clock
from remediator.config import KubeSettings
from remediator.errors import ConfigError
from remediator.kube.client import KubeClient

log = structlog.stdlib.get_logger("remediator.actions.kube")


@asynccontextmanager
async def open_client(settings: KubeSettings, *, clock: Clock) -> AsyncIterator[KubeClient | None]:
    """The cluster's `KubeClient`, or None when there is no cluster to act on (every action a dry-run).

    Always a private `Configuration`: the loaders' global default would leak between tests and
    clusters. After loading, one bounded GET /version decides; an unreachable cluster closes the client
    and yields None. A configuration the operator asked for explicitly (`kubeconfig`, `incluster`) that
    cannot be loaded raises `ConfigError` instead: that is a typo to fix, not a cluster being down.
    """
    cfg, mode, why = await _load_configuration(settings)
    if cfg is None:
        # Chosen on purpose with mode 'none': info. Found nothing in 'auto': worth a warning.
        emit = log.info if settings.mode == "none" else log.warning
        emit(f"kubernetes: {why}: every action runs as dry-run", mode=settings.mode)
        yield None
        return
    async with ApiClient(configuration=cfg) as api:
        _read_environment_once(api, cfg.host)
        kube = KubeClient(
            api, call_timeout_s=settings.call_timeout, clock=clock, max_in_flight=settings.max_in_flight
        )
        ok, detail = await kube.probe()
        if ok:
            log.info(f"kubernetes: connected ({mode}, {detail})", mode=mode, host=cfg.host)
            yield kube
            return
    log.warning(
        f"kubernetes: no cluster reachable ({mode} {cfg.host}: {detail}): every action runs as dry-run",
        mode=mode,
        host=cfg.host,
    )
    yield None


def _read_environment_once(api: ApiClient, host: str | None) -> None:
    """Take the environment's proxy for `host` now, and stop aiohttp reading it on every call.

    kubernetes-asyncio's session trusts the environment, so aiohttp looks up the proxy variables and
    ~/.netrc for every request, each in a worker thread: two hops to a thread and back per API call,
    which doubled a call's cost on the loop (0.9 -> 0.4 ms of CPU a GET against the bench's fake) and
    wait for a free CPU on a busy node. The environment does not change under a running daemon:
    `HTTPS_PROXY`/`HTTP_PROXY` (and `NO_PROXY`) are read once here; a proxy set in the kubeconfig wins,
    as before. A proxy URL with credentials keeps aiohttp's own lookup (the only way it sends them
    on every path). A ~/.netrc entry for the API server is no longer consulted: with a token aiohttp
    refused it anyway (Authorization given twice).
    """
    rest: Any = api.rest_client
    if host and not rest.proxy:
        try:
            proxy, auth = get_env_proxy_for_url(URL(host))
        except LookupError:
            pass
        else:
            if auth is not None:
                return
            rest.proxy = str(proxy)
    trusting: aiohttp.ClientSession = rest.pool_manager
    # The same connector (TLS context, pool size); 2 MiB reads as kubernetes-asyncio sets for watches.
    rest.pool_manager = aiohttp.ClientSession(
        connector=trusting.connector, trust_env=False, read_bufsize=2**21
    )
    trusting.detach()


async def _load_configuration(settings: KubeSettings) -> tuple[client.Configuration | None, str, str]:
    """(configuration, mode used, why) following `settings.mode`; configuration None means dry-run."""
    mode = _resolve_mode(settings)
    if mode == "none":
        if settings.mode == "none":
            return None, mode, "mode 'none'"
        where = settings.kubeconfig or KUBE_CONFIG_DEFAULT_LOCATION
        return None, "auto", f"no service account mounted and no kubeconfig at {str(where)!r}"
    cfg = client.Configuration()
    path = str(settings.kubeconfig) if settings.kubeconfig else KUBE_CONFIG_DEFAULT_LOCATION
    try:
        if mode == "incluster":
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            # persist_config=False: never write refreshed credentials back into a (read-only) mounted file.
            await config.load_kube_config(
                config_file=path, context=settings.context, client_configuration=cfg, persist_config=False
            )
    except Exception as e:  # the loaders raise ConfigException, OSError, YAML and exec-plugin errors alike
        what = "in-cluster config" if mode == "incluster" else f"kubeconfig {path!r}"
        if settings.mode == "auto":
            return None, mode, f"cannot load {what}: {e}"
        raise ConfigError(f"kubernetes.mode {settings.mode!r}: cannot load {what}: {e}") from e
    return cfg, mode, "loaded"


def _resolve_mode(settings: KubeSettings) -> str:
    """The mode to load: `auto` becomes in-cluster, kubeconfig or none, as DESIGN.md orders them."""
    if settings.mode != "auto":
        return settings.mode
    if os.environ.get(SERVICE_HOST_ENV_NAME) and Path(SERVICE_TOKEN_FILENAME).is_file():
        return "incluster"
    if _kubeconfig_exists(settings.kubeconfig):
        return "kubeconfig"
    return "none"


def _kubeconfig_exists(path: Path | None) -> bool:
    if path is not None:
        return path.is_file()
    # $KUBECONFIG may list several files, as for kubectl.
    return any(Path(p).expanduser().is_file() for p in KUBE_CONFIG_DEFAULT_LOCATION.split(os.pathsep) if p)
