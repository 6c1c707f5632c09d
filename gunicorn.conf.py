"""gunicorn settings for `gunicorn main_run:app` (read from the working directory).

Threads do the waiting on Fabman; a worker takes no more connections than it
has threads, so a request never queues inside a busy worker while another is
idle (with Fabman hanging, that queueing pushed webhook answers past their
budget in the reliability run). Command-line options override these.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
worker_connections = threads
timeout = 60
graceful_timeout = 20
# gunicorn writes no access log unless asked (--access-logfile); when it does, each line names the path
# without its query string, which can carry a secret (a sign-in link's or Fabman's webhook token).
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


def worker_exit(server, worker):
    """On SIGTERM (or any worker exit): stop the jobs, finish or give back accepted results, send due mail."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    bridge = extensions.get("fablab_bridge")
    if bridge is not None:
        bridge.shutdown()
