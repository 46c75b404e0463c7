"""set_image: `kubectl set image` on one container (a hotfix); the rollout is then verified as usual."""

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
from remediator.rules.steps import image_problem


async def prepare_set_image(
    params: Mapping[str, Any], target: Target, *, kube: KubeClient, clock: Clock
) -> Prepared:
    """A strategic merge patch of one container's image, merged by container name.

    The reference was validated when the rule rendered it; it is checked again here because this is
    the last step before the API server. Without `container`, the workload must have exactly one:
    guessing which of several containers gets a hotfix is not a guess to make at 3 a.m.
    """
    image = str(params.get("image") or "")
    if problem := image_problem(image):
        raise PermanentActionError(f"set_image: {problem}")
    wanted = params.get("container")
    obj = await kube.read_workload(target)
    containers: list[dict[str, Any]] = get(obj, "spec", "template", "spec", "containers") or []
    names = [str(c.get("name")) for c in containers]
    if wanted is None:
        if len(containers) != 1:
            raise PermanentActionError(
                f"set_image: {target.key} has {len(containers)} containers ({', '.join(names) or 'none'}): "
                "name the one to change with 'container'"
            )
        container = containers[0]
    else:
        found = [c for c in containers if c.get("name") == wanted]
        if not found:
            raise PermanentActionError(
                f"set_image: container {wanted!r} not found in {target.key} (containers: {', '.join(names)})"
            )
        container = found[0]
    cname = str(container.get("name"))
    before = container.get("image")
    if before == image:
        raise NotApplicableError(f"container {cname} already runs {image}")
    body = {"spec": {"template": {"spec": {"containers": [{"name": cname, "image": image}]}}}}
    change = Change(path=f"spec.template.spec.containers[{cname}].image", before=before, after=image)
    paused = " (the rollout is paused: it rolls when resumed)" if get(obj, "spec", "paused") else ""
    what = f"image of {target.key} container {cname}: {before} -> {image}{paused}"

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
