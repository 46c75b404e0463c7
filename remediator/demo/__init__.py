"""`remediator demo`: the first five minutes, with no Kubernetes cluster needed.

Starts the daemon in-process against the in-process fake cluster (remediator.testing) seeded with a
small shop, fires sample incidents from the runbooks through the Alertmanager webhook, and prints
what was decided, what changed in the cluster, what was verified and who was paged. Then it keeps
serving until Ctrl-C; `--once` exits instead, 0 only if every expected step happened.
"""

from remediator.demo.runner import DemoError, DemoOptions, default_rules, run

__all__ = ["DemoError", "DemoOptions", "default_rules", "run"]
