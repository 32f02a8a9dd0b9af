"""``uvicorn virtumancer_server.asgi:app``: the app, configured as ``virtumancer serve`` is.

The environment, then the config file named by ``VIRTUMANCER_SERVE_CONFIG``, then the
defaults (see docs/configuration.md); a bad file stops uvicorn with the message, exit code 2.
"""

import sys

from virtumancer_server.app import create_app
from virtumancer_server.cli import EXIT_USAGE, asgi_config

try:
    _config = asgi_config()
except ValueError as exc:
    print(f"virtumancer: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USAGE) from None

app = create_app(_config)
