"""The WSGI entry point: `gunicorn flaskou.wsgi:app`."""

from __future__ import annotations

import sys

from flaskou import ConfigError, create_app

try:
    app = create_app()
except ConfigError as error:
    sys.stderr.write(f"flaskou: configuration error: {error}\n")
    raise SystemExit(3) from None
