"""remediator: alert-driven auto-remediation that never makes an incident worse."""

__version__ = "0.1.0"
