"""Work the bridge does in its own worker processes, beside serving requests.

:class:`Applier` applies the results the webhook accepted, in a small bounded
pool per process; :class:`JobRunner` runs the scheduled jobs (retry, expiry
sweep, reconciliation, digest), coordinated through the store so no two
workers or instances run one job at once; :class:`OutboxSender` is the one
sender of queued mail, alerts and sign-in links, woken when some are queued.
"""

from bridge.background.applier import Applier
from bridge.background.jobs import Job, JobRunner
from bridge.background.sender import OutboxSender

__all__ = ["Applier", "Job", "JobRunner", "OutboxSender"]
