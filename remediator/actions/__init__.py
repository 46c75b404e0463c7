"""Actions, the stage after the guards: apply a decision to the cluster (or plan it, in dry-run).

`runner.ActionRunner` is the executor: it runs an acting decision's actions off the decision
path, journals the outcome, then hands on to verification and escalation through the protocols
in `protocols.py`. `kube/` holds the Kubernetes actions (over the transport in `remediator.kube`);
`retry` the tenacity policy the runner wraps them in.
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
