"""Actions, the stage after the guards: apply a decision to the cluster (or plan it, in dry-run).

`kube` holds the Kubernetes actions (the only module importing kubernetes_asyncio); `retry` the tenacity
policy the engine wraps them in. `app.py` opens the client with `open_kube` and injects it.
"""

from remediator.actions.kube import KubeActions, RolloutStatus, open_kube, static_plan
from remediator.actions.retry import RetryPolicy, attempts_of, call_with_retries

__all__ = [
    "KubeActions",
    "RetryPolicy",
    "RolloutStatus",
    "attempts_of",
    "call_with_retries",
    "open_kube",
    "static_plan",
]
