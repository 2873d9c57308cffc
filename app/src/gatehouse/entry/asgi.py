"""The ASGI entry point for gunicorn: `gunicorn -c python:gatehouse.entry.gunicorn_conf gatehouse.entry.asgi:app`."""

import gc

from gatehouse.runtime.logs import setup_logging
from gatehouse.settings import load_settings
from gatehouse.web.app import create_app

settings = load_settings()
setup_logging(settings.log_level, settings.log_format, settings.log_file)
app = create_app(settings)

# Everything imported and built so far lives as long as the worker. Frozen
# out of the collector's sight, it is no longer traversed by every full
# collection: those took 65-75 ms of a worker's event loop (the p99 of the
# token endpoint) when they walked the ~100 MiB of modules and objects.
gc.freeze()
