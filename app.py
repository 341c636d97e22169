"""WSGI entry point: ``flask --app app run`` in development, ``gunicorn app:app`` in production.

A configuration problem (a missing setting, no database yet) stops the start with one line
saying what to do, not a traceback."""

import sys

from bti.config import ConfigError
from bti.web import create_app

try:
    app = create_app()
except ConfigError as err:
    print(f"bti: {err}", file=sys.stderr)
    raise SystemExit(1) from None
