"""The library's loggers, each under ``virtumancer`` with the ``NullHandler`` a library adds.

Modules that log take their logger here rather than from :mod:`logging` directly, so that the
package root need not import :mod:`logging` (and its ``traceback``/``textwrap`` imports) for a
one-shot script that never logs (issue 11, cold start), while a record the library does emit
still never reaches Python's last-resort stderr handler unless the application configured one.
"""

from __future__ import annotations

import logging

__all__ = ["get_logger"]

logging.getLogger("virtumancer").addHandler(logging.NullHandler())


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``name`` (a ``virtumancer.*`` module name)."""
    return logging.getLogger(name)
