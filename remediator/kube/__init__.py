"""The Kubernetes transport: the only package that imports kubernetes_asyncio.

`connect.open_client` loads the configuration (in-cluster, kubeconfig, or none) and yields a
`KubeClient`, or None when no cluster is reachable (the daemon then runs every action as a
dry-run). `client.KubeClient` makes each API call under a timeout and returns the server's JSON;
`errors` maps a failed call to what the caller should do (`TransientActionError`: retry;
`PermanentActionError`: escalate). The actions (actions/kube/) build on it and know nothing of
the client library.
"""

from remediator.kube.client import KubeClient, Op
from remediator.kube.connect import open_client

__all__ = ["KubeClient", "Op", "open_client"]
