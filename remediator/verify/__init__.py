"""Verify: after acting, did it work? Bounded waits for the rollout and the alert's resolution.

The executor (actions/runner.py) calls `Verifier.verify` through the protocol it declares;
`app.py` wires it in. A fix not verified in time counts as a failure.
"""

from remediator.verify.verifier import Verifier

__all__ = ["Verifier"]
