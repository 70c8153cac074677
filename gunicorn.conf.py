"""gunicorn settings for flaskou (read from the working directory by default).

Every value can be changed through the environment without editing this file.
"""

import multiprocessing
import os

bind = os.environ.get("BIND", "0.0.0.0:5000")
# Threads let one worker serve other requests while it streams an upload or
# hashes a password (argon2 releases the GIL).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Uploads of large files over slow links take a while; keep-alive for proxies.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "300"))
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
