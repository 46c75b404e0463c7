"""Test doubles that are product code: used by the test suite and by `remediator test`.

`FakeKubeServer` is a stateful fake Kubernetes API server spoken to through the real
kubernetes_asyncio client, so remediation actions are checked on the wire.
"""

from remediator.testing.fake_kube import FakeKubeServer, Fault, RecordedRequest

__all__ = ["FakeKubeServer", "Fault", "RecordedRequest"]
