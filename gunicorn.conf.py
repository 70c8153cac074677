"""gunicorn settings for flaskou (read from the working directory by default).

Every value can be changed through the environment without editing this file.
"""

import multiprocessing
import os
import shutil
import sys
import tempfile

bind = os.environ.get("BIND", "0.0.0.0:5000")
# gevent workers: every connection is a greenlet, so a client that sends its
# request slowly (or not at all) holds a few KiB of memory, never a thread the
# next request needs. A thread pool (gthread) is used up by as many trickling
# clients as it has threads. The worker monkey-patches the standard library,
# so psycopg, redis and boto3 wait on sockets cooperatively. What still holds
# the whole process: argon2 hashing (tens of ms per login; see README) and
# SQLite calls.
# flaskou's subclass of gunicorn's gevent worker: the same worker, except that
# the requests gunicorn refuses itself (request line or headers over its
# limits, unparseable headers, unknown methods or transfer codings) get a
# problem+json answer like every flaskou error, not gunicorn's HTML page.
worker_class = "flaskou.serving.ProblemGeventWorker"
# Processes, for the CPU-bound parts (argon2) and for a worker that is busy.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
# Simultaneous connections per worker; past this the worker stops accepting
# and the kernel queues them (up to `backlog`).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# With gevent this is not a request timeout: it is how long a worker may go
# without its heartbeat (the event loop blocked by one request's CPU work or a
# blocking call) before the master kills it, and every request it was serving.
# Long uploads are fine: while bytes flow, the loop is not blocked.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM (a deploy, `docker stop`), requests under way get this long to
# finish; then they are cut. compose.yaml's stop_grace_period must exceed it.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Seconds an idle keep-alive connection stays open, and, with gevent, also the
# time a client has to send a whole request head: a client that trickles
# header lines is disconnected after this long. Above nginx's upstream
# keepalive_timeout (docker/nginx.conf), so nginx never reuses a connection
# gunicorn is closing.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# flaskou writes its own access log: one JSON line per request on stdout,
# with the request id and user id. Set GUNICORN_ACCESS_LOG=- for gunicorn's too.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
# Path only (%(U)s), never the query string (%(r)s, %(q)s): a client that puts
# a secret in a URL must not have it written to the log. No Referer either
# (it is a URL with a query string of its own).
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s" %({x-request-id}i)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Which peers may set X-Forwarded-Proto for gunicorn itself (flaskou's own
# proxy handling is PROXY_COUNT).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's control socket (for `gunicornc`) lives at one fixed path per
# user by default, so a second instance on the host would take it from the
# first. Off, unless GUNICORN_CONTROL_SOCKET names a path for this instance.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

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


def worker_int(worker):
    # SIGINT (Ctrl-C on `make run`) or SIGQUIT: stop now. gevent's worker
    # would exit from a greenlet a moment later, racing the interpreter's own
    # shutdown and printing a SystemExit traceback; leave at once, quietly.
    # (Connections under way are dropped either way; SIGTERM is the graceful stop.)
    from flaskou.observability import flush_metrics

    flush_metrics()  # the requests counted since the last flush (os._exit skips atexit)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
