"""gunicorn settings for flaskou (read from the working directory by default).

Every value can be changed through the environment without editing this file.
"""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("BIND", "0.0.0.0:5000")
# Threads let one worker serve other requests while it streams an upload or
# hashes a password (argon2 releases the GIL).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Uploads of large files over slow links take a while.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
# flaskou writes its own access log: one JSON line per request on stdout,
# with the request id and user id. Set GUNICORN_ACCESS_LOG=- for gunicorn's too.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Which peers may set X-Forwarded-Proto for gunicorn itself (flaskou's own
# proxy handling is PROXY_COUNT).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Prometheus metrics from every worker process, added up at /metrics.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="flaskou-metrics-")
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server):
    # Samples of a previous run must not be added to this one.
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
