"""The ASGI entry point for gunicorn: `gunicorn -c python:gatehouse.gunicorn_conf gatehouse.asgi:app`."""

from .config import load_settings
from .logs import setup_logging
from .web.app import create_app

settings = load_settings()
setup_logging(settings.log_level, settings.log_format, settings.log_file)
app = create_app(settings)
