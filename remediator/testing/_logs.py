"""`GET .../pods/{name}/log`: container logs that tests write, served as the API server serves them.

Evidence capture reads logs of failing pods, so the fake answers with the real server's
choices: the only container when the pod has one, 400 naming the containers when it has
several and none is named, 400 while the container is still being created, `tailLines`,
`sinceSeconds`/`sinceTime`, `timestamps`, `previous` (the last crashed instance), and
`limitBytes`. Lines carry the time they were written on the injected clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from remediator.testing._errors import ApiError, bad_request
from remediator.testing._store import Obj, format_micro


@dataclass(frozen=True, slots=True)
class LogLine:
    at: datetime
    text: str


class LogStore:
    """Lines per (namespace, pod, container), current and previous (before the last restart)."""

    def __init__(self) -> None:
        self._current: dict[tuple[str, str, str], list[LogLine]] = {}
        self._previous: dict[tuple[str, str, str], list[LogLine]] = {}

    def write(self, namespace: str, pod: str, container: str, text: str, *, at: datetime) -> None:
        lines = text.splitlines() or [""]
        self._current.setdefault((namespace, pod, container), []).extend(LogLine(at, t) for t in lines)

    def restart(self, namespace: str, pod: str, container: str) -> None:
        """The container restarted: what it wrote becomes `previous=true`, the new one starts empty."""
        key = (namespace, pod, container)
        self._previous[key] = self._current.pop(key, [])

    def forget(self, namespace: str, pod: str) -> None:
        """The pod is gone: so are its logs (the kubelet removes them with the containers)."""
        for store in (self._current, self._previous):
            for key in [k for k in store if k[:2] == (namespace, pod)]:
                del store[key]

    def lines(self, namespace: str, pod: str, container: str, *, previous: bool) -> list[LogLine]:
        store = self._previous if previous else self._current
        return list(store.get((namespace, pod, container), []))

    def has_previous(self, namespace: str, pod: str, container: str) -> bool:
        return (namespace, pod, container) in self._previous


def _int(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f'{key}: Invalid value: "{raw}": must be an integer') from None


def _container(pod: Obj, requested: str | None) -> str:
    """`LogLocation`'s choice of container, with its error wording."""
    name = pod["metadata"]["name"]
    containers = [str(c.get("name", "")) for c in pod["spec"].get("containers") or []]
    init = [str(c.get("name", "")) for c in pod["spec"].get("initContainers") or []]
    if not requested:
        if len(containers) == 1:
            return containers[0]
        if not containers:
            raise bad_request(f"a container name must be specified for pod {name}")
        message = (
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        )
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        raise bad_request(message)
    if requested not in containers and requested not in init:
        raise bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def read_log(logs: LogStore, pod: Obj, query: Mapping[str, str], *, now: datetime) -> str:
    """The text body of a pods/log GET, or raise the ApiError the real server answers with."""
    meta = pod["metadata"]
    container = _container(pod, query.get("container"))
    previous = query.get("previous") in ("true", "1", "True")
    status: dict[str, Any] = next(
        (s for s in (pod.get("status") or {}).get("containerStatuses") or [] if s.get("name") == container),
        {},
    )
    state, last = status.get("state") or {}, status.get("lastState") or {}
    # The kubelet's `validateContainerLogStatus`: which instance's log, or why none.
    where = f'container "{container}" in pod "{meta["name"]}"'
    if previous:
        if "terminated" not in last:
            raise bad_request(
                f'previous terminated container "{container}" in pod "{meta["name"]}" not found'
            )
    elif "waiting" in state:
        if "terminated" not in last:
            raise bad_request(f"{where} is waiting to start: {state['waiting'].get('reason', '')}")
        previous = True  # crash-looping: the last crashed instance is the one with a log
    tail = _int(query, "tailLines")
    since_s = _int(query, "sinceSeconds")
    limit = _int(query, "limitBytes")
    if tail is not None and tail < 0:
        raise bad_request(f"tailLines: Invalid value: {tail}: must be greater than or equal to 0")
    if since_s is not None and since_s < 1:
        raise bad_request(f"sinceSeconds: Invalid value: {since_s}: must be greater than 0")
    if limit is not None and limit < 1:
        raise bad_request(f"limitBytes: Invalid value: {limit}: must be greater than 0")
    if since_s is not None and query.get("sinceTime"):
        raise ApiError(422, "at most one of `sinceTime` or `sinceSeconds` may be specified")
    lines = logs.lines(meta["namespace"], meta["name"], container, previous=previous)
    if since_s is not None:
        cutoff = now - timedelta(seconds=since_s)
        lines = [line for line in lines if line.at >= cutoff]
    elif query.get("sinceTime"):
        try:
            cutoff = datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(f'sinceTime: Invalid value: "{query["sinceTime"]}"') from None
        lines = [line for line in lines if line.at >= cutoff]
    if tail is not None:
        lines = lines[len(lines) - tail :] if tail else []
    stamped = query.get("timestamps") in ("true", "1", "True")
    # The kubelet stamps RFC 3339 with nine fractional digits.
    text = "".join(
        f"{format_micro(line.at)[:-1] + '000Z ' if stamped else ''}{line.text}\n" for line in lines
    )
    if limit is not None:
        text = text.encode()[:limit].decode(errors="ignore")
    return text
