"""Receivers: one module per alert source. Each validates a payload and turns it into `model.Alert`s.

Validation runs on the request path (bad input gets its 4xx before anything is
journaled); normalizing runs again off the request path, from the journal.
"""

from remediator.receivers.errors import PayloadError

__all__ = ["PayloadError"]
