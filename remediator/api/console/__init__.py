"""The on-call console at /ui/: server-rendered pages for humans, on the API's read model and
override service.

Now (mode, pauses, open incidents, deferred work, breakers), an incident (timeline with decisions,
reasons, diffs, evidence, escalations; the postmortem draft), pending approvals (what would change,
approve or reject), recent decisions (by rule, outcome, target), controls (pause, resume, dry-run)
and the audit trail. A login with an API token opens a server-side session (cookie: HttpOnly,
SameSite=Strict, Secure over TLS); every form carries a CSRF token. No build step: HTML from
Python (html.py escapes everything), one stylesheet, a few lines of optional JavaScript.
"""

from remediator.api.console.routes import add_console_routes

__all__ = ["add_console_routes"]
