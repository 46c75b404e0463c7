"""Which ReplicaSet revisions of a Deployment remediator made itself, and which were deploys.

remediator journals the fingerprint of every pod template it writes (`store/revisions.py`); a
ReplicaSet whose template (less the controller's `pod-template-hash` label) has one of those
fingerprints is remediator's own revision. A template is compared, not a stamp: an annotation
remediator put on the Deployment or its template is carried into the next deploy's template by
`kubectl apply` and `helm upgrade` (they keep fields they did not set), so a stamp would mark the
human's deploy as remediator's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from remediator.actions.kube.fields import get
from remediator.actions.kube.kubectl import revision, without_hash
from remediator.store.revisions import OwnRevision


def template_fingerprint(template: Mapping[str, Any]) -> str:
    """sha256 of the pod template's canonical JSON, without the `pod-template-hash` label."""
    canonical = json.dumps(without_hash(template), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Revision:
    number: int
    replica_set: dict[str, Any]
    own: OwnRevision | None
    """The journal's record when remediator wrote this template, else None (a deploy)."""

    @property
    def is_mitigation(self) -> bool:
        return self.own is not None and self.own.kind == "mitigation"


def classify(replica_sets: Iterable[dict[str, Any]], own: Iterable[OwnRevision]) -> list[Revision]:
    """The rollout history, oldest revision first, each marked remediator's or a deploy."""
    mine = {r.template: r for r in own}  # the newest record of a template wins
    return sorted(
        (
            Revision(
                number=revision(rs),
                replica_set=rs,
                own=mine.get(template_fingerprint(get(rs, "spec", "template") or {})),
            )
            for rs in replica_sets
        ),
        key=lambda r: r.number,
    )


def newest_deploy(history: list[Revision]) -> Revision | None:
    """The newest revision remediator did not make: what `only_if_rolled_out_within` judges."""
    return next((r for r in reversed(history) if r.own is None), None)
