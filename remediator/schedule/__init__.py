"""Schedule: the one loop that runs time-based work from the journal's timers.

`Scheduler` claims due timers and runs the handler each kind registered (escalation ladders,
incident updates, the watch, approvals, deferred decisions). Handlers live in the stages that own
the work and are registered by `app.py`; this package knows only the journal's `TimerStore`.
"""

from remediator.schedule.scheduler import Fired, Scheduler, TimerHandler, worker_id

__all__ = ["Fired", "Scheduler", "TimerHandler", "worker_id"]
