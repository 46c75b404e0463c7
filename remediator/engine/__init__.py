"""The engine: from journaled payloads to recorded decisions.

It normalizes each accepted payload, matches the alerts against the rule index,
runs the guard chain for each (alert, rule, target), records everything in one
journal transaction per batch, and hands acting decisions to the executor. It
defines the protocols (Guard, Executor) that the layers below `app` implement.
"""

from remediator.engine.decide import Decider
from remediator.engine.processor import Processor
from remediator.engine.protocols import Executor, Guard, Proposal, Verdict

__all__ = ["Decider", "Executor", "Guard", "Processor", "Proposal", "Verdict"]
