"""The Application: owns every resource and wires the pipeline (application.py).

`open_app` opens everything in the pipeline's order and yields the `Application`; `resources.py`
builds what it opens (tokens, rules, journal, mode, outside services) and `guard_chain.py` the
guard chain from the journal's history. The only package that names implementations
(`SqliteJournal`, the Kubernetes client): every other package takes protocols.
"""

from remediator.app.application import NORMALIZERS, Application, open_app

__all__ = ["NORMALIZERS", "Application", "open_app"]
