"""set_env: `kubectl set env` on one container, merged by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediator.actions.kube.fields import get, uid_of
from remediator.actions.kube.plan import Prepared
from remediator.clock import Clock
from remediator.errors import NotApplicableError, PermanentActionError
from remediator.kube import KubeClient
from remediator.kube.client import STRATEGIC_MERGE
from remediator.model import Change, Target


async def prepare_set_env(
    params: Mapping[str, Any], target: Target, *, kube: KubeClient, clock: Clock
) -> Prepared:
    """kubectl set env: a strategic merge patch on one container's env, merged by name."""
    name, value = params.get("name"), params.get("value")
    if not isinstance(name, str) or not name:
        raise PermanentActionError(f"set_env: variable name {name!r} is not a non-empty string")
    if value is None:
        raise PermanentActionError(f"set_env: {name}: no value given")
    value = str(value)
    wanted = params.get("container")
    obj = await kube.read_workload(target)
    containers: list[dict[str, Any]] = get(obj, "spec", "template", "spec", "containers") or []
    if wanted is None:
        if not containers:
            raise PermanentActionError(f"set_env: {target.key} has no containers")
        container = containers[0]
    else:
        found = [c for c in containers if c.get("name") == wanted]
        if not found:
            names = ", ".join(str(c.get("name")) for c in containers) or "none"
            raise PermanentActionError(
                f"set_env: container {wanted!r} not found in {target.key} (containers: {names})"
            )
        container = found[0]
    cname = str(container.get("name"))
    existing = next((e for e in container.get("env") or [] if e.get("name") == name), None)
    entry: dict[str, Any] = {"name": name, "value": value}
    before: Any = None
    if existing is not None:
        if "valueFrom" in existing:
            before = {"valueFrom": existing["valueFrom"]}
            entry["valueFrom"] = None  # SMP null deletes it: a var cannot have both value and valueFrom.
        else:
            before = existing.get("value", "")
            if before == value:
                raise NotApplicableError(f"{name} already {value!r}")
    body = {"spec": {"template": {"spec": {"containers": [{"name": cname, "env": [entry]}]}}}}
    change = Change(path=f"spec.template.spec.containers[{cname}].env[{name}]", before=before, after=value)
    was = f", was {before!r}" if isinstance(before, str) else ""
    what = f"{name}={value!r} on {target.key} (container {cname}{was})"

    written: dict[str, Any] = {}

    async def apply() -> tuple[tuple[Change, ...], str]:
        written.update(await kube.patch_workload(target, body, STRATEGIC_MERGE))
        return (change,), f"set {what}"

    return Prepared(
        changes=(change,),
        planned=f"would set {what}",
        apply=apply,
        uid=uid_of(obj),
        own="mitigation",
        written=written,
    )
