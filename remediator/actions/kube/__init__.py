"""The Kubernetes actions: rollout_restart, rollout_undo, scale, set_env, delete_pod.

`cluster.KubeActions` plans and executes them on one cluster (`open_kube` opens it through the
transport, `remediator.kube`); one module per action (restart, undo, scale, env, pods) prepares
its writes from fresh state (plan.py). Pure helpers, testable with literals: `diff` (the audit
trail's diffs), `kubectl` (kubectl's rules on workload JSON), `rollout` (rollout status),
`static_plan` (the plan when no cluster is reachable), `fields` and `times` (JSON and time formats).
"""

from remediator.actions.kube.cluster import KubeActions, open_kube
from remediator.actions.kube.rollout import RolloutStatus
from remediator.actions.kube.static_plan import static_plan

__all__ = ["KubeActions", "RolloutStatus", "open_kube", "static_plan"]
