"""gunicorn settings from the environment (SERVER_HOST, SERVER_PORT, WEB_CONCURRENCY, METRICS_PORT).

The master serves the summed metrics of every worker on METRICS_PORT;
workers write theirs to PROMETHEUS_MULTIPROC_DIR, which is emptied at
start so counters of a previous run do not linger.
"""

import os
import shutil
import tempfile

from gatehouse.settings import load_settings

_settings = load_settings()

bind = f"{_settings.server_host}:{_settings.server_port}"
workers = _settings.web_concurrency
worker_class = "uvicorn.workers.UvicornWorker"
# Preloading imports the app once in the master, so workers share memory
# pages and start fast; database and Redis connections open lazily in each
# worker, after the fork.
preload_app = True
graceful_timeout = 20
timeout = 30
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "gatehouse"
# The app reads X-Forwarded-For itself (web.common.client_ip: only from the
# peers in FORWARDED_ALLOW_IPS, and only the hop they appended). The
# server's own reading would trust loopback by default, take the right-most
# *untrusted* hop (a client-written one when the proxy's client is a proxy
# address) and hide the connection's peer from the app: trust no peer here.
# (gunicorn and uvicorn would otherwise take FORWARDED_ALLOW_IPS from the
# environment.)
forwarded_allow_ips = ""

if _settings.metrics_enabled and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gatehouse-metrics-")
elif os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # prometheus-client opens its files there as the app is preloaded, before on_starting.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], mode=0o750, exist_ok=True)


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def when_ready(server):
    if _settings.metrics_enabled:
        from gatehouse.runtime.metrics import start_server

        start_server(_settings.metrics_port, _settings.metrics_host)


def post_fork(server, worker):
    # Connections must not be shared across the fork.
    from gatehouse.store.database import database

    if database.obj is not None and not database.is_closed():
        database.close()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
