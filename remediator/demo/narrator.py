"""The demo's voice: what was decided, what changed in the cluster, what was verified, who was paged.

Events come from the incident timelines, the read model the console and `GET /api/v1/incidents/{id}/
timeline` use, so what the demo prints is what an on-call human will find afterwards. Times are
shown relative to the first incident (`+6m05s`); they are simulated time while incidents play out.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from remediator.override.evidence_markdown import evidence_summary

_RESET = "\033[0m"
_STYLES = {
    "bold": "\033[1m",
    "dim": "\033[2m",
    "red": "\033[31m",
    "green": "\033[32m",
    "yellow": "\033[33m",
    "cyan": "\033[36m",
}
_OUTCOME_STYLE = {"act": "green", "needs_approval": "yellow", "dry_run": "cyan"}
_EXECUTION_STYLE = {"succeeded": "green", "failed": "red", "interrupted": "red", "running": "cyan"}


class Narrator:
    def __init__(self, out: TextIO, *, color: bool, width: int | None = None) -> None:
        """`width`: wrap long lines to it with a hanging indent (a terminal); None: one line per event
        (a pipe or a log file, where grep wants whole lines)."""
        self._out = out
        self._color = color
        self._width = width
        self.start: datetime | None = None
        """Time zero of the story: when the first incident fired."""

    def style(self, text: str, *names: str) -> str:
        if not self._color or not names:
            return text
        return "".join(_STYLES[n] for n in names) + text + _RESET

    def say(self, text: str = "", *styles: str) -> None:
        print(self.style(text, *styles), file=self._out, flush=True)

    def heading(self, text: str) -> None:
        self.say()
        self.say(f"== {text}", "bold")

    def _elapsed(self, at: str | None) -> str:
        if at is None or self.start is None:
            return ""
        seconds = max(0, round((datetime.fromisoformat(at) - self.start).total_seconds()))
        minutes, secs = divmod(seconds, 60)
        return f"+{minutes}m{secs:02d}s"

    def _row(self, at: str | None, verb: str, text: str, *styles: str) -> None:
        head = f"  {self._elapsed(at):>8}  {verb:<10}"
        if self._width is None:
            self.say(head + self.style(text, *styles))
            return
        body = textwrap.wrap(text, width=max(self._width - len(head), 30), break_on_hyphens=False) or [""]
        self.say(head + self.style(body[0], *styles))
        for more in body[1:]:
            self.say(" " * len(head) + self.style(more, *styles))

    def event(self, where: str, e: dict[str, Any]) -> None:
        """One timeline event of the incident on `where` (namespace/deployment)."""
        kind = e["type"]
        if kind == "alert":
            if e["status"] == "firing":
                self._row(e["at"], "firing", f"{where}: {e.get('summary') or ''}", "bold")
            else:
                self._row(e["at"], "resolved", f"{where}: the alert resolved", "green")
        elif kind == "decision":
            outcome = e["outcome"]
            if outcome == "resolved":
                return  # "a firing rule does not act on a resolved alert": the alert's line says enough
            style = _OUTCOME_STYLE.get(outcome, "dim")
            self._row(e["at"], "decided", f"{e['rule']} -> {outcome}: {e['reason']}", style)
        elif kind == "execution":
            self._execution(e)
        elif kind == "escalation":
            style = "yellow" if e["status"] in ("accepted", "sent") else "red"
            what = f"{e['dest']} ({e['kind']}) -> {e['status']}: {e.get('summary') or e.get('error') or ''}"
            self._row(e["at"], "escalated", what, style)
        elif kind == "evidence":
            self._row(
                e["at"], "evidence", f"{e['moment']}: {evidence_summary(e.get('evidence') or {})}", "dim"
            )

    def _execution(self, e: dict[str, Any]) -> None:
        status = e["status"]
        what = f"{'+'.join(e['actions'])} on {e['target']} (execution #{e['execution_id']})"
        style = _EXECUTION_STYLE.get(status, "dim")
        if status == "running":
            self._row(e["at"], "acting", f"{what}: applied, verifying", style)
        elif status == "succeeded":
            self._row(
                e["at"],
                "verified" if "verified" in (e.get("summary") or "") else "done",
                f"{what}: {e.get('summary') or 'succeeded'}",
                style,
            )
        elif status == "failed":
            self._row(e["at"], "FAILED", f"{what}: {e.get('error') or 'failed'}", style)
        else:
            detail = e.get("summary") or e.get("error") or ""
            self._row(e["at"], status, f"{what}" + (f": {detail}" if detail else ""), style)

    def cluster(self, lines: Sequence[str]) -> None:
        """A kubectl-like diff of what changed in the cluster."""
        if not lines:
            return
        self.say(f"  {'':>8}  {'cluster':<10}" + self.style("kubectl diff:", "bold"))
        for line in lines:
            style: tuple[str, ...] = ()
            if line.startswith(("+++", "---")):
                style = ("bold",)
            elif line.startswith("+"):
                style = ("green",)
            elif line.startswith("-"):
                style = ("red",)
            elif line.startswith("@@"):
                style = ("cyan",)
            elif line.startswith("pod/"):
                style = ("yellow",)
            self.say(" " * 24 + self.style(line, *style))
